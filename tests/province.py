"""The one province builder of the tests: a province written down once as a flat list of
:class:`Place` (parents before their children), made into what a test needs from it.

* :func:`models` — the ``Site`` and ``Device`` values the engine, the topology and the history
  read (children filled in from the parents);
* :func:`config_sites` — the nested ``sites:`` of a netwatch YAML config, for a test that loads
  the config or runs the daemon;
* :func:`below` — a site and every site under it, e.g. to cut them all in a namespace.

Each suite keeps its own province (the alerting tests' tinh/huyen/xa, the web story, the
end-to-end one in a namespace, the history reports'): their assertions name its sites and
devices. What they share is how a province is made.

>>> tiny = [Place("s", "S", "province", None, (Dev("r", "127.0.0.1", "router"),), gateway="r")]
>>> sites, devices = models(tiny)
>>> (sites[0].gateway, sites[0].devices, devices[0].role.value)
('r', ('r',), 'router')
>>> config_sites(tiny)[0]["devices"]
[{'id': 'r', 'address': '127.0.0.1', 'role': 'router'}]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from netwatch.models import Device, Role, Site


@dataclass(frozen=True)
class Dev:
    """A device of a test province."""

    id: str
    address: str
    role: str  # a Role value: "router", "server", "workstation", ...
    depends_on: tuple[str, ...] = ()  # explicit dependencies (models; config leaves them out)
    name: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)  # more YAML keys: snmp, services...


@dataclass(frozen=True)
class Place:
    """A site of a test province; ``parent`` is ``None`` for the root."""

    id: str
    name: str
    level: str
    parent: str | None
    devices: tuple[Dev, ...] = ()
    contacts: tuple[str, ...] = ()
    gateway: str | None = None  # the device that is this site's link to its parent


def models(places: Sequence[Place]) -> tuple[list[Site], list[Device]]:
    """The sites and devices, in the order written; a site's children in that order too."""
    children: dict[str, list[str]] = {p.id: [] for p in places}
    for p in places:
        if p.parent is not None:
            children[p.parent].append(p.id)
    sites = [
        Site(
            p.id,
            p.name,
            p.level,
            p.parent,
            p.contacts,
            p.gateway,
            tuple(d.id for d in p.devices),
            tuple(children[p.id]),
        )
        for p in places
    ]
    devices = [
        Device(d.id, d.address, Role(d.role), p.id, name=d.name, depends_on=d.depends_on)
        for p in places
        for d in p.devices
    ]
    return sites, devices


def config_sites(places: Sequence[Place]) -> list[dict[str, Any]]:
    """The province as the ``sites:`` of a config: nested, with the keys each place sets."""
    nodes: dict[str, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    for p in places:
        node: dict[str, Any] = {"id": p.id, "name": p.name, "level": p.level}
        if p.contacts:
            node["contacts"] = list(p.contacts)
        if p.gateway is not None:
            node["gateway"] = p.gateway
        node["devices"] = [_device_doc(d) for d in p.devices]
        nodes[p.id] = node
        if p.parent is None:
            roots.append(node)
        else:
            nodes[p.parent].setdefault("sites", []).append(node)
    return roots


def _device_doc(d: Dev) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": d.id, "address": d.address, "role": d.role}
    if d.name:
        doc["name"] = d.name
    return {**doc, **d.config}


def below(places: Iterable[Place], site_id: str) -> list[Place]:
    """``site_id`` and every place under it, in the order written (parents come first)."""
    ids = {site_id}
    found = []
    for p in places:
        if p.id == site_id or p.parent in ids:
            ids.add(p.id)
            found.append(p)
    return found
