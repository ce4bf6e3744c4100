"""The site tree and dependency graph of a loaded config, indexed for the rest of netwatch.

Built once per (re)load; the metrics collector reads labels from it, topology walks ancestors
and dependents, and a reload asks :func:`diff` which devices to reschedule.

>>> from netwatch.models import AgentSettings, Device, Role, Site
>>> from netwatch.settings.config import Config
>>> site = Site("can-tho", "Cần Thơ", "province", None, (), "rtr", ("rtr",), ())
>>> device = Device("rtr", "10.10.0.1", Role.ROUTER, "can-tho")
>>> inv = build_inventory(Config(AgentSettings(), {}, (site,), (device,), ("n.yaml",)))
>>> inv.labels("rtr")
{'device': 'rtr', 'site': 'can-tho', 'role': 'router', 'province': 'can-tho', 'district': '', \
'commune': ''}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from netwatch.models import Device, Site
from netwatch.settings.config import Config

AGENT_SHARD = "_agent"  # the agent's own metrics and the sites above the district level


@dataclass(frozen=True)
class Inventory:
    """Sites and devices by id, with the tree and the dependency graph precomputed.

    >>> inv = build_inventory(config)              # doctest: +SKIP
    >>> [s.id for s in inv.ancestors("an-binh")]   # doctest: +SKIP
    ['can-tho', 'ninh-kieu', 'an-binh']
    """

    config: Config
    sites: Mapping[str, Site]
    devices: Mapping[str, Device]
    _ancestors: Mapping[str, tuple[Site, ...]] = field(repr=False, compare=False)
    _levels: Mapping[str, Mapping[str, str]] = field(repr=False, compare=False)
    _dependents: Mapping[str, tuple[str, ...]] = field(repr=False, compare=False)
    _shards: Mapping[str, str] = field(repr=False, compare=False, default_factory=dict)

    def ancestors(self, site_id: str) -> tuple[Site, ...]:
        """The root first, down to and including the site itself."""
        return self._ancestors[site_id]

    def site_labels(self, site_id: str) -> dict[str, str]:
        """``site`` and one label per hierarchy level (the ancestor's id, or "")."""
        return {"site": site_id, **self._levels[site_id]}

    def labels(self, device_id: str) -> dict[str, str]:
        """``device``, ``site``, ``role`` and one label per hierarchy level."""
        device = self.devices[device_id]
        return {
            "device": device.id,
            "site": device.site,
            "role": device.role.value,
            **self._levels[device.site],
        }

    def shard_of(self, site_id: str) -> str:
        """The metrics shard of a site: its ancestor at the second hierarchy level (a district),
        or ``AGENT_SHARD`` for sites above that level. See ``/metrics?shard=`` and ``/sd``."""
        return self._shards.get(site_id, AGENT_SHARD)

    @property
    def shards(self) -> tuple[str, ...]:
        """Every shard with at least one site, ``AGENT_SHARD`` first."""
        return (AGENT_SHARD, *dict.fromkeys(s for s in self._shards.values() if s != AGENT_SHARD))

    def dependents(self, device_id: str) -> tuple[str, ...]:
        """Devices whose ``depends_on`` contains ``device_id``, in config order."""
        return self._dependents.get(device_id, ())


def build_inventory(config: Config) -> Inventory:
    """Index a config; linear in the number of sites and devices."""
    sites = {site.id: site for site in config.sites}
    ancestors: dict[str, tuple[Site, ...]] = {}
    levels: dict[str, Mapping[str, str]] = {}
    blank = dict.fromkeys(config.agent.hierarchy, "")
    for site in config.sites:  # parents come before children
        chain = (*ancestors[site.parent], site) if site.parent else (site,)
        ancestors[site.id] = chain
        own = dict(blank)
        own.update({s.level: s.id for s in chain if s.level in blank})
        levels[site.id] = MappingProxyType(own)
    shard_level = config.agent.hierarchy[1] if len(config.agent.hierarchy) > 1 else None
    shards = {
        sid: next((s.id for s in chain if s.level == shard_level), AGENT_SHARD)
        for sid, chain in ancestors.items()
    }
    dependents: dict[str, list[str]] = {}
    for device in config.devices:
        for upstream in device.depends_on:
            dependents.setdefault(upstream, []).append(device.id)
    return Inventory(
        config=config,
        sites=MappingProxyType(sites),
        devices=MappingProxyType({device.id: device for device in config.devices}),
        _ancestors=MappingProxyType(ancestors),
        _levels=MappingProxyType(levels),
        _dependents=MappingProxyType({k: tuple(v) for k, v in dependents.items()}),
        _shards=MappingProxyType(shards),
    )


@dataclass(frozen=True, slots=True)
class InventoryDiff:
    """What a reload changes, by device id.

    ``changed`` covers any difference in the device's resolved settings (secrets included)
    or in its labels (e.g. its site moved to another district).
    """

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def diff(old: Inventory, new: Inventory) -> InventoryDiff:
    """Devices added, removed, changed and unchanged between two inventories (new order;
    removed ones in the old order)."""
    added: list[str] = []
    changed: list[str] = []
    unchanged: list[str] = []
    for device_id, device in new.devices.items():
        before = old.devices.get(device_id)
        if before is None:
            added.append(device_id)
        elif before != device or old.labels(device_id) != new.labels(device_id):
            changed.append(device_id)
        else:
            unchanged.append(device_id)
    removed = [device_id for device_id in old.devices if device_id not in new.devices]
    return InventoryDiff(tuple(added), tuple(removed), tuple(changed), tuple(unchanged))
