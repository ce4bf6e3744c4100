"""The SNMP probe: system, interface and host-resource data from one device per ``poll()``.

One :class:`SnmpPoller` per process owns one SNMPv2c client (:mod:`netwatch.probes.snmp_v2c`:
our own BER codec, ~90x cheaper than pyasn1 on a table reply) and one SNMPv3 client
(:mod:`netwatch.probes.snmp_v3`: RFC 3412 messages and the USM of
:mod:`netwatch.probes.snmp_usm` around the same PDU codec), each with one UDP socket per
address family. Both send numeric-OID GET and GETBULK; values come back as plain ``int`` /
``bytes`` / ``tuple`` and the codec's singletons, which the value helpers below read. A
network or agent problem is returned as a ``Failure`` (see :func:`_failure_from`); ``poll()``
raises only for bugs. Garbage from a polled address is
counted by the clients, and a poll that timed out while its agent sent garbage is a
PROTOCOL failure.

SNMPv3 engine state (engine id, boots, time) is kept per target (address and port), so two
agents cloned with one engine id do not share a clock; localized keys are cached per user,
engine id and protocols (the password-to-key hash is 1 MiB of hashing, done once).
pysnmp is used nowhere here any more (the tests still use it as a reference BER codec).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import errno
import functools
import ipaddress
import logging
import re
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from netwatch.configuration.profiles import ProfileSet, load_profiles
from netwatch.models import (
    SNMP_OID_SETS,
    Failure,
    FailureKind,
    InterfaceFilter,
    Sample,
    SnmpSettings,
)
from netwatch.probes import snmp_oids as oids
from netwatch.probes import snmp_v2c as v2c
from netwatch.probes import snmp_v3 as v3
from netwatch.probes.health import HealthData, HealthReader, decode_text
from netwatch.probes.snmp_exact import exact_speed, needs_if_speed

log = logging.getLogger(__name__)

# 8 MiB: with the kernel default (208 KiB) replies to 50+ concurrent GETBULKs are dropped.
RCVBUF_BYTES: Final = 8 * 1024 * 1024
MAX_WALK_ROUNDS: Final = 2000  # per column: bounds a walk against an agent that never ends one
GET_NEXT: Final = 0xA1  # GetNextRequest-PDU (RFC 3416), for agents whose GETBULK answers nothing

# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """The SNMPv2-MIB system group; uptimes in seconds (``None`` when the agent lacks them)."""

    sys_name: str
    sys_descr: str
    sys_object_id: str
    sys_uptime_seconds: float | None
    engine_time_seconds: int | None = None  # snmpEngineTime: seconds since the engine booted
    hr_system_uptime_seconds: float | None = None  # host uptime (not the agent's)


@dataclass(frozen=True, slots=True)
class Interface:
    """One row of ifTable/ifXTable. Counters are the device's raw values (64-bit when ``hc``)."""

    index: int
    name: str
    alias: str
    oper_up: bool
    admin_up: bool
    speed_bps: int | None
    in_octets: int | None
    out_octets: int | None
    in_ucast_pkts: int | None
    out_ucast_pkts: int | None
    in_errors: int | None
    out_errors: int | None
    in_discards: int | None
    out_discards: int | None
    hc: bool


@dataclass(frozen=True, slots=True)
class Storage:
    """One hrStorageTable row; ``type`` is ``ram``, ``virtual``, ``fixed disk`` or ``other``."""

    index: int
    description: str
    type: str
    size_bytes: int
    used_bytes: int


@dataclass(frozen=True, slots=True)
class HostResources:
    """HOST-RESOURCES-MIB (and UCD load averages when the agent has them)."""

    cpu_loads: tuple[float, ...]  # per processor, ratio 0..1
    storage: tuple[Storage, ...]
    processes: int | None
    load_average: tuple[float, float, float] | None = None  # UCD laLoad 1/5/15 min


@dataclass(frozen=True, slots=True)
class SnmpData:
    """What one poll collected. A set not collected, or one that failed, is ``None``.

    >>> SnmpData(system=None, interfaces=(), host=None).table_failures
    {}
    """

    system: SystemInfo | None
    interfaces: tuple[Interface, ...] | None
    host: HostResources | None
    table_failures: Mapping[str, Failure] = field(default_factory=dict)
    # Rows the agent showed in ifTable/ifXTable, before the interface filter (``None`` when
    # interfaces were not read); 0 means the agent's view has no interface table.
    interface_rows: int | None = None
    health: HealthData | None = None  # what the device's profile read (probes/health.py)


@dataclass(slots=True)
class TablePlan:
    """How netwatch walks one table of one device, learnt from the agent's replies.

    Agents may cap a GETBULK reply (net-snmp's ``maxGetbulkResponses``, a packet size): a
    13-column request then comes back with fewer than one row, even with no values at all. The
    walker then asks for half the columns per request, down to one, then GETNEXT, and keeps
    what worked here, so the next polls of that device go straight to it. An agent that
    answers tooBig instead gets half the repetitions first, down to one, then the same.

    >>> TablePlan(columns=13)
    TablePlan(columns=13, bulk=True, repetitions=None, rows=None, requests=0)
    """

    columns: int  # columns per request
    bulk: bool = True  # False: GETNEXT, one column per request
    repetitions: int | None = None  # max-repetitions the agent took without tooBig, if fewer
    rows: int | None = None  # rows the table had last time (sets max-repetitions)
    requests: int = 0  # requests the last walk took


# --------------------------------------------------------------------------- errors

_TIMEOUT_KINDS: Final = (TimeoutError,)


class Refused(Exception):
    """A problem netwatch finds with an agent's answers or a device's settings (not the
    network's, not the USM's): ``kind`` and an operator's ``reason``."""

    def __init__(self, kind: FailureKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


_OUT_OF_ORDER: Final = Refused(FailureKind.PROTOCOL, "agent returned OIDs out of order")
_NEVER_ENDS: Final = Refused(FailureKind.PROTOCOL, "request loop terminated (a column never ends)")
_EMPTY: Final = Refused(FailureKind.PROTOCOL, "empty response")

# RFC 3416 error-status values of a response PDU.
_ERROR_STATUS: Final[Mapping[int, tuple[FailureKind, str]]] = {
    1: (FailureKind.PROTOCOL, "tooBig (lower max_repetitions)"),
    2: (FailureKind.NO_SUCH_NAME, "noSuchName"),
    5: (FailureKind.ERROR, "genErr"),
    6: (FailureKind.AUTH, "noAccess"),
    16: (FailureKind.AUTH, "authorizationError"),
}

_MAX_ERROR_STATUS: Final = 18  # inconsistentName, the last of RFC 3416's error-status values


@dataclass(frozen=True, slots=True)
class ErrorStatus:
    """A non-zero error-status in an agent's response PDU (not an exception)."""

    status: int
    index: int


def _failure_from(device: str, error: object, settings: SnmpSettings) -> Failure:
    """The one translation of the SNMP clients' and the OS's errors into a ``Failure``; never
    raises.

    ``error`` is an exception (the codecs' :class:`~netwatch.probes.snmp_v2c.MalformedMessage`,
    the v3 client's :class:`~netwatch.probes.snmp_v3.UsmError`, :class:`Refused`,
    ``TimeoutError``, ``OSError``), an :class:`ErrorStatus`, or a short text about a reply.
    """
    prefix = f"SNMP {device}"
    if isinstance(error, (v3.UsmError, Refused)):
        return Failure(error.kind, f"{prefix}: {error.reason}")
    if isinstance(error, _TIMEOUT_KINDS):
        why = "agent down?" if settings.version == "3" else "wrong community or agent down?"
        if settings.version == "3" and settings.priv_protocol and isinstance(error, _V3Silent):
            # net-snmp drops what it cannot decrypt: after a discovery that worked, silence
            # to an encrypted request points at the privacy settings.
            why = "agent down, or wrong priv_password or priv_protocol?"
        wait = settings.timeout * (settings.retries + 1)
        return Failure(FailureKind.TIMEOUT, f"{prefix}: no reply within {wait:g}s ({why})")
    if isinstance(error, ErrorStatus):
        if not 0 <= error.status <= _MAX_ERROR_STATUS:  # not an RFC 3416 value: a bad reply
            detail = f"malformed reply: error-status {error.status} is not an SNMP error"
            return Failure(FailureKind.PROTOCOL, f"{prefix}: {detail}")
        kind, name = _ERROR_STATUS.get(error.status, (FailureKind.ERROR, "error"))
        detail = f"agent answered {name} (error-status {error.status}, index {error.index})"
        return Failure(kind, f"{prefix}: {detail}")
    if isinstance(error, str):
        return Failure(FailureKind.PROTOCOL, f"{prefix}: unexpected reply ({error[:60]})")
    if isinstance(error, (v2c.MalformedMessage, v3.MalformedMessage)):  # no secret in them
        return Failure(FailureKind.PROTOCOL, f"{prefix}: malformed reply: {str(error)[:80]}")
    if isinstance(error, socket.gaierror):
        return Failure(FailureKind.DNS, f"{prefix}: cannot resolve address: {error.strerror}")
    if isinstance(error, OSError):
        return _os_failure(prefix, error)
    return Failure(FailureKind.ERROR, f"{prefix}: {type(error).__name__}")


def _os_failure(prefix: str, error: OSError) -> Failure:
    if error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
        return Failure(FailureKind.UNREACHABLE, f"{prefix}: {error.strerror}")
    if error.errno == errno.ECONNREFUSED:
        return Failure(FailureKind.REFUSED, f"{prefix}: port closed (ICMP port unreachable)")
    if error.errno in (errno.EPERM, errno.EACCES):
        return Failure(FailureKind.PERMISSION, f"{prefix}: sending not permitted (firewall?)")
    return Failure(FailureKind.ERROR, f"{prefix}: {error.strerror or type(error).__name__}")


# --------------------------------------------------------------------------- varbind values

# Replies are decoded by snmp_v2c (v3's PDUs too) into plain int/bytes/tuple values and the
# codec's singletons; the helpers below read them.


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, v2c.Special) and value is not v2c.NULL)


def _end_of_view(value: Any) -> bool:
    return value is v2c.END_OF_MIB_VIEW


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return decode_text(value)
    return ""


def _oid_text(value: Any) -> str:
    return ".".join(map(str, value)) if isinstance(value, tuple) else ""


# --------------------------------------------------------------------------- poller

Column = dict[tuple[int, ...], Any]  # row index -> raw value


@dataclass(frozen=True, slots=True)
class _Target:
    address: tuple[str, int]
    family: int = socket.AF_INET
    credentials: v3.Credentials | None = None  # SNMPv3 only


class _V3Silent(TimeoutError):
    """An SNMPv3 agent that answered discovery stayed silent to a request."""


class _RequestFailed(Exception):
    def __init__(self, error: object) -> None:
        super().__init__(repr(error))
        self.error = error


class SnmpPoller:
    """Polls devices by SNMP v2c or v3; one per process (it owns the clients and sockets).

    The clients bind to the event loop of their first ``poll()``.

    >>> poller = await SnmpPoller.create()  # doctest: +SKIP
    >>> sample = await poller.poll("core-rtr", "10.10.0.1", settings)  # doctest: +SKIP
    >>> sample.data.system.sys_name if sample.ok else str(sample.failure)  # doctest: +SKIP
    'core-rtr'
    >>> poller.close()  # doctest: +SKIP
    """

    def __init__(self, profiles: ProfileSet | None = None) -> None:
        self._profiles = profiles if profiles is not None else load_profiles()
        self._health = HealthReader()
        self._sockets: list[socket.socket] = []
        self._plans: dict[tuple[str, str], TablePlan] = {}  # (device, table) -> walk plan
        self._no_interfaces: set[str] = set()  # devices logged as showing no interface table
        # v2c devices timing out -> whether their agent answered SNMPv1 (asked once a run of
        # timeouts: see _v1_only)
        self._timed_out: dict[str, bool] = {}
        # Datagrams per polled (host, port) that were not SNMP at all. Only the addresses
        # netwatch polls are counted, so strangers cannot grow the counter.
        self._junk: collections.Counter[tuple[str, int]] = collections.Counter()
        self._peers: set[tuple[str, int]] = set()
        self._v2c = v2c.V2cClient(self._open_socket, self._junk, self._peers)
        # Its own socket and no junk accounting: what a broken agent sends back to this
        # question must not turn a v2c poll's timeout into a protocol failure (see _v1_only).
        self._v1_probe = v2c.V2cClient(self._open_socket, collections.Counter(), set())
        self._v3 = v3.V3Client(self._open_socket, self._junk, self._peers)
        self._closed = False

    @classmethod
    async def create(cls, profiles: ProfileSet | None = None) -> SnmpPoller:
        """Build the poller in a worker thread (it loads the device profiles)."""
        return await asyncio.to_thread(cls, profiles)

    def set_profiles(self, profiles: ProfileSet) -> None:
        """Use ``profiles`` (built-in plus ``agent.profiles``) from the next poll on."""
        self._profiles = profiles

    @property
    def receive_buffer_bytes(self) -> int:
        """The kernel's receive buffer of the IPv4 socket (0 before the first poll)."""
        for sock in self._sockets:
            if sock.family == socket.AF_INET and sock.fileno() >= 0:
                return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        return 0

    def table_plan(self, device: str, table: str) -> TablePlan | None:
        """How ``table`` (``interfaces``, ``interfaces-fallback``, ``host``) of ``device`` is
        walked, ``None`` before its first walk. A copy: changing it changes nothing."""
        plan = self._plans.get((device, table))
        return None if plan is None else dataclasses.replace(plan)

    def close(self) -> None:
        """Close the sockets; the poller cannot be used afterwards."""
        if self._closed:
            return
        self._closed = True
        self._v2c.close()
        self._v1_probe.close()
        self._v3.close()
        for sock in self._sockets:
            sock.close()

    # ------------------------------------------------------------------ public

    async def poll(self, device: str, address: str, settings: SnmpSettings) -> Sample[SnmpData]:
        """Collect ``settings.collect`` from ``address``; a failure is returned, not raised."""
        at, started = time.time(), time.monotonic()
        try:
            failure, data = await self._poll(device, address, settings)
        except OSError as exc:
            failure, data = _failure_from(device, exc, settings), None
        if failure is not None:
            log.debug("snmp %s: %s", device, failure)
        return Sample(device, "snmp", at, time.monotonic() - started, failure, data)

    async def _walk_once(
        self,
        device: str,
        address: str,
        settings: SnmpSettings,
        columns: Mapping[str, tuple[int, ...]],
    ) -> tuple[Failure | None, dict[str, Column]]:
        """One walk of ``columns`` for a one-off look; a failure is returned, not raised."""
        if self._closed:
            raise RuntimeError("SnmpPoller is closed")
        try:
            target = await self._target(address, settings)
            found = await self._walk(device, target, settings, ",".join(columns), columns)
        except _RequestFailed as exc:
            return _failure_from(device, exc.error, settings), {}
        except OSError as exc:
            return _failure_from(device, exc, settings), {}
        return None, found

    async def walk_text(
        self,
        device: str,
        address: str,
        settings: SnmpSettings,
        columns: Mapping[str, tuple[int, ...]],
    ) -> tuple[Failure | None, dict[str, dict[tuple[int, ...], str]]]:
        """Walk table columns (name -> numeric OID) once, values as text: for a one-off look
        such as ``netwatch discover`` reading LLDP neighbours. A failure is returned."""
        failure, found = await self._walk_once(device, address, settings, columns)
        return failure, {
            name: {index: _text(value) for index, value in column.items()}
            for name, column in found.items()
        }

    async def walk_octets(
        self,
        device: str,
        address: str,
        settings: SnmpSettings,
        columns: Mapping[str, tuple[int, ...]],
    ) -> tuple[Failure | None, dict[str, dict[tuple[int, ...], bytes]]]:
        """As ``walk_text``, the OCTET STRING values as they are (e.g. CDP's 4-byte IPv4
        addresses, which text decoding would mangle); other values are left out."""
        failure, found = await self._walk_once(device, address, settings, columns)
        return failure, {
            name: {i: bytes(v) for i, v in column.items() if isinstance(v, bytes)}
            for name, column in found.items()
        }

    async def prepare(self, targets: Iterable[tuple[str, str, SnmpSettings]]) -> None:
        """Nothing to register ahead any more (it was for pysnmp's engine); kept because the
        daemon and the worker pool call it. SNMPv3 agents are discovered at their first poll.
        """
        del targets

    # ------------------------------------------------------------------ poll steps

    async def _poll(
        self, device: str, address: str, settings: SnmpSettings
    ) -> tuple[Failure | None, SnmpData | None]:
        if self._closed:
            raise RuntimeError("SnmpPoller is closed")
        try:
            target = await self._target(address, settings)
        except _RequestFailed as exc:
            return _failure_from(device, exc.error, settings), None
        source = (str(target.address[0]), int(target.address[1]))
        self._peers.add(source)
        junk_before = self._junk[source]
        failure, data = await self._poll_target(device, target, settings)
        if (
            failure is not None
            and failure.kind is FailureKind.TIMEOUT
            and self._junk[source] > junk_before
        ):
            failure = Failure(FailureKind.PROTOCOL, f"SNMP {device}: {_JUNK}")
        return failure, data

    async def _poll_target(
        self, device: str, target: _Target, settings: SnmpSettings
    ) -> tuple[Failure | None, SnmpData | None]:
        collect = set(settings.collect)
        failures: dict[str, Failure] = {}
        scalars: dict[tuple[int, ...], Any] = {}
        wanted = (oids.SYSTEM_SCALARS if "system" in collect else ()) + (
            oids.HOST_SCALARS if "host" in collect else ()
        )
        if wanted:
            # One GET first: it proves the agent answers before the walks start, so a dead
            # device costs one timeout, not one per table.
            try:
                scalars = await self._get_scalars(target, wanted, settings)
            except _RequestFailed as exc:
                failure = _failure_from(device, exc.error, settings)
                if failure.kind is FailureKind.TIMEOUT:
                    return await self._v1_only(device, target, settings, failure), None
                if failure.kind is FailureKind.AUTH:
                    return failure, None
                failures["system"] = failure
            self._timed_out.pop(device, None)

        system: SystemInfo | None = None
        if "system" in collect and "system" not in failures:
            system = _system_from(scalars)
            if system is None:
                failures["system"] = Failure(
                    FailureKind.NO_SUCH_NAME,
                    f"SNMP {device}: agent has no system group (view restricted?)",
                )

        interface_rows: list[int] = []

        async def interfaces() -> tuple[Interface, ...] | None:
            try:
                found, rows = await self._interfaces(device, target, settings)
            except _RequestFailed as exc:
                failures["interfaces"] = _failure_from(device, exc.error, settings)
                return None
            interface_rows.append(rows)
            return found

        async def host() -> HostResources | None:
            try:
                return await self._host(device, target, settings, scalars)
            except _RequestFailed as exc:
                failures["host"] = _failure_from(device, exc.error, settings)
                return None

        async def health() -> HealthData | None:
            profile = self._profiles.match(system.sys_object_id if system else "")
            try:
                return await self._health.read(
                    device,
                    profile,
                    lambda wanted: self._get_scalars(target, wanted, settings),
                    lambda columns: self._walk(
                        device, target, settings, "health:" + ",".join(sorted(columns)), columns
                    ),
                )
            except _RequestFailed as exc:
                failures["health"] = _failure_from(device, exc.error, settings)
                return None

        ifaces, hr, health_data = await asyncio.gather(
            interfaces() if "interfaces" in collect else _none(),
            host() if "host" in collect else _none(),
            health() if "health" in collect else _none(),
        )
        rows = interface_rows[0] if interface_rows else None
        data = SnmpData(system, ifaces, hr, dict(failures), rows, health_data)
        asked = [name for name in SNMP_OID_SETS if name in collect]
        if asked and all(name in failures for name in asked):
            return failures[asked[0]], data
        return None, data

    async def _v1_only(
        self, device: str, target: _Target, settings: SnmpSettings, failure: Failure
    ) -> Failure:
        """A v2c poll timed out: if the agent answers SNMPv1, say so instead (an old agent
        that speaks only v1 drops v2c requests, which looks like a wrong community).

        One v1 GET (a single try) at the first timeout of a run, none after it.
        """
        if settings.version != "2c":
            return failure
        v1_only = self._timed_out.get(device)
        if v1_only is None:
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
                v1_only = False
            else:
                v1_only = True
            self._timed_out[device] = v1_only
        if not v1_only:
            return failure
        return Failure(
            FailureKind.PROTOCOL,
            f"SNMP {device}: the agent answers SNMPv1 only, not v2c: set snmp.version: 1",
        )

    async def _get_scalars(
        self, target: _Target, wanted: Sequence[tuple[int, ...]], settings: SnmpSettings
    ) -> dict[tuple[int, ...], Any]:
        asked = list(wanted)
        while True:
            try:
                varbinds = await self._request(target, settings, asked, pdu=v2c.GET)
            except _RequestFailed as exc:
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

    async def _interfaces(
        self, device: str, target: _Target, settings: SnmpSettings
    ) -> tuple[tuple[Interface, ...], int]:
        """The device's interfaces (filtered), and how many rows its agent showed."""
        cols = await self._walk(
            device, target, settings, "interfaces", {**oids.IF_COLUMNS, **oids.IF_X_COLUMNS}
        )
        indices = set(cols["ifAdminStatus"]) | set(cols["ifName"]) | set(cols["ifOperStatus"])
        hc_names = ("ifHCInOctets", "ifHCOutOctets", "ifHCInUcastPkts", "ifHCOutUcastPkts")
        need_fallback = any(
            idx not in cols["ifName"]
            or not _text(cols["ifName"][idx])  # empty: the name comes from ifDescr
            or idx not in cols["ifHighSpeed"]
            or any(idx not in cols[name] for name in hc_names)
            for idx in indices
        )
        if need_fallback:  # no (or a partial) ifXTable: 32-bit counters and ifDescr
            fallback = oids.IF_FALLBACK_COLUMNS
            cols.update(await self._walk(device, target, settings, "interfaces-fallback", fallback))
        else:  # slow links: their exact ifSpeed, by one GET (snmp_exact)
            cols["ifSpeed"] = await self._if_speeds(target, settings, cols["ifHighSpeed"])
        self._note_interface_table(device, len(indices))
        result = []
        keep = interface_matcher(settings.interfaces)
        for idx in sorted(indices):
            if len(idx) != 1:
                continue
            row = _interface_row(idx[0], idx, cols, hc_names)
            if keep is None or keep(row):
                result.append(row)
        return tuple(result), len(indices)

    def _note_interface_table(self, device: str, rows: int) -> None:
        """One log line when a device's agent stops (or starts again) showing interfaces."""
        if rows == 0 and device not in self._no_interfaces:
            self._no_interfaces.add(device)
            log.warning(
                "snmp %s: the agent shows no interface table (ifTable/ifXTable empty or "
                "outside its view: check the community's or user's view)",
                device,
            )
        elif rows and device in self._no_interfaces:
            self._no_interfaces.discard(device)
            log.info("snmp %s: the agent shows its interface table again (%d rows)", device, rows)

    async def _if_speeds(self, target: _Target, settings: SnmpSettings, high: Column) -> Column:
        column = oids.IF_FALLBACK_COLUMNS["ifSpeed"]
        slow = [idx for idx, value in high.items() if needs_if_speed(_int(value))][:40]
        if not slow:
            return {}
        got = await self._get_scalars(target, [(*column, *idx) for idx in slow], settings)
        return {oid[len(column) :]: value for oid, value in got.items()}

    async def _host(
        self,
        device: str,
        target: _Target,
        settings: SnmpSettings,
        scalars: Mapping[tuple[int, ...], Any],
    ) -> HostResources:
        cols = await self._walk(device, target, settings, "host", oids.HOST_COLUMNS)
        storage = []
        for idx, kind in sorted(cols["hrStorageType"].items()):
            units = _int(cols["hrStorageAllocationUnits"].get(idx)) or 0
            size = _int(cols["hrStorageSize"].get(idx))
            used = _int(cols["hrStorageUsed"].get(idx))
            if size is None or used is None or len(idx) != 1:
                continue
            type_oid = kind if isinstance(kind, tuple) else ()
            storage.append(
                Storage(
                    index=idx[0],
                    description=_text(cols["hrStorageDescr"].get(idx)),
                    type=oids.STORAGE_TYPES.get(type_oid, "other"),
                    size_bytes=size * units,
                    used_bytes=used * units,
                )
            )
        loads = [_int(v) for _, v in sorted(cols["hrProcessorLoad"].items())]
        la = [_float(_text(cols["laLoad"].get((i,)))) for i in (1, 2, 3)]
        load_average = (la[0], la[1], la[2]) if None not in la else None
        return HostResources(
            cpu_loads=tuple(v / 100 for v in loads if v is not None),
            storage=tuple(storage),
            processes=_int(scalars.get(oids.HR_SYSTEM_PROCESSES)),
            load_average=load_average,  # type: ignore[arg-type]
        )

    # ------------------------------------------------------------------ requests

    async def _walk(
        self,
        device: str,
        target: _Target,
        settings: SnmpSettings,
        table: str,
        columns: Mapping[str, tuple[int, ...]],
    ) -> dict[str, Column]:
        """GETBULK-walk several table columns side by side; each stops at its own end.

        Only the end of a column (an OID past it, or endOfMibView) ends it: a reply shorter
        than one row of the columns asked (an agent's cap on GETBULK replies) ends nothing, it
        makes the walk ask for fewer columns per request (see :class:`TablePlan`).
        """
        result: dict[str, Column] = {name: {} for name in columns}
        active = list(columns.items())
        cursor = dict(columns)
        plan = self._plans.get((device, table))
        if plan is None:
            plan = self._plans[(device, table)] = TablePlan(len(columns))
        if settings.version == "1":  # no GETBULK in SNMPv1
            plan.bulk, plan.columns = False, 1
        # GETBULK overshoots: with 13 columns, 25 repetitions and 4 interfaces, 80 % of the
        # reply lies past the table and is decoded for nothing. After the first poll, ask for
        # one row more than the table had, so one round usually reads it all and sees its end.
        reps = max(1, settings.max_repetitions)
        if plan.repetitions is not None:
            reps = min(reps, plan.repetitions)
        if plan.rows is not None:
            reps = min(reps, plan.rows + 1)
        requests = 0
        for _round in range(MAX_WALK_ROUNDS * len(columns)):
            if not active:
                break
            batch = active[: plan.columns] if plan.bulk else active[:1]
            width = len(batch)
            requests += 1
            try:
                varbinds = await self._request(
                    target,
                    settings,
                    [cursor[name] for name, _ in batch],
                    pdu=v2c.GET_BULK if plan.bulk else GET_NEXT,
                    reps=reps,
                )
            except _RequestFailed as exc:
                error = exc.error
                if settings.version == "1" and isinstance(error, ErrorStatus) and error.status == 2:
                    # SNMPv1's end of the MIB view: noSuchName to a GETNEXT (one column asked)
                    active = active[1:]
                    continue
                if not (plan.bulk and isinstance(error, ErrorStatus) and error.status == 1):
                    raise
                if reps > 1:  # tooBig: fewer rows first, then fewer columns
                    reps = plan.repetitions = reps // 2
                    log.info(
                        "snmp %s: the agent answered tooBig to a GETBULK of the %s table; "
                        "asking %d repetitions from now on",
                        device, table, reps,
                    )  # fmt: skip
                else:
                    self._narrow(device, table, plan, width, 0, "tooBig")
                continue
            done: set[str] = set()
            for i, (oid, value) in enumerate(varbinds):
                name, root = batch[i % width]
                if name in done:
                    continue
                key = tuple(oid)
                if _end_of_view(value) or key[: len(root)] != root:
                    done.add(name)
                    continue
                if key <= cursor[name]:  # a broken agent must not make us loop
                    raise _RequestFailed(_OUT_OF_ORDER)
                result[name][key[len(root) :]] = value
                cursor[name] = key
            if len(varbinds) < width:  # short of one row: the columns not answered stay active
                self._narrow(device, table, plan, width, len(varbinds))
            if done:
                active = [(n, r) for n, r in active if n not in done]
        if active:  # the agent never ended a column: say so rather than return part of it
            raise _RequestFailed(_NEVER_ENDS)
        plan.rows = max((len(column) for column in result.values()), default=0)
        plan.requests = requests
        return result

    @staticmethod
    def _narrow(
        device: str, table: str, plan: TablePlan, asked: int, got: int, answer: str = ""
    ) -> None:
        """Ask for fewer columns per request after a reply of ``got`` values for ``asked``."""
        if not plan.bulk:  # GETNEXT answers one value per name asked; none is a broken agent
            raise _RequestFailed(_EMPTY)
        if asked > 1:
            plan.columns = max(1, min(asked // 2, got or asked))
            how = f"{plan.columns} column(s) per GETBULK"
        else:
            plan.bulk = False
            plan.columns = 1
            how = "GETNEXT"
        log.info(
            "snmp %s: the agent answered a %d-column GETBULK of the %s table with %s; "
            "using %s for it from now on",
            device, asked, table, answer or f"{got} value(s)", how,
        )  # fmt: skip

    async def _request(
        self,
        target: _Target,
        settings: SnmpSettings,
        request: list[tuple[int, ...]],
        *,
        pdu: int,
        reps: int = 0,
    ) -> list[tuple[Any, Any]]:
        """One GET, GETNEXT or GETBULK (``pdu``: ``v2c.GET``, :data:`GET_NEXT`,
        ``v2c.GET_BULK``) of ``request``; the reply's varbinds, or :class:`_RequestFailed`."""
        if settings.version != "3":  # community-based
            return await self._request_v2c(target, settings, request, pdu=pdu, reps=reps)
        assert target.credentials is not None  # set by _target for v3
        try:
            reply = await self._v3.request(
                target.address, target.family, target.credentials, pdu, request,
                repetitions=reps, per_try=settings.timeout, retries=settings.retries,
            )  # fmt: skip
        except TimeoutError as exc:
            known = self._v3.engine(target.address) is not None
            raise _RequestFailed(_V3Silent() if known else exc) from exc
        except (OSError, ValueError, v3.UsmError) as exc:
            raise _RequestFailed(exc) from exc
        return self._checked(reply)

    async def _request_v2c(
        self,
        target: _Target,
        settings: SnmpSettings,
        request: list[tuple[int, ...]],
        *,
        pdu: int,
        reps: int,
    ) -> list[tuple[Any, Any]]:
        assert settings.community is not None  # checked in _target
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
            raise _RequestFailed(exc) from exc
        return self._checked(reply)

    @staticmethod
    def _checked(reply: v2c.Message) -> list[tuple[Any, Any]]:
        if reply.error_status:
            raise _RequestFailed(ErrorStatus(reply.error_status, reply.error_index))
        if any(value is v2c.NULL for _oid, value in reply.varbinds):
            raise _RequestFailed("NULL values: a reflected request or a broken agent")
        return reply.varbinds

    # ------------------------------------------------------------------ configuration

    async def _target(self, address: str, settings: SnmpSettings) -> _Target:
        host, family = await _resolve(address)
        if settings.version == "3":
            if not settings.user:
                raise _RequestFailed(Refused(FailureKind.ERROR, "no SNMPv3 user configured"))
            return _Target((host, settings.port), family, _credentials(settings))
        if settings.community is None:
            raise _RequestFailed(Refused(FailureKind.ERROR, "no community configured"))
        return _Target((host, settings.port), family)

    def _open_socket(self, family: int) -> socket.socket:
        """A UDP socket of ``family`` with a large receive buffer, bound to any port."""
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            _raise_rcvbuf(sock)
            sock.setblocking(False)
            sock.bind(("0.0.0.0", 0) if family == socket.AF_INET else ("::", 0))
        except BaseException:
            sock.close()
            raise
        self._sockets.append(sock)
        return sock


# --------------------------------------------------------------------------- transport

_JUNK: Final = (
    "the agent answered with data that is not an SNMP response (wrong port, or a broken agent?)"
)


# --------------------------------------------------------------------------- helpers


async def _none() -> None:
    return None


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
        raise _RequestFailed(exc) from exc
    family, _type, _proto, _name, sockaddr = infos[0]
    return str(sockaddr[0]), int(family)


def _raise_rcvbuf(sock: socket.socket) -> None:
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


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _system_from(scalars: Mapping[tuple[int, ...], Any]) -> SystemInfo | None:
    def present(oid: tuple[int, ...]) -> bool:
        return not _absent(scalars.get(oid))

    system_oids = (oids.SYS_DESCR, oids.SYS_UPTIME, oids.SYS_NAME, oids.SYS_OBJECT_ID)
    if not any(present(oid) for oid in system_oids):
        return None
    uptime = _int(scalars.get(oids.SYS_UPTIME))
    hr_uptime = _int(scalars.get(oids.HR_SYSTEM_UPTIME))
    return SystemInfo(
        sys_name=_text(scalars.get(oids.SYS_NAME)),
        sys_descr=_text(scalars.get(oids.SYS_DESCR)),
        sys_object_id=_oid_text(scalars.get(oids.SYS_OBJECT_ID)),
        sys_uptime_seconds=None if uptime is None else uptime / 100,
        engine_time_seconds=_int(scalars.get(oids.SNMP_ENGINE_TIME)),
        hr_system_uptime_seconds=None if hr_uptime is None else hr_uptime / 100,
    )


def _interface_row(
    index: int, idx: tuple[int, ...], cols: Mapping[str, Column], hc_names: Sequence[str]
) -> Interface:
    def get(name: str) -> Any:
        column = cols.get(name)
        return None if column is None else column.get(idx)

    hc = all(_int(get(name)) is not None for name in hc_names)
    # ifHighSpeed is in whole Mb/s: a slow link (E1, 512k) takes ifSpeed (see snmp_exact).
    speed = exact_speed(_int(get("ifHighSpeed")), _int(get("ifSpeed")))
    return Interface(
        index=index,
        name=_text(get("ifName")) or _text(get("ifDescr")),
        alias=_text(get("ifAlias")),
        oper_up=_int(get("ifOperStatus")) == 1,
        admin_up=_int(get("ifAdminStatus")) == 1,
        speed_bps=speed,
        in_octets=_int(get("ifHCInOctets" if hc else "ifInOctets")),
        out_octets=_int(get("ifHCOutOctets" if hc else "ifOutOctets")),
        in_ucast_pkts=_int(get("ifHCInUcastPkts" if hc else "ifInUcastPkts")),
        out_ucast_pkts=_int(get("ifHCOutUcastPkts" if hc else "ifOutUcastPkts")),
        in_errors=_int(get("ifInErrors")),
        out_errors=_int(get("ifOutErrors")),
        in_discards=_int(get("ifInDiscards")),
        out_discards=_int(get("ifOutDiscards")),
        hc=hc,
    )


@functools.lru_cache(maxsize=1024)
def interface_matcher(rule: InterfaceFilter) -> Callable[[Interface], bool] | None:
    """The predicate of an interface filter, ``None`` when it keeps everything.

    Cached per filter (a frozen, hashable dataclass), so regexes are compiled once, not on
    every poll or scrape.
    """
    if not rule.include and not rule.exclude and not rule.admin_up_only:
        return None
    include = tuple(re.compile(p) for p in rule.include)
    exclude = tuple(re.compile(p) for p in rule.exclude)

    def keep(row: Interface) -> bool:
        if rule.admin_up_only and not row.admin_up:
            return False
        if include and not any(p.search(row.name) for p in include):
            return False
        return not any(p.search(row.name) for p in exclude)

    return keep
