"""The second pass of the loader: the site tree resolved into a validated ``Config``.

After :class:`~netwatch.configuration.files.FileReader` has read every file into drafts, the
:class:`Builder` attaches included sites under their ``parent``, walks the tree top-down to check
levels and stack inherited settings, resolves gateways, contacts and dependencies, and looks for
dependency cycles. Every problem is collected; ``ConfigError`` is raised once, at the end.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "n.yaml"
>>> _ = path.write_text("sites: [{id: hq, devices: [{id: r1, address: 10.0.0.1}]}]")
>>> [d.id for d in Builder({}).build(str(path)).devices]
['r1']
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from netwatch.errors import ConfigError
from netwatch.models import AgentSettings, Device, IcmpSettings, Role, Site, SnmpSettings
from netwatch.settings.alerting import AlertSettings
from netwatch.settings.config import Config
from netwatch.settings.notify import NotifySettings

from .alerting import resolve_windows
from .drafts import DeviceDraft, SiteDraft
from .files import FileReader
from .notify import contact_problems
from .services import parse_services
from .settings import Layer, Stacked, build_icmp, build_snmp
from .source import Problems, join
from .up_checks import resolve_up_checks


@dataclass
class _Walk:
    """What a site hands down to its children during the tree walk."""

    eff: Stacked
    level_index: int  # -1 above the root
    contacts: tuple[str, ...]
    gateway: DeviceDraft | None  # the nearest gateway above


class Builder(FileReader):
    """Reads one configuration (with its includes) into a ``Config``, or raises ``ConfigError``."""

    # ------------------------------------------------------------------ entry

    def build(self, path: str) -> Config:
        agent, defaults = self.read(path)
        self._attach()
        sites = self._walk(agent, defaults)
        self._check_merges(sites)
        self._check_dependencies()
        windows = resolve_windows(
            self.windows, self.site_ids, self.device_ids, self.problems, _unknown
        )
        contact_problems(self.contacts, self.notify, self.channel_at, self.problems)
        if self.problems.items:
            raise ConfigError(self.problems.items)
        alerting, notify = _share_external_url(self.alerting, self.notify.settings)
        return Config(
            agent=agent,
            contacts=self.contacts,
            sites=tuple(_site(draft) for draft in sites),
            devices=tuple(_device(draft) for draft in self.devices),
            files=tuple(self.files),
            alerting=alerting,
            maintenance=windows,
            notify=notify,
            traps=self.traps,
        )

    def _attach(self) -> None:
        """Puts included sites that name a ``parent`` under that site."""
        for site in self.adopted:
            assert site.parent_ref is not None
            name, node = site.parent_ref
            parent = self.site_ids.get(name)
            if parent is None:
                site.check.report(
                    node, join(site.path, "parent"), _unknown("site", name, self.site_ids)
                )
                continue
            site.parent = parent
            parent.children.append(site)

    def _walk(self, agent: AgentSettings, defaults: Layer) -> list[SiteDraft]:
        """Every site reachable from a root, parents first, with inherited settings resolved."""
        order: list[SiteDraft] = []
        start = _Walk(Stacked.root().over(defaults), -1, (), None)
        for root in self.roots:
            self._visit(root, start, agent.hierarchy, order)
        seen = set(map(id, order))
        for site in self.adopted:
            if site.parent is not None and id(site) not in seen:
                # Its parent is inside itself, so it hangs from nothing.
                name, node = site.parent_ref or ("", site.node)
                site.check.report(
                    node,
                    join(site.path, "parent"),
                    f"site '{site.id}' cannot have parent '{name}', which is inside it",
                )
        return order

    def _visit(
        self, site: SiteDraft, above: _Walk, hierarchy: tuple[str, ...], order: list[SiteDraft]
    ) -> None:
        order.append(site)
        level_index = self._check_level(site, above.level_index, hierarchy)
        eff = above.eff.over(site.layer)
        site.resolved_contacts = self._resolve_contacts(site, above.contacts)
        gateway = self._resolve_gateway(site)
        site.resolved_gateway = gateway
        cache = _SiteSettings(eff, self.problems)
        for device in site.devices:
            self._resolve_device(device, eff, cache, gateway, above.gateway)
        below = _Walk(eff, level_index, site.resolved_contacts, gateway or above.gateway)
        for child in site.children:
            self._visit(child, below, hierarchy, order)

    def _check_level(self, site: SiteDraft, parent_index: int, hierarchy: tuple[str, ...]) -> int:
        check, path = site.check, join(site.path, "level")
        if site.level is None:
            if parent_index + 1 < len(hierarchy):
                site.resolved_level = hierarchy[parent_index + 1]
                return parent_index + 1
            check.report(
                site.node,
                site.path,
                f"site '{site.id}' sits below the last level '{hierarchy[-1]}'; "
                "add a level to agent.hierarchy",
            )
            return parent_index + 1
        level, node = site.level
        site.resolved_level = level
        if level not in hierarchy:
            levels = ", ".join(hierarchy)
            check.report(node, path, f"level '{level}' is not in agent.hierarchy ({levels})")
            return parent_index + 1
        level_index = hierarchy.index(level)
        if level_index <= parent_index:
            assert site.parent is not None
            check.report(
                node,
                path,
                f"level '{level}' must be deeper than the level of parent site "
                f"'{site.parent.id}' ({site.parent.resolved_level})",
            )
        return level_index

    def _resolve_contacts(self, site: SiteDraft, inherited: tuple[str, ...]) -> tuple[str, ...]:
        if site.contacts is None:
            return inherited
        for name, node in site.contacts:
            if name not in self.contacts and name not in self.contact_at:
                site.check.report(
                    node, join(site.path, "contacts"), _unknown("contact", name, self.contacts)
                )
        return tuple(dict.fromkeys(name for name, _ in site.contacts))

    def _resolve_gateway(self, site: SiteDraft) -> DeviceDraft | None:
        if site.gateway is None:
            # The site's link upstream is most likely its router.
            routers = [d for d in site.devices if d.role is Role.ROUTER]
            candidates = routers or site.devices
            return candidates[0] if candidates else None
        name, node = site.gateway
        path = join(site.path, "gateway")
        device = self.device_ids.get(name)
        if device is None:
            own = {d.id: d for d in site.devices}
            site.check.report(node, path, _unknown("gateway device", name, own or self.device_ids))
            return None
        if device.site is not site:
            site.check.report(
                node,
                path,
                f"gateway '{name}' is a device of site '{device.site.id}'; "
                "a gateway must be one of this site's own devices",
            )
            return None
        return device

    def _resolve_device(
        self,
        device: DeviceDraft,
        site_eff: Stacked,
        cache: _SiteSettings,
        gateway: DeviceDraft | None,
        upstream_gateway: DeviceDraft | None,
    ) -> None:
        layer = device.layer
        eff = site_eff if layer.empty and layer.snmp_at is None else site_eff.over(layer)
        device.values = eff
        if layer.icmp or layer.icmp_on is not None:
            device.icmp = build_icmp(eff, self.problems)
        else:
            device.icmp = cache.icmp()
        if layer.snmp_at is not None:
            shared = None if layer.snmp else cache.snmp()
            device.snmp = shared or build_snmp(eff, self.problems)
        if device.services_node is not None:
            device.services = parse_services(
                device.check,
                device.services_node,
                join(device.path, "services"),
                device.address,
                eff,
            )
        has = {name for name, on in (("icmp", device.icmp), ("snmp", device.snmp)) if on}
        device.up_checks = resolve_up_checks(
            eff.values, device.role, has, self.problems, device.check.loc(device.node, device.path)
        )
        link = upstream_gateway if device is gateway else gateway
        device.upstream = link.id if link is not None else None
        device.walked = True

    def _check_merges(self, sites: list[SiteDraft]) -> None:
        """A unit in ``formerly`` is gone (no other site has its id: the merged site may keep
        the id of one of its units) and went into one site only."""
        merged_into: dict[str, SiteDraft] = {}
        for site in sites:
            for old, node in site.formerly or ():
                path = join(site.path, "formerly")
                if old in self.site_ids and old != site.id:
                    site.check.report(
                        node,
                        path,
                        f"site '{old}' still exists; 'formerly' lists the ids of units that are "
                        "gone (merged into this one)",
                    )
                elif old in merged_into and merged_into[old] is not site:
                    site.check.report(
                        node, path, f"'{old}' is already merged into site '{merged_into[old].id}'"
                    )
                merged_into.setdefault(old, site)

    # ------------------------------------------------------------------ dependencies

    def _check_dependencies(self) -> None:
        edges: dict[str, tuple[str, ...]] = {}
        for device in self.devices:
            for name, node in device.depends or ():
                if name not in self.device_ids:
                    device.check.report(
                        node,
                        join(device.path, "depends_on"),
                        _unknown("device", name, self.device_ids, "in depends_on"),
                    )
            edges[device.id] = tuple(d for d in device.depends_on if d in self.device_ids)
        position = {device.id: i for i, device in enumerate(self.devices)}
        for cycle in find_cycles(list(edges), edges):
            # Report at the explicit depends_on that appears first in the files: implicit
            # (gateway) links only point upwards, so every cycle has at least one.
            explicit = [d for d in cycle if self.device_ids[d].depends is not None]
            first = min(explicit or cycle, key=position.__getitem__)
            turn = cycle.index(first)
            names = [*cycle[turn:], *cycle[:turn], first]
            device = self.device_ids[first]
            node = device.depends_node or device.node
            device.check.report(
                node, join(device.path, "depends_on"), f"dependency cycle: {' -> '.join(names)}"
            )


class _SiteSettings:
    """The ICMP and SNMP settings a site hands to devices that add nothing of their own,
    built once per site instead of once per device."""

    def __init__(self, eff: Stacked, problems: Problems) -> None:
        self._eff = eff
        self._problems = problems
        self._icmp: tuple[IcmpSettings | None] | None = None
        self._snmp: SnmpSettings | None = None

    def icmp(self) -> IcmpSettings | None:
        if self._icmp is None:
            self._icmp = (build_icmp(self._eff, self._problems),)
        return self._icmp[0]

    def snmp(self) -> SnmpSettings | None:
        # Without an snmp mapping above, problems belong at each device's own `snmp: {}`.
        if self._snmp is None and self._eff.snmp_at:
            self._snmp = build_snmp(self._eff, self._problems)
        return self._snmp


def find_cycles(order: Iterable[str], edges: Mapping[str, tuple[str, ...]]) -> list[list[str]]:
    """Cycles met by a depth-first search (each node list without repeating the first).

    >>> find_cycles("abc", {"a": ("b",), "b": ("c",), "c": ("a",)})
    [['a', 'b', 'c']]
    """
    done: set[str] = set()
    cycles: list[list[str]] = []
    for start in order:
        if start in done:
            continue
        path = [start]
        on_path = {start: 0}
        stack = [iter(edges.get(start, ()))]
        while stack:
            for nxt in stack[-1]:
                if nxt in on_path:
                    cycles.append(path[on_path[nxt] :])
                elif nxt not in done:
                    on_path[nxt] = len(path)
                    path.append(nxt)
                    stack.append(iter(edges.get(nxt, ())))
                    break
            else:
                stack.pop()
                finished = path.pop()
                del on_path[finished]
                done.add(finished)
    return cycles


# --------------------------------------------------------------------------- helpers


def _unknown(what: str, name: str, known: Mapping[str, object], where: str = "") -> str:
    message = f"unknown {what} '{name}'" + (f" {where}" if where else "")
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"{message}; did you mean '{close[0]}'?" if close else message


def _share_external_url(
    alerting: AlertSettings, notify: NotifySettings
) -> tuple[AlertSettings, NotifySettings]:
    """The status page's URL, written in either section, serves both (links in messages)."""
    url = notify.external_url or alerting.external_url
    return replace(alerting, external_url=alerting.external_url or url), replace(
        notify, external_url=url
    )


def _site(draft: SiteDraft) -> Site:
    gateway = draft.resolved_gateway
    return Site(
        id=draft.id,
        name=draft.name,
        level=draft.resolved_level,
        parent=draft.parent.id if draft.parent else None,
        contacts=draft.resolved_contacts,
        gateway=gateway.id if gateway else None,
        devices=tuple(d.id for d in draft.devices),
        children=tuple(c.id for c in draft.children),
        formerly=tuple(dict.fromkeys(old for old, _ in draft.formerly or ())),
        merged_at=draft.merged_at,
    )


def _device(draft: DeviceDraft) -> Device:
    eff = draft.values or Stacked.root()
    return Device(
        id=draft.id,
        address=draft.address,
        role=draft.role,
        site=draft.site.id,
        name=draft.name,
        icmp=draft.icmp,
        snmp=draft.snmp,
        services=draft.services,
        depends_on=draft.depends_on,
        down_after=eff.value("down_after", 3),
        up_after=eff.value("up_after", 2),
        retry_interval=eff.value("retry_interval", 10.0),
        up_checks=draft.up_checks,
    )
