"""The SNMP probe: system, interface and host-resource data from one device per ``poll()``.

One :class:`SnmpPoller` per process. What it collects is :mod:`netwatch.probes.snmp_data`'s
plain types, which the exporter and the web pages read without loading this module. Its parts:

- :mod:`~netwatch.probes.snmp_clients`: the transport, one SNMPv2c client
  (:mod:`netwatch.probes.snmp_v2c`: our own BER codec, ~90x cheaper than pyasn1 on a table
  reply) and one SNMPv3 client (:mod:`netwatch.probes.snmp_v3_client`, over the RFC 3412
  messages of :mod:`netwatch.probes.snmp_v3` and the USM of :mod:`netwatch.probes.snmp_usm`
  around the same PDU codec), each with one UDP socket per address family; both send
  numeric-OID GET and GETBULK;
- :mod:`~netwatch.probes.snmp_walk`: table walks, and what each device's agent takes;
- :mod:`~netwatch.probes.snmp_values`: the replies' values read into the data types;
- :mod:`~netwatch.probes.snmp_errors`: the one translation of errors into a ``Failure``.

A network or agent problem is returned as a ``Failure``; ``poll()`` raises only for bugs.
Garbage from a polled address is counted by the clients, and a poll that timed out while its
agent sent garbage is a PROTOCOL failure.

SNMPv3 engine state (engine id, boots, time) is kept per target (address and port), so two
agents cloned with one engine id do not share a clock; localized keys are cached per user,
engine id and protocols (the password-to-key hash is 1 MiB of hashing, done once).
pysnmp is used nowhere here any more (the tests still use it as a reference BER codec).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any, Final, TypeVar

from netwatch.configuration.profiles import ProfileSet, load_profiles
from netwatch.models import SNMP_OID_SETS, Failure, FailureKind, Sample, SnmpSettings
from netwatch.probes import snmp_oids as oids
from netwatch.probes.health import HealthData, HealthReader
from netwatch.probes.snmp_clients import SnmpClients, Target
from netwatch.probes.snmp_data import (
    HostResources,
    Interface,
    SnmpData,
    SystemInfo,
    interface_matcher,
)
from netwatch.probes.snmp_errors import RequestFailed, failure_from
from netwatch.probes.snmp_exact import needs_if_speed
from netwatch.probes.snmp_values import (
    Column,
    as_int,
    host_from,
    interface_row,
    needs_fallback,
    system_from,
    text,
)
from netwatch.probes.snmp_walk import TablePlan, TableWalker

log = logging.getLogger(__name__)

_JUNK: Final = (
    "the agent answered with data that is not an SNMP response (wrong port, or a broken agent?)"
)

T = TypeVar("T")


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
        self._clients = SnmpClients()
        self._walker = TableWalker(self._clients)
        self._no_interfaces: set[str] = set()  # devices logged as showing no interface table
        # v2c devices timing out -> whether their agent answered SNMPv1 (asked once a run of
        # timeouts: see _v1_only)
        self._timed_out: dict[str, bool] = {}
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
        return self._clients.receive_buffer_bytes

    @property
    def datagrams_dropped(self) -> int:
        """Datagrams received that answered no pending request (late, foreign, or from an
        address not polled), since the poller was made; see ``SnmpClients.dropped``."""
        return self._clients.dropped

    def table_plan(self, device: str, table: str) -> TablePlan | None:
        """How ``table`` (``interfaces``, ``interfaces-fallback``, ``host``) of ``device`` is
        walked, ``None`` before its first walk. A copy: changing it changes nothing."""
        return self._walker.plan(device, table)

    def close(self) -> None:
        """Close the sockets; the poller cannot be used afterwards."""
        if self._closed:
            return
        self._closed = True
        self._clients.close()

    # ------------------------------------------------------------------ public

    async def poll(self, device: str, address: str, settings: SnmpSettings) -> Sample[SnmpData]:
        """Collect ``settings.collect`` from ``address``; a failure is returned, not raised."""
        at, started = time.time(), time.monotonic()
        try:
            failure, data = await self._poll(device, address, settings)
        except OSError as exc:
            failure, data = failure_from(device, exc, settings), None
        if failure is not None:
            log.debug("snmp %s: %s", device, failure)
        return Sample(device, "snmp", at, time.monotonic() - started, failure, data)

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
            name: {index: text(value) for index, value in column.items()}
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
            target = await self._clients.target(address, settings)
            table = ",".join(columns)
            found = await self._walker.walk(device, target, settings, table, columns)
        except RequestFailed as exc:
            return failure_from(device, exc.error, settings), {}
        except OSError as exc:
            return failure_from(device, exc, settings), {}
        return None, found

    async def _poll(
        self, device: str, address: str, settings: SnmpSettings
    ) -> tuple[Failure | None, SnmpData | None]:
        if self._closed:
            raise RuntimeError("SnmpPoller is closed")
        try:
            target = await self._clients.target(address, settings)
        except RequestFailed as exc:
            return failure_from(device, exc.error, settings), None
        source = (str(target.address[0]), int(target.address[1]))
        junk_before = self._clients.junk(source)
        failure, data = await self._poll_target(device, target, settings)
        if (
            failure is not None
            and failure.kind is FailureKind.TIMEOUT
            and self._clients.junk(source) > junk_before
        ):
            failure = Failure(FailureKind.PROTOCOL, f"SNMP {device}: {_JUNK}")
        return failure, data

    async def _poll_target(
        self, device: str, target: Target, settings: SnmpSettings
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
                scalars = await self._clients.get_scalars(target, wanted, settings)
            except RequestFailed as exc:
                failure = failure_from(device, exc.error, settings)
                if failure.kind is FailureKind.TIMEOUT:
                    return await self._v1_only(device, target, settings, failure), None
                if failure.kind is FailureKind.AUTH:
                    return failure, None
                failures["system"] = failure
            self._timed_out.pop(device, None)

        system: SystemInfo | None = None
        if "system" in collect and "system" not in failures:
            system = system_from(scalars)
            if system is None:
                failures["system"] = Failure(
                    FailureKind.NO_SUCH_NAME,
                    f"SNMP {device}: agent has no system group (view restricted?)",
                )

        def read(name: str, step: Awaitable[T]) -> Awaitable[T | None]:
            return _kept(device, settings, name, step, failures)

        found, hr, health = await asyncio.gather(
            read("interfaces", self._interfaces(device, target, settings))
            if "interfaces" in collect
            else _none(),
            read("host", self._host(device, target, settings, scalars))
            if "host" in collect
            else _none(),
            read("health", self._read_health(device, target, settings, system))
            if "health" in collect
            else _none(),
        )
        ifaces, rows = found if found is not None else (None, None)
        data = SnmpData(system, ifaces, hr, dict(failures), rows, health)
        asked = [name for name in SNMP_OID_SETS if name in collect]
        if asked and all(name in failures for name in asked):
            return failures[asked[0]], data
        return None, data

    async def _v1_only(
        self, device: str, target: Target, settings: SnmpSettings, failure: Failure
    ) -> Failure:
        """A v2c poll timed out: if the agent answers SNMPv1, say so instead (an old agent
        that speaks only v1 drops v2c requests, which looks like a wrong community).

        One v1 GET (a single try) at the first timeout of a run, none after it.
        """
        if settings.version != "2c":
            return failure
        v1_only = self._timed_out.get(device)
        if v1_only is None:
            v1_only = self._timed_out[device] = await self._clients.answers_v1(target, settings)
        if not v1_only:
            return failure
        return Failure(
            FailureKind.PROTOCOL,
            f"SNMP {device}: the agent answers SNMPv1 only, not v2c: set snmp.version: 1",
        )

    async def _interfaces(
        self, device: str, target: Target, settings: SnmpSettings
    ) -> tuple[tuple[Interface, ...], int]:
        """The device's interfaces (filtered), and how many rows its agent showed."""
        cols = await self._walker.walk(
            device, target, settings, "interfaces", {**oids.IF_COLUMNS, **oids.IF_X_COLUMNS}
        )
        indices = set(cols["ifAdminStatus"]) | set(cols["ifName"]) | set(cols["ifOperStatus"])
        if needs_fallback(cols, indices):  # no (or a partial) ifXTable: 32-bit, ifDescr
            fallback = oids.IF_FALLBACK_COLUMNS
            table = "interfaces-fallback"
            cols.update(await self._walker.walk(device, target, settings, table, fallback))
        else:  # slow links: their exact ifSpeed, by one GET (snmp_exact)
            cols["ifSpeed"] = await self._if_speeds(target, settings, cols["ifHighSpeed"])
        self._note_interface_table(device, len(indices))
        result = []
        keep = interface_matcher(settings.interfaces)
        for idx in sorted(indices):
            if len(idx) != 1:
                continue
            row = interface_row(idx[0], idx, cols)
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

    async def _if_speeds(self, target: Target, settings: SnmpSettings, high: Column) -> Column:
        column = oids.IF_FALLBACK_COLUMNS["ifSpeed"]
        slow = [idx for idx, value in high.items() if needs_if_speed(as_int(value))][:40]
        if not slow:
            return {}
        asked = [(*column, *idx) for idx in slow]
        got = await self._clients.get_scalars(target, asked, settings)
        return {oid[len(column) :]: value for oid, value in got.items()}

    async def _host(
        self,
        device: str,
        target: Target,
        settings: SnmpSettings,
        scalars: Mapping[tuple[int, ...], Any],
    ) -> HostResources:
        cols = await self._walker.walk(device, target, settings, "host", oids.HOST_COLUMNS)
        return host_from(cols, scalars)

    async def _read_health(
        self, device: str, target: Target, settings: SnmpSettings, system: SystemInfo | None
    ) -> HealthData | None:
        """What the device's profile (matched by sysObjectID) reads."""
        profile = self._profiles.match(system.sys_object_id if system else "")
        return await self._health.read(
            device,
            profile,
            lambda wanted: self._clients.get_scalars(target, wanted, settings),
            lambda columns: self._walker.walk(
                device, target, settings, "health:" + ",".join(sorted(columns)), columns
            ),
        )


async def _kept(
    device: str,
    settings: SnmpSettings,
    name: str,
    step: Awaitable[T],
    failures: dict[str, Failure],
) -> T | None:
    """``step``'s result, or ``None`` with its failure kept in ``failures[name]``."""
    try:
        return await step
    except RequestFailed as exc:
        failures[name] = failure_from(device, exc.error, settings)
        return None


async def _none() -> None:
    return None
