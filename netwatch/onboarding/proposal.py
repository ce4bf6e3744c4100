"""What ``netwatch discover`` found, as a config to edit and against the current one.

``proposal`` turns a ``Sweep`` into the site tree that ``render_files`` writes: each device
with a role guessed from its sysDescr (``guess_role``), ``snmp`` cells where SNMP answered, and
what it said as a comment; where LLDP or CDP links join the devices found, a tree of sites each
gated by a router, else one site. ``compare`` (and ``compared``, for a config file) says which
devices are new, which moved to another address, and which did not answer.

>>> guess_role("Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M)")
<Role.SWITCH: 'switch'>
>>> guess_role("Linux web01 6.1.0-18-amd64 #1 SMP Debian")
<Role.SERVER: 'server'>
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from netwatch.config import load_config
from netwatch.models import Role

from .cells import SnmpCells
from .discover import Found, Sweep
from .rows import ImportedDevice, ImportedSite, ImportResult
from .text import Ids, slug

DISCOVER_HEADER = (
    "# Proposed by `netwatch discover`: move these devices into the province's tree, check\n"
    "# the guessed roles, then: netwatch check-config -c FILE\n"
)
KINDS = ("new", "address changed", "not seen")  # the lines of a comparison
GATEWAY_ROLES = (Role.ROUTER, Role.FIREWALL)  # a device that gates a site
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


def guess_role(descr: str) -> Role:
    """The role its sysDescr suggests (the first word list that matches), else other."""
    text = descr.lower()
    for role, words in _ROLE_WORDS:
        if any(word in text for word in words):
            return role
    return Role.OTHER


@dataclass(frozen=True, slots=True)
class Known:
    """A device of the current config, as a discovery compares it."""

    id: str
    name: str
    address: str


def compare(known: Sequence[Known], result: Sweep, swept: Sequence[str]) -> list[str]:
    """What the discovery found against the current config, one line each: new devices,
    devices whose address changed (found elsewhere under their name), and devices whose
    address was swept but did not answer. A device is matched by address, else by its sysName
    against the config's id or name (case and domain ignored).

    >>> from netwatch.probes.snmp import SystemInfo
    >>> known = [Known("rtr", "", "10.0.0.1"), Known("sw", "SW", "10.0.0.2"),
    ...          Known("ap", "", "10.0.0.3"), Known("far", "", "10.9.0.1")]
    >>> sw = SystemInfo("sw.x", "", "", None)
    >>> found = [Found("10.0.0.1", 0.001), Found("10.0.0.4", 0.001, sw)]
    >>> for line in compare(known, Sweep(4, found), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]):
    ...     print(line)
    address changed: sw 10.0.0.2 -> 10.0.0.4 (sysName sw.x)
    not seen: ap 10.0.0.3
    """
    by_address = {_address(k.address): k for k in known}
    by_name: dict[str, Known] = {}
    for k in known:
        for key in (k.id, k.name, slug(k.name)):
            if key:
                by_name.setdefault(_short(key), k)
    matched: set[str] = set()
    new: list[str] = []
    changed: list[str] = []
    found_addresses = {item.address for item in result.found}
    for item in result.found:
        if item.address in by_address:
            matched.add(by_address[item.address].id)
            continue
        name = item.system.sys_name if item.system else ""
        was = by_name.get(_short(name)) if name else None
        if was is not None and _address(was.address) not in found_addresses:
            matched.add(was.id)
            changed.append(
                f"address changed: {was.id} {was.address} -> {item.address} (sysName {name})"
            )
        else:
            new.append(f"new: {item.address}" + (f" ({name})" if name else ""))
    swept_set = set(swept)
    missing = [
        f"not seen: {k.id} {k.address}"
        for k in known
        if k.id not in matched and _address(k.address) in swept_set
    ]
    return changed + missing + new


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def compared(path: str, result: Sweep, hosts: list[str]) -> list[str]:
    """The discovery against the config at ``path`` (its secrets are not read): a summary line,
    then ``compare``'s lines, indented."""
    config = load_config(path, secrets=False)
    known = [Known(d.id, d.name, d.address) for d in config.devices]
    # After Ctrl-C, an address not reached is not "not seen": only those swept count.
    swept = hosts if not result.interrupted else []
    lines = compare(known, result, swept)
    counts = {kind: sum(1 for line in lines if line.startswith(kind)) for kind in KINDS}
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    return [f"compared with {path}: {summary}", *("  " + line for line in lines)]


def proposal(
    result: Sweep,
    *,
    site_name: str,
    level: str,
    cells: SnmpCells | None,
    levels: Sequence[str] = (),
    root: str | None = None,
) -> ImportResult:
    """The devices found as a config (``render_files`` writes it).

    When LLDP (or CDP) links join devices that were found, they are a tree: the root router
    (``root``, or the router with the most links) is the gateway of a ``level`` site; every
    router or firewall reached from it through the links is the gateway of a site one level
    down (``levels``, the last repeated), holding the devices reached through it. Devices no
    link reaches stay in the top site. Without links: one site holding every device found.
    """
    ids = Ids("device")
    devices = {item.address: _device(item, ids, cells) for item in result.found}
    links = _links(result.found)
    top = ImportedSite(slug(site_name) or "discovered", site_name, level, 0)
    if not links:
        top.devices.extend(devices.values())
        if top.devices:
            routers = [d for d in top.devices if d.role is Role.ROUTER]
            top.gateway = (routers or top.devices)[0].id
        return ImportResult((level,), [top], [])
    names = (level, *(levels or ("commune",)))
    if root is None or root not in devices:
        gateways = [a for a, d in devices.items() if d.role in GATEWAY_ROLES]
        pool = gateways or list(links)
        root = max(pool, key=lambda a: (len(links.get(a, ())), -_order(a)))
    site_of = _tree(top, root, devices, links, names, ids)
    for address, device in devices.items():
        if address not in site_of:
            device.comment = "no LLDP/CDP link to the others; " + device.comment
            top.devices.append(device)
    used = sorted({site.level for site in site_of.values()}, key=names.index)
    return ImportResult(tuple(used), [top], [])


def _tree(
    top: ImportedSite,
    root: str,
    devices: Mapping[str, ImportedDevice],
    links: Mapping[str, set[str]],
    names: Sequence[str],
    ids: Ids,
) -> dict[str, ImportedSite]:
    """Walks the links breadth-first from ``root`` (the gateway of ``top``), lowest address
    first: a router or firewall reached gates a new site one level down (``names``, the last
    repeated), any other device joins the site it was reached from. Address -> its site."""
    depth = {root: 0}
    top.gateway = devices[root].id
    top.devices.append(devices[root])
    site_of = {root: top}
    queue = [root]
    while queue:
        here = queue.pop(0)
        for there in sorted(links.get(here, ()), key=_order):
            if there in site_of:
                continue
            device = devices[there]
            if device.role in GATEWAY_ROLES:
                deeper = depth[here] + 1
                name = device.name or device.id
                child = ImportedSite(
                    ids.make("site-" + (slug(name) or device.id)),
                    name,
                    names[min(deeper, len(names) - 1)],
                    0,
                    gateway=device.id,
                )
                site_of[here].children.append(child)
                site_of[there] = child
                depth[there] = deeper
            else:
                site_of[there] = site_of[here]
                depth[there] = depth[here]
            site_of[there].devices.append(device)
            queue.append(there)
    return site_of


def _device(item: Found, ids: Ids, cells: SnmpCells | None) -> ImportedDevice:
    system = item.system
    name = system.sys_name if system else ""
    notes = [f"ping {item.rtt * 1000:.1f} ms"]
    if system is not None:
        notes.append(" ".join(system.sys_descr.split())[:80])
        notes.append(f"sysObjectID {system.sys_object_id}")
    elif item.snmp_failure:
        notes.append(f"SNMP: {item.snmp_failure}")
    for protocol in ("LLDP", "CDP"):
        seen = [str(n) for n in item.neighbours if n.protocol == protocol]
        if seen:
            notes.append(f"{protocol}: " + ", ".join(seen))
    return ImportedDevice(
        ids.make(slug(name) or "host-" + slug(item.address)),
        name,
        item.address,
        guess_role(system.sys_descr) if system else Role.OTHER,
        cells if system is not None else None,
        0,
        comment="; ".join(notes),
    )


def _links(found: Sequence[Found]) -> dict[str, set[str]]:
    """Address -> the addresses of found devices its neighbour tables name (both ways); by
    management address, else by name (sysName, case and domain ignored)."""
    by_name: dict[str, str] = {}
    for item in found:
        if item.system is not None and item.system.sys_name:
            by_name.setdefault(_short(item.system.sys_name), item.address)
    addresses = {item.address for item in found}
    links: dict[str, set[str]] = {}
    for item in found:
        for neighbour in item.neighbours:
            there = neighbour.address if neighbour.address in addresses else ""
            there = there or by_name.get(_short(neighbour.name), "")
            if there and there != item.address:
                links.setdefault(item.address, set()).add(there)
                links.setdefault(there, set()).add(item.address)
    return links


def _short(name: str) -> str:
    return name.strip().lower().split(".")[0]


def _order(address: str) -> int:
    return int(ipaddress.ip_address(address))
