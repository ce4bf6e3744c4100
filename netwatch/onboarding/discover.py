"""``netwatch discover CIDR...``: what answers on a network, proposed as a config to edit.

Every address of the networks is pinged once, at most ``rate`` new pings a second (a burst of
thousands would make other pingers on the WAN see false loss, and trip IDSs); those that answer
are asked by SNMP (one community or v3 user for all) for sysName, sysDescr and sysObjectID and
for their LLDP neighbours. The proposal is one site holding every device found, with a role
guessed from sysDescr, ``snmp: {}`` where SNMP answered, and the LLDP neighbours as a comment,
for a person to move into the province's tree.

Secrets stay references: the community is read from ``env:NAME`` or ``file:PATH`` to ask the
devices, and only the reference is written.

>>> guess_role("Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M)")
<Role.SWITCH: 'switch'>
>>> guess_role("Linux web01 6.1.0-18-amd64 #1 SMP Debian")
<Role.SERVER: 'server'>
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
from netwatch.models import IcmpSettings, Role, Secret, SnmpSettings
from netwatch.probes.icmp import IcmpProber, detect_icmp_mode
from netwatch.probes.snmp import SnmpPoller, SystemInfo

from .cells import SnmpCells
from .rows import ImportedDevice, ImportedSite, ImportResult
from .text import Ids, slug

log = logging.getLogger(__name__)

DISCOVER_HEADER = (
    "# Proposed by `netwatch discover`: move these devices into the province's tree, check\n"
    "# the guessed roles, then: netwatch check-config -c FILE\n"
)
MAX_HOSTS = 4096  # a /20: more needs --max-hosts, so a typo (/8) does not sweep a WAN
PING_IN_FLIGHT = 256
SNMP_IN_FLIGHT = 32
# LLDP-MIB lldpRemTable (IEEE 802.1AB): the neighbour's system name and port.
LLDP_COLUMNS: Mapping[str, tuple[int, ...]] = {
    "sys_name": (1, 0, 8802, 1, 1, 2, 1, 4, 1, 1, 9),
    "port_id": (1, 0, 8802, 1, 1, 2, 1, 4, 1, 1, 7),
}
# sysDescr words, most specific first. Vendors put the product line there, rarely a role.
_ROLE_WORDS: tuple[tuple[Role, tuple[str, ...]], ...] = (
    (
        Role.FIREWALL,
        ("fortigate", "fortios", "pfsense", "opnsense", "adaptive security", "srx", "firewall"),
    ),
    (
        Role.SWITCH,
        ("switch", "catalyst", "c2960", "c3750", "procurve", "aruba", "comware", "nx-os"),
    ),
    (Role.ROUTER, ("router", "routeros", "mikrotik", "junos", "ios xe", "ios-xe", "isr", "vyos")),
    (Role.SERVER, ("linux", "windows server", "vmware", "esxi", "freebsd", "ubuntu", "debian")),
    (Role.WORKSTATION, ("windows",)),
)


@dataclass(frozen=True, slots=True)
class Found:
    """One address that answered the ping, and what SNMP said about it."""

    address: str
    rtt: float
    system: SystemInfo | None = None
    neighbours: tuple[str, ...] = ()  # LLDP: "name (port)"
    snmp_failure: str = ""


@dataclass
class Sweep:
    """The outcome of a discovery, for the proposal and the summary line."""

    swept: int
    found: list[Found] = field(default_factory=list)
    seconds: float = 0.0


def guess_role(descr: str) -> Role:
    text = descr.lower()
    for role, words in _ROLE_WORDS:
        if any(word in text for word in words):
            return role
    return Role.OTHER


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


async def sweep(
    hosts: Sequence[str],
    *,
    rate: float,
    wait: float,
    snmp: SnmpSettings | None,
    clock: Callable[[], float] = time.monotonic,
) -> Sweep:
    """Ping every host once (waiting ``wait`` seconds for the reply), paced at ``rate`` a
    second; ask those that answer by SNMP."""
    started = clock()
    prober = IcmpProber(detect_icmp_mode())
    settings = IcmpSettings(count=1, timeout=wait, spacing=0.0)
    limit = asyncio.Semaphore(PING_IN_FLIGHT)
    answered: list[tuple[int, str, float]] = []

    async def ping(index: int, host: str) -> None:
        async with limit:
            sample = await prober.ping(host, host, settings)
        if sample.ok and sample.data is not None:
            answered.append((index, host, sample.data.rtt_avg))

    tasks = []
    try:
        for index, host in enumerate(hosts):
            delay = started + index / rate - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(ping(index, host)))
        await asyncio.gather(*tasks)
    finally:
        await prober.close()
    answered.sort()
    found = [Found(host, rtt) for _, host, rtt in answered]
    if snmp is not None and found:
        found = await _ask_snmp(found, snmp)
    return Sweep(len(hosts), found, clock() - started)


async def _ask_snmp(found: list[Found], settings: SnmpSettings) -> list[Found]:
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
        names, ports = lldp.get("sys_name", {}), lldp.get("port_id", {})
        neighbours = tuple(
            f"{name} ({ports[index]})" if ports.get(index) else name
            for index, name in sorted(names.items())
            if name
        )
        if failure is not None:
            log.debug("discover %s: no LLDP table: %s", item.address, failure)
        return Found(item.address, item.rtt, sample.data.system, neighbours)

    try:
        return list(await asyncio.gather(*(ask(item) for item in found)))
    finally:
        poller.close()


def proposal(
    result: Sweep, *, site_name: str, level: str, reference: str | None, version: str
) -> ImportResult:
    """The devices found as one site of a config (``render_files`` writes it)."""
    site = ImportedSite(slug(site_name) or "discovered", site_name, level, 0)
    ids = Ids("device")
    cells = SnmpCells(version, community=_split(reference)) if reference else None
    for item in result.found:
        system = item.system
        name = system.sys_name if system else ""
        base = slug(name) or "host-" + slug(item.address)
        notes = [f"ping {item.rtt * 1000:.1f} ms"]
        if system is not None:
            notes.append(" ".join(system.sys_descr.split())[:80])
            notes.append(f"sysObjectID {system.sys_object_id}")
        if item.neighbours:
            notes.append("LLDP: " + ", ".join(item.neighbours))
        site.devices.append(
            ImportedDevice(
                ids.make(base),
                name,
                item.address,
                guess_role(system.sys_descr) if system else Role.OTHER,
                cells if system is not None else None,
                0,
                comment="; ".join(notes),
            )
        )
    if site.devices:
        routers = [d for d in site.devices if d.role is Role.ROUTER]
        site.gateway = (routers or site.devices)[0].id
    return ImportResult((level,), [site], [])


def _split(reference: str) -> tuple[str, str]:
    kind, _, where = reference.partition(":")
    return kind, where
