"""The trap receiver: SNMP notifications from configured devices make netwatch look at once.

netwatch learns of a failure at its next poll, then confirms it over ``down_after`` rounds.
A device that sends a trap (a link down, a reboot, its UPS on battery) says something changed
now: the receiver hands its id to the daemon, which polls it at once and, for a while, retries
a failing poll sooner (see ``pipeline.TrapWatch``). A trap alone never raises an alert: the polls
still decide.

What is accepted: an SNMPv1 trap or an SNMPv2c trap or inform, with one of the communities of
the ``traps`` section, or an SNMPv3 trap or inform from one of its ``users`` (the USM checks,
engine ids and reports are :mod:`netwatch.traps_v3`'s), from the address of a configured
device (a host name is resolved when the config is loaded or reloaded). Informs are
acknowledged. Everything else is counted in
``netwatch_snmp_traps_dropped_total{reason}`` and dropped, with at most one log line per
reason a minute. The datagram handler never lets an exception out, reads a datagram of at most
:data:`MAX_DATAGRAM` bytes, and takes at most :data:`RATE` notifications a second from one
source (a burst of :data:`BURST`).

>>> log = TrapLog()
>>> rx = TrapReceiver(lambda: [b"s3cret"], {"127.0.0.1": ("rtr",)}.get, log, print)
>>> rx.received(b"junk", ("127.0.0.1", 1234))
>>> dict(log.dropped)
{'malformed': 1}
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import hmac
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from netwatch.configuration.values import parse_listen
from netwatch.models import Device, TrapSettings, TrapUser
from netwatch.probes import snmp_traps
from netwatch.probes.snmp_v2c import MalformedMessage
from netwatch.traps_v3 import Accepted, V3Receiver, load_engine_id

log = logging.getLogger(__name__)

MAX_DATAGRAM: Final = 8192  # bytes; a trap is a few hundred, RFC 3417 asks for 484 at least
RATE: Final = 20.0  # notifications a second from one source, sustained
BURST: Final = 100.0  # a switch rebooting sends coldStart and a linkUp per port at once
RECENT: Final = 20  # notifications kept per device for the device page and the API
LOG_EVERY: Final = 60.0  # seconds between two log lines about dropped datagrams of one reason
RCVBUF_BYTES: Final = 1 << 20
RESOLVE_TIMEOUT: Final = 5.0  # seconds for the host names of all devices, at load or reload
# Why a datagram was dropped (the ``reason`` label).
REASONS: Final = (
    "too_big", "unknown_source", "rate", "malformed", "version", "community", "not_notification",
    "error", "auth", "unknown_user", "level", "time_window", "unknown_engine",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TrapRecord:
    """One accepted notification, as the device page and ``/api/v1/devices/{id}`` show it."""

    at: float
    kind: str
    oid: str
    pdu: str  # trap or inform
    version: str  # 1, 2c or 3
    source: str
    uptime_seconds: float | None
    detail: str  # the first varbinds, shortened


class TrapLog:
    """Counts and the last :data:`RECENT` notifications per device; drops per reason."""

    def __init__(self) -> None:
        self.recent: dict[str, collections.deque[TrapRecord]] = {}
        self.counts: dict[str, collections.Counter[str]] = {}
        self.dropped: collections.Counter[str] = collections.Counter()

    def add(self, device: str, record: TrapRecord) -> None:
        self.recent.setdefault(device, collections.deque(maxlen=RECENT)).append(record)
        self.counts.setdefault(device, collections.Counter())[record.kind] += 1

    def of(self, device: str) -> list[TrapRecord]:
        """The device's last notifications, newest first."""
        return list(reversed(self.recent.get(device, ())))

    def counts_of(self, device: str) -> Mapping[str, int]:
        return self.counts.get(device, {})

    def keep_only(self, devices: Iterable[str]) -> None:
        """Forget what removed devices sent (a reload)."""
        keep = set(devices)
        for table in (self.recent, self.counts):
            for device in [d for d in table if d not in keep]:
                del table[device]


class DroppedCollector(Collector):
    """``netwatch_snmp_traps_dropped_total{reason}``, read at scrape time."""

    def __init__(self, log: TrapLog) -> None:
        self._log = log

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "netwatch_snmp_traps_dropped",
            "SNMP datagrams received on the trap port and dropped, by reason.",
            labels=["reason"],
        )
        for reason in REASONS:
            family.add_metric([reason], float(self._log.dropped[reason]))
        yield family


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, now: float) -> None:
        self.tokens = BURST
        self.stamp = now

    def take(self, now: float) -> bool:
        self.tokens = min(BURST, self.tokens + (now - self.stamp) * RATE)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class TrapReceiver(asyncio.DatagramProtocol):
    """The datagram handler. ``sources`` maps an address (text) to the device ids at it;
    ``on_trap`` is called with each device id a notification came for."""

    def __init__(
        self,
        communities: Callable[[], Sequence[bytes]],
        sources: Callable[[str], tuple[str, ...] | None],
        trap_log: TrapLog,
        on_trap: Callable[[str], None],
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        v3: V3Receiver | None = None,
    ) -> None:
        self._communities = communities
        self.v3 = v3  # SNMPv3 is dropped (``version``) without it
        self._sources = sources
        self.log = trap_log
        self._on_trap = on_trap
        self._clock = clock
        self._monotonic = monotonic
        self._buckets: dict[str, _Bucket] = {}
        self._informs: dict[str, collections.deque[int]] = {}  # request ids acknowledged
        self._logged: dict[str, float] = {}
        self._unlogged: collections.Counter[str] = collections.Counter()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.received(data, addr)

    def error_received(self, exc: Exception) -> None:  # an ICMP error for an inform's response
        log.debug("traps: socket error: %s", exc)

    def received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        """Handle one datagram; never raises (hostile input is counted, not propagated)."""
        try:
            self._handle(data, addr)
        except Exception as exc:  # a bug: the receiver must go on
            try:
                self._drop("error", repr(addr)[:64], type(exc).__name__)
            except Exception:  # not even that could be logged: still counted
                self.log.dropped["error"] += 1

    def _handle(self, data: bytes, addr: tuple[Any, ...]) -> None:
        source = _normal(str(addr[0]))
        if len(data) > MAX_DATAGRAM:
            self._drop("too_big", source, f"{len(data)} bytes")
            return
        devices = self._sources(source)
        if not devices:
            self._drop("unknown_source", source, "not the address of a configured device")
            return
        bucket = self._buckets.get(source)
        now = self._monotonic()
        if bucket is None:
            bucket = self._buckets[source] = _Bucket(now)
        if not bucket.take(now):
            self._drop("rate", source, f"more than {RATE:g} a second")
            return
        if self.v3 is not None and snmp_traps.message_version(data) == "3":
            self._handle_v3(self.v3, data, addr, source, devices)
            return
        try:
            notification = snmp_traps.decode_notification(data)
        except MalformedMessage as exc:
            version = snmp_traps.message_version(data)
            if version is not None and version not in ("1", "2c"):
                self._drop("version", source, f"SNMPv{version} is not accepted")
            elif version is not None and "not a notification" in str(exc):
                self._drop("not_notification", source, str(exc))
            else:
                self._drop("malformed", source, str(exc)[:80])
            return
        if not any(hmac.compare_digest(notification.community, c) for c in self._communities()):
            self._drop("community", source, "community not accepted")  # never say which one
            return
        if notification.pdu == "inform":
            self._send(snmp_traps.inform_response(data, notification), addr)
        self._accept(notification, source, devices)

    def _handle_v3(
        self,
        v3: V3Receiver,
        data: bytes,
        addr: tuple[Any, ...],
        source: str,
        devices: tuple[str, ...],
    ) -> None:
        result = v3.handle(data)
        if result.reply is not None:
            self._send(result.reply, addr)
        if isinstance(result, Accepted):
            self._accept(result.notification, source, devices)
        elif result.reason:  # an engine id discovery is answered, not counted
            self._drop(result.reason, source, f"SNMPv3: {result.why}")

    def _accept(
        self, notification: snmp_traps.Notification, source: str, devices: tuple[str, ...]
    ) -> None:
        if notification.pdu == "inform":
            seen = self._informs.setdefault(source, collections.deque(maxlen=RECENT))
            if notification.request_id in seen:  # a retransmission: our response was lost
                return
            seen.append(notification.request_id)
        record = TrapRecord(
            at=self._clock(),
            kind=notification.kind,
            oid=notification.oid_text,
            pdu=notification.pdu,
            version=notification.version,
            source=source,
            uptime_seconds=notification.uptime_seconds,
            detail=snmp_traps.describe(notification.varbinds),
        )
        for device in devices:
            self.log.add(device, record)
            log.info("trap %s (%s) from device %s (%s)", record.kind, record.oid, device, source)
            self._on_trap(device)

    def _send(self, reply: bytes, addr: tuple[Any, ...]) -> None:
        if self.transport is None:
            return
        try:
            self.transport.sendto(reply, addr)
        except OSError as exc:
            log.debug("traps: response to an inform from %s not sent: %s", addr[0], exc)

    def _drop(self, reason: str, source: str, why: str) -> None:
        self.log.dropped[reason] += 1
        now = self._monotonic()
        last = self._logged.get(reason)
        if last is not None and now - last < LOG_EVERY:
            self._unlogged[reason] += 1
            return
        self._logged[reason] = now
        more = self._unlogged.pop(reason, 0)
        log.warning(
            "traps: dropped a datagram from %s (%s: %s)%s",
            source[:64],
            reason,
            why,
            f"; {more} more dropped for this reason since the last line" if more else "",
        )

    def forget_sources(self, keep: Iterable[str]) -> None:
        """Drop the rate buckets and inform ids of addresses no longer configured."""
        wanted = set(keep)
        for table in (self._buckets, self._informs):
            for source in [s for s in table if s not in wanted]:
                del table[source]


def _normal(address: str) -> str:
    """An address as the source map keys it: IPv4-mapped IPv6 as IPv4, zone ids dropped."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


async def resolve_sources(devices: Iterable[Device]) -> dict[str, tuple[str, ...]]:
    """Map each device's address (host names resolved now, all at once) to its device ids.

    A name that does not resolve within :data:`RESOLVE_TIMEOUT` is logged and left out: its
    traps are dropped as from an unknown source until the next reload.
    """
    by_address: dict[str, list[str]] = {}
    names: dict[str, list[str]] = {}
    for device in devices:
        try:
            ip = ipaddress.ip_address(device.address)
        except ValueError:
            names.setdefault(device.address, []).append(device.id)
            continue
        by_address.setdefault(_normal(str(ip)), []).append(device.id)
    if names:
        loop = asyncio.get_running_loop()

        async def one(name: str) -> list[str]:
            infos = await loop.getaddrinfo(name, None, type=socket.SOCK_DGRAM)
            return [_normal(str(info[4][0])) for info in infos]

        tasks = {name: asyncio.ensure_future(one(name)) for name in names}
        await asyncio.wait(tasks.values(), timeout=RESOLVE_TIMEOUT)
        for name, task in tasks.items():
            if not task.done():
                task.cancel()
                log.warning("traps: %s did not resolve in time; its traps are dropped", name)
                continue
            exc = task.exception()
            if exc is not None:
                log.warning("traps: %s does not resolve (%s); its traps are dropped", name, exc)
                continue
            for address in dict.fromkeys(task.result()):
                by_address.setdefault(address, []).extend(names[name])
    return {address: tuple(dict.fromkeys(ids)) for address, ids in by_address.items()}


class Traps:
    """The receiver's socket, its source map and log, across start, reload and stop.

    >>> traps = await Traps.open(config.traps, config.devices, on_trap)  # doctest: +SKIP
    >>> await traps.update(new_config.traps, new_config.devices)  # doctest: +SKIP
    >>> traps.close()  # doctest: +SKIP
    """

    def __init__(
        self,
        settings: TrapSettings,
        on_trap: Callable[[str], None],
        engine: tuple[bytes, int] | None = None,
    ) -> None:
        self.settings = settings
        self.log = TrapLog()
        self.sources: dict[str, tuple[str, ...]] = {}
        self._users: dict[bytes, TrapUser] = {}
        v3 = V3Receiver(lambda: self._users, *engine) if engine is not None else None
        self.receiver = TrapReceiver(self._communities, self.sources.get, self.log, on_trap, v3=v3)
        self._transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(
        cls,
        settings: TrapSettings,
        devices: Iterable[Device],
        on_trap: Callable[[str], None],
        data_dir: Path | None = None,
    ) -> Traps:
        """Resolve the devices' addresses and listen on ``settings.listen``; an address that
        cannot be bound raises ``OSError`` (the caller says what to change). netwatch's SNMPv3
        engine id is kept in ``data_dir`` (random per start without one)."""
        engine = await asyncio.to_thread(load_engine_id, data_dir)
        traps = cls(settings, on_trap, engine)
        await traps.update(settings, devices)
        host, port = parse_listen(settings.listen, any_port=True)
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            # A switch that reboots sends a trap per port at once: room for a few hundred.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
            sock.bind((host, port))
            sock.setblocking(False)
            transport, _ = await loop.create_datagram_endpoint(lambda: traps.receiver, sock=sock)
        except BaseException:
            sock.close()
            raise
        traps._transport = transport
        log.info(
            "traps: listening on %s (SNMPv1, v2c%s)",
            settings.listen,
            f", v3 for {len(settings.users)} user(s)" if settings.users else "",
        )
        return traps

    @property
    def port(self) -> int:
        """The UDP port bound (useful when the config asked for port 0 in tests)."""
        if self._transport is None:
            return 0
        return int(self._transport.get_extra_info("sockname")[1])

    def _communities(self) -> list[bytes]:
        return [c.reveal().encode() for c in self.settings.communities]

    async def update(self, settings: TrapSettings, devices: Iterable[Device]) -> None:
        """Take a (re)loaded config's communities and devices (their names resolved again);
        a new ``listen`` needs a restart."""
        devices = list(devices)
        sources = await resolve_sources(devices)
        self.settings = dataclasses.replace(settings, listen=self.settings.listen)
        self._users.clear()
        self._users.update((u.name.encode(), u) for u in settings.users)
        v3 = self.receiver.v3
        if v3 is not None:
            await asyncio.to_thread(v3.warm)  # the 1 MiB password hashes, off the event loop
        self.sources.clear()
        self.sources.update(sources)
        self.receiver.forget_sources(sources)
        self.log.keep_only(d.id for d in devices)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
