"""``netwatch discover CIDR...``: the sweep, what answers on a network and what it says.

Every address of the networks is pinged once, at most ``rate`` new pings a second (a burst of
thousands would make other pingers on the WAN see false loss, and trip IDSs); those that answer
are asked by SNMP (one community or v3 user for all) for sysName, sysDescr and sysObjectID and
for their LLDP and CDP neighbours. The outcome is a ``Sweep`` of ``Found`` devices; the module
``proposal`` turns it into a config to edit and sets it against the current one.

Secrets stay references: the community or v3 passwords are read from ``env:NAME`` or
``file:PATH`` to ask the devices (``read_reference``), and only the reference is written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from netwatch.errors import NetwatchError
from netwatch.models import IcmpSettings, Secret, SnmpSettings
from netwatch.probes.icmp import IcmpProber, detect_icmp_mode
from netwatch.probes.snmp import SnmpPoller, SystemInfo

log = logging.getLogger(__name__)

MAX_HOSTS = 4096  # a /20: more needs --max-hosts, so a typo (/8) does not sweep a WAN
PING_IN_FLIGHT = 256
SNMP_IN_FLIGHT = 32
# LLDP-MIB lldpRemTable (IEEE 802.1AB): the neighbour's system name and port.
LLDP_COLUMNS: Mapping[str, tuple[int, ...]] = {
    "sys_name": (1, 0, 8802, 1, 1, 2, 1, 4, 1, 1, 9),
    "port_id": (1, 0, 8802, 1, 1, 2, 1, 4, 1, 1, 7),
}
# lldpRemManAddrTable: the neighbour's management address is in the index (timeMark,
# localPort, remIndex, subtype, length, octets...); lldpRemManAddrIfSubtype is walked for it.
LLDP_MAN_ADDR: Mapping[str, tuple[int, ...]] = {
    "if_subtype": (1, 0, 8802, 1, 1, 2, 1, 4, 2, 1, 3),
}
# CISCO-CDP-MIB cdpCacheTable (index ifIndex.deviceIndex): the neighbour's device id, port,
# and address (cdpCacheAddress: 4 octets when cdpCacheAddressType is ip(1), as it nearly
# always is; other lengths are other protocols, and left out).
CDP_TABLE = (1, 3, 6, 1, 4, 1, 9, 9, 23, 1, 2, 1, 1)
CDP_COLUMNS: Mapping[str, tuple[int, ...]] = {
    "address": (*CDP_TABLE, 4),
    "device_id": (*CDP_TABLE, 6),
    "port": (*CDP_TABLE, 7),
}


@dataclass(frozen=True, slots=True)
class Found:
    """One address that answered the ping, and what SNMP said about it."""

    address: str
    rtt: float
    system: SystemInfo | None = None
    neighbours: tuple[Neighbour, ...] = ()
    snmp_failure: str = ""


@dataclass(frozen=True, slots=True)
class Neighbour:
    """A neighbour the device's LLDP (or CDP) table names."""

    name: str
    port: str = ""
    address: str = ""  # its management address, when the table gives one (IPv4 only)
    protocol: str = "LLDP"

    def __str__(self) -> str:
        return f"{self.name} ({self.port})" if self.port else self.name


@dataclass
class Sweep:
    """The outcome of a discovery, for the proposal and the summary line."""

    swept: int
    found: list[Found] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False  # stopped by Ctrl-C: swept is how far it got


def hosts_of(networks: Sequence[str], max_hosts: int) -> list[str]:
    """The addresses to sweep (a network's hosts, or one address), in order, without repeats.
    Raises ``ValueError`` for a bad network or more than ``max_hosts`` addresses."""
    out: dict[str, None] = {}
    for text in networks:
        try:
            network = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise ValueError(f"{text!r} is not a network (e.g. 10.20.1.0/24)") from None
        if network.num_addresses > max_hosts + 2:
            raise ValueError(
                f"{text} has {network.num_addresses} addresses; at most {max_hosts} are swept "
                "(raise --max-hosts if that is meant)"
            )
        hosts = list(network.hosts()) if network.num_addresses > 1 else [network.network_address]
        out.update((str(ip), None) for ip in hosts)
        if len(out) > max_hosts:
            raise ValueError(f"more than {max_hosts} addresses in all; raise --max-hosts")
    return list(out)


def read_reference(reference: str, environ: Mapping[str, str]) -> Secret:
    """``env:NAME`` or ``file:PATH`` read now, to ask the devices. Raises ``NetwatchError``."""
    kind, sep, where = reference.partition(":")
    if not sep or kind not in ("env", "file") or not where:
        raise NetwatchError(
            "give the community as env:NAME or file:PATH (it is never written or shown)"
        )
    if kind == "env":
        value = environ.get(where, "")
        if not value:
            raise NetwatchError(f"environment variable {where} is not set or empty")
        return Secret(reference, value)
    try:
        with open(where, encoding="utf-8") as stream:
            value = stream.read().removesuffix("\n")
    except OSError as exc:
        raise NetwatchError(f"cannot read {where}: {exc.strerror or exc}") from exc
    if not value:
        raise NetwatchError(f"{where} is empty")
    return Secret(reference, value)


Progress = Callable[[int, int, int, int], None]  # swept, total, answered ping, answered SNMP


async def sweep(
    hosts: Sequence[str],
    *,
    rate: float,
    wait: float,
    snmp: SnmpSettings | None,
    clock: Callable[[], float] = time.monotonic,
    stop: asyncio.Event | None = None,
    progress: Progress | None = None,
    every: float = 5.0,
) -> Sweep:
    """Ping every host once (waiting ``wait`` seconds for the reply), paced at ``rate`` a
    second; ask those that answer by SNMP. ``progress`` is told every ``every`` seconds how
    far it is. When ``stop`` is set (Ctrl-C), no more is sent and what was found so far is
    returned, ``interrupted``: pings in flight are dropped, SNMP answers not yet in too."""
    started = clock()
    stop = stop or asyncio.Event()
    prober = IcmpProber(detect_icmp_mode())
    settings = IcmpSettings(count=1, timeout=wait, spacing=0.0)
    limit = asyncio.Semaphore(PING_IN_FLIGHT)
    answered: list[tuple[int, str, float]] = []
    result = Sweep(0)
    pinged = [0]

    async def ping(index: int, host: str) -> None:
        async with limit:
            sample = await prober.ping(host, host, settings)
        pinged[0] += 1
        if sample.ok and sample.data is not None:
            answered.append((index, host, sample.data.rtt_avg))

    async def report() -> None:
        while True:
            await asyncio.sleep(every)
            if progress is not None:
                by_snmp = sum(1 for item in result.found if item.system is not None)
                progress(pinged[0], len(hosts), len(answered), by_snmp)

    reporter = asyncio.create_task(report())
    tasks: list[asyncio.Task[None]] = []
    try:
        for index, host in enumerate(hosts):
            delay = started + index / rate - clock()
            if delay > 0 and await _stopped(stop, delay):
                break
            if stop.is_set():
                break
            tasks.append(asyncio.create_task(ping(index, host)))
        await _all_or_stop(tasks, stop)
        answered.sort()
        result.found = [Found(host, rtt) for _, host, rtt in answered]
        result.swept = pinged[0]
        if snmp is not None and result.found and not stop.is_set():
            await _ask_snmp(result.found, snmp, stop)
    finally:
        reporter.cancel()
        await prober.close()
    result.interrupted = stop.is_set()
    result.seconds = clock() - started
    return result


async def _all_or_stop(tasks: list[asyncio.Task[None]], stop: asyncio.Event) -> None:
    """Wait for all ``tasks``, or until ``stop`` is set: those not done are then cancelled.
    A task's exception (a bug: failures are data) is raised."""
    try:
        if tasks and not stop.is_set():
            stopping = asyncio.create_task(stop.wait())
            everything = asyncio.create_task(asyncio.wait(tasks))
            await asyncio.wait((everything, stopping), return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            everything.cancel()
            await asyncio.gather(stopping, everything, return_exceptions=True)
    finally:
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome


async def _stopped(stop: asyncio.Event, delay: float) -> bool:
    """Wait ``delay`` seconds, or less if ``stop`` is set; whether it was."""
    try:
        await asyncio.wait_for(stop.wait(), delay)
    except TimeoutError:
        return False
    return True


async def _ask_snmp(found: list[Found], settings: SnmpSettings, stop: asyncio.Event) -> None:
    """Fills ``found`` in place, each device as its answers come, so that a stop keeps them."""
    poller = await SnmpPoller.create()
    limit = asyncio.Semaphore(SNMP_IN_FLIGHT)
    system_only = dataclasses.replace(settings, collect=("system",))

    async def ask(item: Found) -> Found:
        async with limit:
            sample = await poller.poll(item.address, item.address, system_only)
            if not sample.ok or sample.data is None or sample.data.system is None:
                return Found(item.address, item.rtt, snmp_failure=str(sample.failure or ""))
            failure, lldp = await poller.walk_text(
                item.address, item.address, settings, LLDP_COLUMNS
            )
            addresses: dict[tuple[int, ...], str] = {}
            if failure is None and lldp.get("sys_name"):
                _, man = await poller.walk_text(item.address, item.address, settings, LLDP_MAN_ADDR)
                addresses = lldp_addresses(man.get("if_subtype", {}))
            cdp_failure, cdp = await poller.walk_octets(
                item.address, item.address, settings, CDP_COLUMNS
            )
        names, ports = lldp.get("sys_name", {}), lldp.get("port_id", {})
        neighbours = tuple(
            Neighbour(name, ports.get(index, ""), addresses.get(index, ""))
            for index, name in sorted(names.items())
            if name
        ) + cdp_neighbours(cdp)
        if cdp_failure is not None:
            log.debug("discover %s: no CDP table: %s", item.address, cdp_failure)
        if failure is not None:
            log.debug("discover %s: no LLDP table: %s", item.address, failure)
        return Found(item.address, item.rtt, sample.data.system, neighbours)

    async def fill(position: int) -> None:
        found[position] = await ask(found[position])

    try:
        await _all_or_stop([asyncio.create_task(fill(i)) for i in range(len(found))], stop)
    finally:
        poller.close()


def lldp_addresses(column: Mapping[tuple[int, ...], str]) -> dict[tuple[int, ...], str]:
    """lldpRemManAddrTable indexes -> the neighbour's IPv4 address, by lldpRemTable index.

    >>> lldp_addresses({(0, 1, 1, 1, 4, 10, 0, 0, 1): "2"})
    {(0, 1, 1): '10.0.0.1'}
    """
    out: dict[tuple[int, ...], str] = {}
    for index in column:
        if len(index) == 9 and index[3] == 1 and index[4] == 4:
            out.setdefault(index[:3], ".".join(map(str, index[5:])))
    return out


def cdp_neighbours(table: Mapping[str, Mapping[tuple[int, ...], bytes]]) -> tuple[Neighbour, ...]:
    """cdpCacheTable columns (raw octets) -> the neighbours, in index order.

    >>> cdp_neighbours({"device_id": {(3, 1): b"sw-02.example"}, "port": {(3, 1): b"Gi0/2"},
    ...                 "address": {(3, 1): bytes([10, 0, 0, 0])}})
    (Neighbour(name='sw-02.example', port='Gi0/2', address='10.0.0.0', protocol='CDP'),)
    """
    names, ports = table.get("device_id", {}), table.get("port", {})
    addresses = table.get("address", {})
    out = []
    for index, raw in sorted(names.items()):
        name = raw.decode("utf-8", "replace").strip("\x00 ")
        if not name:
            continue
        octets = addresses.get(index, b"")
        ip = ".".join(map(str, octets)) if len(octets) == 4 else ""  # ip(1): 4 octets
        port = ports.get(index, b"").decode("utf-8", "replace").strip("\x00 ")
        out.append(Neighbour(name, port, ip, "CDP"))
    return tuple(out)
