"""Effective status of every device and site: own failure, upstream failure or planned work.

A device's *own* status (up/down/unknown) comes from its checks (``state.py``). Its *effective*
status also depends on what it depends on: when every device in its ``depends_on`` is cut off, it
is UNREACHABLE (root cause: the device whose own failure cut it off), whatever its own checks say —
its own status lags behind by the hysteresis, and "everything behind the district gateway" must
go dark at the same moment. A maintenance window on the device or on any site above it makes it
MAINTENANCE, and so is everything cut off behind it *only* because of that planned work.

A site's status is its gateway's (the gateway is the site's link to its parent); a site without
a gateway takes its parent's; a root site without a gateway is up while any of its devices is.

Evaluation is top-down in dependency order. :class:`Topology` re-evaluates only what is below a
changed device, and stops where nothing changes, so one commune router failing in a province of
20,000 devices costs a few dozen evaluations. :func:`evaluate` is the whole-province, one-shot
form of the same rules.

>>> from netwatch.models import Device, Role, Site
>>> class Inv:
...     sites = {"p": Site("p", "P", "province", None, (), "gw", ("gw", "pc"), ())}
...     devices = {"gw": Device("gw", "10.0.0.1", Role.ROUTER, "p"),
...                "pc": Device("pc", "10.0.0.2", Role.WORKSTATION, "p", depends_on=("gw",))}
>>> r = evaluate(Inv(), {"gw": Status.DOWN, "pc": Status.UP}, lambda target, now: False, 0.0)
>>> r.devices["pc"]
Effective(status=<Status.UNREACHABLE: 'unreachable'>, cause='gw', blocked=True, planned=False)
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from netwatch.models import Device, Site, Status


class InventoryLike(Protocol):
    """The part of ``netwatch.inventory.Inventory`` the topology reads."""

    @property
    def sites(self) -> Mapping[str, Site]: ...

    @property
    def devices(self) -> Mapping[str, Device]: ...


class Effective(NamedTuple):
    """A device's or site's effective status.

    ``cause`` is the root-cause device when the status is not the subject's own doing
    (UNREACHABLE, or MAINTENANCE behind a device in maintenance); ``None`` for its own failure.
    ``blocked``: traffic through it does not pass, so whatever depends only on it is cut off.
    ``planned``: it is blocked because of a maintenance window, not a failure.
    """

    status: Status
    cause: str | None = None
    blocked: bool = False
    planned: bool = False


UNKNOWN = Effective(Status.UNKNOWN)


@dataclass(frozen=True, slots=True)
class TopologyResult:
    devices: Mapping[str, Effective]
    sites: Mapping[str, Effective]


@dataclass(frozen=True, slots=True)
class Changed:
    """What one update changed: the *previous* effective status of each changed subject."""

    devices: Mapping[str, Effective]
    sites: Mapping[str, Effective]


class Topology:
    """Incremental evaluator over one inventory; the engine keeps one per loaded config.

    >>> topo = Topology(inventory)  # doctest: +SKIP
    >>> topo.update(["gw"], own={"gw": Status.DOWN}.get, maintenance=set())  # doctest: +SKIP
    """

    def __init__(self, inventory: InventoryLike) -> None:
        self.inventory = inventory
        devices = inventory.devices
        sites = inventory.sites
        # Depends-on edges to devices that exist; the reverse edges drive propagation.
        self._parents: dict[str, tuple[str, ...]] = {
            d.id: tuple(p for p in d.depends_on if p in devices and p != d.id)
            for d in devices.values()
        }
        self._children: dict[str, list[str]] = {d: [] for d in devices}
        for child, parents in self._parents.items():
            for parent in parents:
                self._children[parent].append(child)
        self._order = _topological_order(devices, self._parents, self._children)
        # Site chains (the site itself first, then up to the root) and depth order.
        self._chain: dict[str, tuple[str, ...]] = {}
        for sid in sites:
            chain: list[str] = []
            cur: str | None = sid
            while cur is not None and cur in sites and cur not in chain:
                chain.append(cur)
                cur = sites[cur].parent
            self._chain[sid] = tuple(chain)
        self._site_order = {
            sid: (len(chain), i) for i, (sid, chain) in enumerate(self._chain.items())
        }
        self._gateway_of: dict[str, list[str]] = {}
        self._root_sites_of: dict[str, str] = {}
        for site in sites.values():
            if site.gateway is not None and site.gateway in devices:
                self._gateway_of.setdefault(site.gateway, []).append(site.id)
            elif site.parent is None:
                for did in site.devices:
                    self._root_sites_of[did] = site.id
        self.devices: dict[str, Effective] = dict.fromkeys(devices, UNKNOWN)
        self.sites: dict[str, Effective] = dict.fromkeys(sites, UNKNOWN)

    # ------------------------------------------------------------------ queries

    def chain(self, site_id: str) -> tuple[str, ...]:
        """The site and its ancestors, the site itself first."""
        return self._chain.get(site_id, ())

    def parents(self, device_id: str) -> tuple[str, ...]:
        return self._parents.get(device_id, ())

    def behind(self, device_id: str) -> list[str]:
        """Every device that depends on ``device_id``, directly or not (not itself)."""
        seen: set[str] = set()
        stack = list(self._children.get(device_id, ()))
        while stack:
            cur = stack.pop()
            if cur not in seen:
                seen.add(cur)
                stack.extend(self._children[cur])
        return sorted(seen, key=self._order.__getitem__)

    def affected(self, device_id: str) -> tuple[list[str], list[str]]:
        """The devices and sites cut off with ``device_id`` as their root cause, in order."""
        devices = [d for d in self.behind(device_id) if self.devices[d].cause == device_id]
        inv_devices, inv_sites = self.inventory.devices, self.inventory.sites
        sites = {inv_devices[d].site for d in (device_id, *devices) if d in inv_devices}
        stack = list(sites)
        while stack:
            for child in inv_sites[stack.pop()].children:
                if child in inv_sites and child not in sites:
                    sites.add(child)
                    stack.append(child)
        cut = [s for s in sites if self.sites[s].cause == device_id]
        return devices, sorted(cut, key=self._site_order.__getitem__)

    def covered_by(self, target: str) -> tuple[list[str], list[str]]:
        """The devices and sites a maintenance window on ``target`` covers directly."""
        if target in self.inventory.devices:
            return [target], []
        if target not in self.inventory.sites:
            return [], []
        sites = [s for s, chain in self._chain.items() if target in chain]
        inv_sites = self.inventory.sites
        return [d for s in sites for d in inv_sites[s].devices], sites

    def in_maintenance(self, device_id: str, maintenance: Collection[str]) -> bool:
        """A window on the device itself or on its site or any site above it."""
        if not maintenance:
            return False
        if device_id in maintenance:
            return True
        device = self.inventory.devices.get(device_id)
        return device is not None and any(s in maintenance for s in self.chain(device.site))

    # ------------------------------------------------------------------ evaluation

    def update(
        self,
        dirty: Iterable[str],
        own: Callable[[str], Status],
        maintenance: Collection[str],
        *,
        held: Mapping[str, str] | None = None,
        dirty_sites: Iterable[str] = (),
    ) -> Changed:
        """Re-evaluate ``dirty`` devices (and sites) and whatever depends on what changed.

        ``own(device_id)`` is the device's own status; ``maintenance`` holds the device and site
        ids with an active window; ``held`` maps devices shown behind a parent although not cut
        off by it to that cause: still cut off until re-checked (their parent recovered, they
        have not been polled since), or down but waiting for a failing parent to settle.
        """
        held = held or {}
        devices = self.inventory.devices
        order = self._order
        queue = [(order[d], d) for d in set(dirty) if d in devices]
        heapq.heapify(queue)
        queued = {d for _, d in queue}
        old_devices: dict[str, Effective] = {}
        site_queue: set[str] = {s for s in dirty_sites if s in self.sites}
        # Parents-first order pops each device once; only a dependency cycle (which the config
        # rejects) could bring one back, and then twice is enough to stop.
        popped: dict[str, int] = {}
        while queue:
            _, did = heapq.heappop(queue)
            queued.discard(did)
            popped[did] = popped.get(did, 0) + 1
            if popped[did] > 2:
                continue
            new = self._device(did, own(did), maintenance, held)
            old = self.devices[did]
            if new == old:
                continue
            self.devices[did] = new
            old_devices.setdefault(did, old)
            site_queue.update(self._gateway_of.get(did, ()))
            root_site = self._root_sites_of.get(did)
            if root_site is not None:
                site_queue.add(root_site)
            for child in self._children[did]:
                if child not in queued:
                    queued.add(child)
                    heapq.heappush(queue, (order[child], child))
        return Changed(old_devices, self._update_sites(site_queue, maintenance))

    def _device(
        self, did: str, own: Status, maintenance: Collection[str], held: Mapping[str, str]
    ) -> Effective:
        covered = self.in_maintenance(did, maintenance)
        parents = self._parents[did]
        if parents:
            effs = [self.devices[p] for p in parents]
            if all(e.blocked for e in effs):
                # Prefer a real failure over planned work as the reason it is cut off: losing
                # the redundant link during maintenance is an incident.
                pick = next((i for i, e in enumerate(effs) if not e.planned), 0)
                eff, parent = effs[pick], parents[pick]
                cause = eff.cause or parent
                planned = eff.planned
                status = Status.MAINTENANCE if covered or planned else Status.UNREACHABLE
                return Effective(status, cause, True, planned)
        if own is not Status.UP and did in held:
            status = Status.MAINTENANCE if covered else Status.UNREACHABLE
            return Effective(status, held[did], True, False)
        if own is Status.DOWN:
            return Effective(Status.MAINTENANCE if covered else Status.DOWN, None, True, covered)
        return Effective(Status.MAINTENANCE if covered else own)

    def _update_sites(self, queue: set[str], maintenance: Collection[str]) -> dict[str, Effective]:
        sites = self.inventory.sites
        old_sites: dict[str, Effective] = {}
        heap = [(self._site_order[s], s) for s in queue]
        heapq.heapify(heap)
        while heap:
            _, sid = heapq.heappop(heap)
            new = self._site(sites[sid], maintenance)
            old = self.sites[sid]
            if new == old:
                continue
            self.sites[sid] = new
            old_sites.setdefault(sid, old)
            for child in sites[sid].children:
                child_site = sites.get(child)
                # Children with a gateway follow the gateway, whose own change queues them.
                if child_site is not None and child_site.gateway not in self.devices:
                    heapq.heappush(heap, (self._site_order[child], child))
        return old_sites

    def _site(self, site: Site, maintenance: Collection[str]) -> Effective:
        if maintenance and any(s in maintenance for s in self.chain(site.id)):
            return Effective(Status.MAINTENANCE)
        if site.gateway is not None and site.gateway in self.devices:
            gw = self.devices[site.gateway]
            cause = gw.cause or (site.gateway if gw.blocked else None)
            return Effective(gw.status, cause, gw.blocked, gw.planned)
        if site.parent is not None and site.parent in self.sites:
            return self.sites[site.parent]
        statuses = {self.devices[d].status for d in site.devices if d in self.devices}
        if Status.UP in statuses:
            return Effective(Status.UP)
        if statuses <= {Status.UNKNOWN}:
            return UNKNOWN
        if statuses <= {Status.MAINTENANCE, Status.UNKNOWN}:
            return Effective(Status.MAINTENANCE)
        return Effective(Status.DOWN, None, True, False)

    def evaluate_all(
        self,
        own: Callable[[str], Status],
        maintenance: Collection[str],
        *,
        held: Mapping[str, str] | None = None,
    ) -> Changed:
        """Evaluate every device and site (start-up, reload)."""
        return self.update(self.devices, own, maintenance, held=held, dirty_sites=self.sites)


def evaluate(
    inventory: InventoryLike,
    own_status: Mapping[str, Status],
    in_maintenance: Callable[[str, float], bool],
    now: float,
) -> TopologyResult:
    """Effective status of every device and site, from scratch.

    ``own_status`` lacks devices never polled (UNKNOWN); ``in_maintenance(target_id, now)`` says
    whether a window is active on that device or site id (sites above are looked up here).
    """
    topo = Topology(inventory)
    targets = [*inventory.devices, *inventory.sites]
    maintenance = {t for t in targets if in_maintenance(t, now)}
    topo.evaluate_all(lambda d: own_status.get(d, Status.UNKNOWN), maintenance)
    return TopologyResult(dict(topo.devices), dict(topo.sites))


def _topological_order(
    devices: Mapping[str, Device],
    parents: Mapping[str, tuple[str, ...]],
    children: Mapping[str, list[str]],
) -> dict[str, int]:
    """Index of each device in a parents-first order (Kahn). The config rejects cycles; should
    one slip through, its members are appended last so evaluation still terminates."""
    indegree = {d: len(parents[d]) for d in devices}
    ready = [d for d, n in indegree.items() if n == 0]
    order: dict[str, int] = {}
    while ready:
        cur = ready.pop()
        order[cur] = len(order)
        for child in children[cur]:
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    for d in devices:
        if d not in order:
            order[d] = len(order)
    return order
