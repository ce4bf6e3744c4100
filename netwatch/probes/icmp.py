"""The ICMP probe: ``count`` echo requests to a device, as one :class:`~netwatch.models.Sample`.

One :class:`IcmpProber` per process holds one ICMP socket per address family, shared by every
ping (see :mod:`netwatch.probes.icmp_socket` for why not icmplib's own ``async_multiping``: a raw
socket per request made its cost grow with the square of the targets and lost replies).
Whether this machine lets us ping at all is found out once, by :func:`detect_icmp_mode`.

>>> async def main():  # doctest: +SKIP
...     prober = IcmpProber(detect_icmp_mode())
...     sample = await prober.ping("core-rtr", "127.0.0.1", IcmpSettings(count=3))
...     await prober.close()
...     return sample.data.received
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
import socket
import time
from collections.abc import Callable
from typing import Literal

from netwatch.errors import ProbeSetupError
from netwatch.models import CheckSpec, Failure, FailureKind, IcmpSettings, IcmpStats, Sample
from netwatch.probes.icmp_socket import EchoSocket, Mode

__all__ = ["IcmpProber", "detect_icmp_mode"]

_FIX = (
    "grant the netwatch process CAP_NET_RAW (AmbientCapabilities=CAP_NET_RAW in its systemd "
    "unit), or allow unprivileged ping with "
    'sysctl -w net.ipv4.ping_group_range="0 2147483647"'
)


def detect_icmp_mode() -> Literal["raw", "dgram"]:
    """Which kind of ICMP socket this process may open: ``"raw"`` (root or CAP_NET_RAW), else
    ``"dgram"`` (Linux unprivileged ping, allowed by ``net.ipv4.ping_group_range``).

    Raises :class:`~netwatch.errors.ProbeSetupError`, naming the fix, when neither is allowed.
    """
    errors: list[str] = []
    for mode, kind in (("raw", socket.SOCK_RAW), ("dgram", socket.SOCK_DGRAM)):
        try:
            socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP).close()
        except OSError as exc:
            errors.append(f"{mode}: {exc.strerror or exc}")
            continue
        return "raw" if mode == "raw" else "dgram"
    raise ProbeSetupError(
        f"this machine does not let netwatch send ICMP ({'; '.join(errors)}); to fix it, {_FIX}"
    )


_V4_MAPPED = bytes(10) + b"\xff\xff"  # the first 96 bits of ::ffff:a.b.c.d

# A resolved target: address family, socket address, and the address as text for messages.
_Target = tuple[int, tuple[object, ...], str]


class IcmpProber:
    """Pings devices over one shared ICMP socket per address family, opened on first use.

    One per process and event loop; ``ping`` never raises for network problems, it returns the
    failure in the sample.

    >>> async def main():  # doctest: +SKIP
    ...     prober = IcmpProber("raw")
    ...     s = await prober.ping("r1", "127.0.0.1", IcmpSettings(count=3, spacing=0.2))
    ...     await prober.close()
    ...     return s.ok, s.data.loss, s.data.rtt_avg
    """

    def __init__(
        self,
        mode: Literal["raw", "dgram"],
        *,
        resolver_ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.mode: Mode = mode
        self._resolver_ttl = resolver_ttl
        self._clock = clock
        self._wall = wall
        # One identifier for the whole process (raw sockets); a random payload token tells our
        # replies from another pinger's that happens to use the same identifier.
        self._ident = random.getrandbits(16)
        self._payload = b"netwatch" + os.urandom(8)
        self._sockets: dict[int, EchoSocket] = {}
        self._rejected_closed = 0  # the count of sockets closed already
        self._names: dict[str, tuple[float, _Target]] = {}

    @property
    def rejected(self) -> int:
        """Echo replies ignored because they came from another address than the one pinged
        (forged, or a device answering from another of its addresses); see
        :mod:`netwatch.probes.icmp_socket`."""
        return self._rejected_closed + sum(s.rejected for s in self._sockets.values())

    async def poll(self, check: CheckSpec) -> Sample[IcmpStats]:
        """The check's device pinged with its ICMP settings (the ``polling.Probe`` method)."""
        device = check.device
        assert device.icmp is not None
        return await self.ping(device.id, device.address, device.icmp)

    async def ping(self, device: str, address: str, settings: IcmpSettings) -> Sample[IcmpStats]:
        """Send ``settings.count`` echo requests ``settings.spacing`` apart (each on the tick of
        the socket's shared grid, :data:`~netwatch.models.ICMP_GRID`, nearest its due
        time), waiting up to ``settings.timeout`` for each reply (the wait is never cut short:
        it ends on the tick after). ``data.sent`` counts requests the kernel took."""
        at = self._wall()
        start = self._clock()
        cached = self._names.get(address)
        target: _Target | Failure
        if cached is not None and cached[0] > start:
            target = cached[1]  # the common case, without the cost of a coroutine
        else:
            target = await self._resolve(address)
        if isinstance(target, Failure):
            return self._sample(device, at, start, target, IcmpStats(0, ()))
        family, sockaddr, ip = target
        sock = self._socket(family)
        if isinstance(sock, Failure):
            return self._sample(device, at, start, sock, IcmpStats(0, ()))

        echoes = await sock.ping(
            sockaddr, ip, settings.count, spacing=settings.spacing, timeout=settings.timeout
        )
        rtts = tuple([o for o in echoes.outcomes if isinstance(o, float)])
        sent = echoes.sent
        failure: Failure | None = None
        if not rtts:
            failure = next((o for o in echoes.outcomes if isinstance(o, Failure)), None) or Failure(
                FailureKind.TIMEOUT,
                f"no echo reply from {_name(address, ip)} to {sent} request(s) "
                f"within {settings.timeout:g}s each",
            )
        return self._sample(device, at, start, failure, IcmpStats(sent, rtts))

    def _sample(
        self, device: str, at: float, start: float, failure: Failure | None, stats: IcmpStats
    ) -> Sample[IcmpStats]:
        duration = self._clock() - start
        return Sample(device, "icmp", at, duration, failure, stats)

    def _socket(self, family: int) -> EchoSocket | Failure:
        sock = self._sockets.get(family)
        if sock is not None:
            return sock
        try:
            sock = EchoSocket(
                family, self.mode, ident=self._ident, payload=self._payload, clock=self._clock
            )
        except OSError as exc:
            v = "IPv4" if family == socket.AF_INET else "IPv6"
            if exc.errno in (errno.EPERM, errno.EACCES):
                return Failure(FailureKind.PERMISSION, f"cannot open an {v} ICMP socket; {_FIX}")
            return Failure(FailureKind.ERROR, f"cannot open an {v} ICMP socket: {exc}")
        self._sockets[family] = sock
        return sock

    async def _resolve(self, address: str) -> _Target | Failure:
        now = self._clock()
        cached = self._names.get(address)
        if cached is not None and cached[0] > now:
            return cached[1]
        target: _Target
        for family in (socket.AF_INET, socket.AF_INET6):
            try:  # inet_pton: a literal needs no resolver (and is 10x faster than ipaddress)
                ip = socket.inet_ntop(family, socket.inet_pton(family, address))
            except OSError:
                continue
            target = _literal(family, ip)
            self._names[address] = (float("inf"), target)
            return target
        # A name, or an IPv6 literal with a %scope: ask the system resolver (in a thread).
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                address, None, type=socket.SOCK_DGRAM
            )
        except (OSError, UnicodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return Failure(
                FailureKind.DNS,
                f"{address!r} did not resolve ({why}); check the name and the resolver "
                "in /etc/resolv.conf",
            )
        infos = [i for i in infos if i[0] in (socket.AF_INET, socket.AF_INET6)]
        if not infos:
            return Failure(FailureKind.DNS, f"{address!r} has no IPv4 or IPv6 address")
        family, _, _, _, resolved = infos[0]  # the resolver's preferred order (RFC 6724)
        if family == socket.AF_INET6 and str(resolved[0]).startswith("::ffff:"):
            target = _literal(socket.AF_INET6, str(resolved[0]))
        else:
            target = (int(family), tuple(resolved), str(resolved[0]))
        self._names[address] = (now + self._resolver_ttl, target)
        return target

    async def close(self) -> None:
        """Close the sockets; pings still waiting finish with an ERROR failure."""
        for sock in self._sockets.values():
            sock.close()
            self._rejected_closed += sock.rejected
        self._sockets.clear()


def _literal(family: int, ip: str) -> _Target:
    """The target for an address literal in canonical form. An IPv4-mapped IPv6 address
    (``::ffff:10.0.0.1``) is pinged over IPv4: Linux refuses ICMPv6 to it, and the reply comes
    from the IPv4 address, which is what a reply's source is checked against."""
    if family == socket.AF_INET6 and ip.startswith("::ffff:"):
        with contextlib.suppress(OSError):  # e.g. a %scope: not IPv4-mapped anyway
            packed = socket.inet_pton(socket.AF_INET6, ip)
            if packed[:12] == _V4_MAPPED:
                ip = socket.inet_ntop(socket.AF_INET, packed[12:])
                family = socket.AF_INET
    if family == socket.AF_INET:
        return (family, (ip, 0), ip)
    return (family, (ip, 0, 0, 0), ip)


def _name(address: str, ip: str) -> str:
    return address if address == ip else f"{address} ({ip})"
