"""The SNMP poller's transport: its clients, their UDP sockets, one request to a target.

:class:`SnmpClients` owns one SNMPv2c client (:mod:`netwatch.probes.snmp_v2c`, SNMPv1 too),
one SNMPv3 client (:mod:`netwatch.probes.snmp_v3_client`) and a v1 client kept apart to ask a silent
agent whether it speaks only SNMPv1; the clients open one UDP socket per address family, with a
large receive buffer. It sends one GET, GETNEXT or GETBULK of numeric OIDs and hands back the
reply's varbinds; anything that went wrong is raised as
:class:`~netwatch.probes.snmp_errors.RequestFailed` for the poller to translate. It also
counts, per polled address, the datagrams that were not SNMP at all, and sums the datagrams
its clients dropped because they answered no pending request.

Its log lines keep the poller's logger name, ``netwatch.probes.snmp``, as before the split.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import ipaddress
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from netwatch.models import FailureKind, SnmpSettings
from netwatch.probes import snmp_oids as oids
from netwatch.probes import snmp_v2c as v2c
from netwatch.probes import snmp_v3_client as v3
from netwatch.probes.snmp_errors import ErrorStatus, Refused, RequestFailed, V3Silent

log = logging.getLogger("netwatch.probes.snmp")

# 8 MiB: with the kernel default (208 KiB) replies to 50+ concurrent GETBULKs are dropped.
RCVBUF_BYTES: Final = 8 * 1024 * 1024
GET_NEXT: Final = 0xA1  # GetNextRequest-PDU (RFC 3416), for agents whose GETBULK answers nothing

Varbinds = list[tuple[Any, Any]]


@dataclass(frozen=True, slots=True)
class Target:
    """Where one device's requests go, and as whom (SNMPv3 only)."""

    address: tuple[str, int]
    family: int = socket.AF_INET
    credentials: v3.Credentials | None = None  # SNMPv3 only


class SnmpClients:
    """The SNMP clients of one poller and their sockets; bound to the event loop of their
    first request.

    >>> clients = SnmpClients()  # doctest: +SKIP
    >>> target = await clients.target("10.10.0.1", settings)  # doctest: +SKIP
    >>> await clients.get_scalars(target, [oids.SYS_NAME], settings)  # doctest: +SKIP
    {(1, 3, 6, 1, 2, 1, 1, 5, 0): b'core-rtr'}
    """

    def __init__(self) -> None:
        self._sockets: list[socket.socket] = []
        # Datagrams per polled (host, port) that were not SNMP at all. Only the addresses
        # netwatch polls are counted, so strangers cannot grow the counter.
        self._junk: collections.Counter[tuple[str, int]] = collections.Counter()
        self._peers: set[tuple[str, int]] = set()
        self._v2c = v2c.V2cClient(self._open_socket, self._junk, self._peers)
        # Its own socket and no junk accounting: what a broken agent sends back to this
        # question must not turn a v2c poll's timeout into a protocol failure (see answers_v1).
        self._v1_probe = v2c.V2cClient(self._open_socket, collections.Counter(), set())
        self._v3 = v3.V3Client(self._open_socket, self._junk, self._peers)

    @property
    def receive_buffer_bytes(self) -> int:
        """The kernel's receive buffer of the IPv4 socket (0 before the first request)."""
        for sock in self._sockets:
            if sock.family == socket.AF_INET and sock.fileno() >= 0:
                return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        return 0

    @property
    def dropped(self) -> int:
        """Datagrams the clients dropped since they were made: replies that came late (after
        a retry was answered, or after the request gave up), answers to no request of ours,
        and datagrams from addresses not polled."""
        return self._v2c.dropped + self._v1_probe.dropped + self._v3.dropped

    def junk(self, source: tuple[str, int]) -> int:
        """Datagrams from ``source`` that were not SNMP; counted from this first call on."""
        self._peers.add(source)
        return self._junk[source]

    def close(self) -> None:
        self._v2c.close()
        self._v1_probe.close()
        self._v3.close()
        for sock in self._sockets:
            sock.close()

    async def target(self, address: str, settings: SnmpSettings) -> Target:
        """``address`` resolved, with the device's v3 credentials; settings that cannot be
        polled are a :class:`RequestFailed`."""
        host, family = await _resolve(address)
        if settings.version == "3":
            if not settings.user:
                raise RequestFailed(Refused(FailureKind.ERROR, "no SNMPv3 user configured"))
            return Target((host, settings.port), family, _credentials(settings))
        if settings.community is None:
            raise RequestFailed(Refused(FailureKind.ERROR, "no community configured"))
        return Target((host, settings.port), family)

    async def get_scalars(
        self, target: Target, wanted: Sequence[tuple[int, ...]], settings: SnmpSettings
    ) -> dict[tuple[int, ...], Any]:
        """One GET of ``wanted``: the values by OID."""
        asked = list(wanted)
        while True:
            try:
                varbinds = await self.request(target, settings, asked, pdu=v2c.GET)
            except RequestFailed as exc:
                # SNMPv1 has no noSuchObject value: the agent answers the whole GET with
                # noSuchName and the index of the first object it lacks. Ask again without it.
                error = exc.error
                if not (
                    settings.version == "1"
                    and isinstance(error, ErrorStatus)
                    and error.status == 2
                    and 1 <= error.index <= len(asked)
                    and len(asked) > 1
                ):
                    raise
                del asked[error.index - 1]
                continue
            return {tuple(oid): value for oid, value in varbinds}

    async def request(
        self,
        target: Target,
        settings: SnmpSettings,
        request: list[tuple[int, ...]],
        *,
        pdu: int,
        reps: int = 0,
    ) -> Varbinds:
        """One GET, GETNEXT or GETBULK (``pdu``: ``v2c.GET``, :data:`GET_NEXT`,
        ``v2c.GET_BULK``) of ``request``; the reply's varbinds, or :class:`RequestFailed`."""
        if settings.version != "3":  # community-based
            return await self._request_v2c(target, settings, request, pdu=pdu, reps=reps)
        assert target.credentials is not None  # set by target() for v3
        try:
            reply = await self._v3.request(
                target.address, target.family, target.credentials, pdu, request,
                repetitions=reps, per_try=settings.timeout, retries=settings.retries,
            )  # fmt: skip
        except TimeoutError as exc:
            known = self._v3.engine(target.address) is not None
            raise RequestFailed(V3Silent() if known else exc) from exc
        except (OSError, ValueError, v3.UsmError) as exc:
            raise RequestFailed(exc) from exc
        return _checked(reply)

    async def _request_v2c(
        self,
        target: Target,
        settings: SnmpSettings,
        request: list[tuple[int, ...]],
        *,
        pdu: int,
        reps: int,
    ) -> Varbinds:
        assert settings.community is not None  # checked in target()
        ask = functools.partial(
            self._v2c.request,
            (target.address[0], target.address[1]),
            target.family,
            settings.community.reveal().encode(),
            pdu,
            request,
            repetitions=reps,
            per_try=settings.timeout,
            retries=settings.retries,
        )
        try:
            reply = await (ask(version=v2c.VERSION_1) if settings.version == "1" else ask())
        except (OSError, ValueError) as exc:  # TimeoutError is an OSError
            raise RequestFailed(exc) from exc
        return _checked(reply)

    async def answers_v1(self, target: Target, settings: SnmpSettings) -> bool:
        """Whether the (v2c) agent at ``target`` answers one SNMPv1 GET, in a single try."""
        assert settings.community is not None  # a v2c target has one
        try:
            await self._v1_probe.request(
                (str(target.address[0]), int(target.address[1])),
                target.family,
                settings.community.reveal().encode(),
                v2c.GET,
                [oids.SYS_UPTIME],
                repetitions=0,
                per_try=settings.timeout,
                retries=0,
                version=v2c.VERSION_1,
            )
        except (OSError, ValueError):  # TimeoutError, or a reply that does not decode
            return False
        return True

    def _open_socket(self, family: int) -> socket.socket:
        """A UDP socket of ``family`` with a large receive buffer, bound to any port."""
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            raise_rcvbuf(sock)
            sock.setblocking(False)
            sock.bind(("0.0.0.0", 0) if family == socket.AF_INET else ("::", 0))
        except BaseException:
            sock.close()
            raise
        self._sockets.append(sock)
        return sock


def _checked(reply: v2c.Message) -> Varbinds:
    if reply.error_status:
        raise RequestFailed(ErrorStatus(reply.error_status, reply.error_index))
    if any(value is v2c.NULL for _oid, value in reply.varbinds):
        raise RequestFailed("NULL values: a reflected request or a broken agent")
    return reply.varbinds


async def _resolve(address: str) -> tuple[str, int]:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        pass
    else:
        return str(ip), socket.AF_INET if ip.version == 4 else socket.AF_INET6
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            address, None, type=socket.SOCK_DGRAM, proto=socket.IPPROTO_UDP
        )
    except socket.gaierror as exc:
        raise RequestFailed(exc) from exc
    family, _type, _proto, _name, sockaddr = infos[0]
    return str(sockaddr[0]), int(family)


def raise_rcvbuf(sock: socket.socket) -> None:
    """Give ``sock`` a receive buffer of :data:`RCVBUF_BYTES`, or log that it cannot."""
    # SO_RCVBUFFORCE (root / CAP_NET_ADMIN) ignores net.core.rmem_max; SO_RCVBUF is capped by it.
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    if force is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, RCVBUF_BYTES)
            return
        except OSError:
            pass
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
    except OSError:
        log.warning("snmp: cannot raise the UDP receive buffer; replies may be dropped")


def _credentials(settings: SnmpSettings) -> v3.Credentials:
    """The v3 client's view of a device's user (the secrets revealed only into it)."""
    auth = settings.auth_protocol if settings.auth_password else None
    priv = settings.priv_protocol if auth and settings.priv_password else None
    return v3.Credentials(
        (settings.user or "").encode(),
        auth,
        settings.auth_password.reveal().encode() if auth and settings.auth_password else None,
        priv,
        settings.priv_password.reveal().encode() if priv and settings.priv_password else None,
        settings.context.encode(),
    )
