"""Sites and devices as the first pass read them, for the second pass to resolve.

:class:`~.files.FileReader` turns each site and device it reads into a draft that remembers
where it was written (its node, YAML path and the file's :class:`~.source.Checker`) and what
was written there; ``tree`` attaches included sites to their parents, walks the tree and fills
in what each draft inherits, then builds the frozen models from the drafts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from yaml.nodes import Node

from netwatch.models import UP_CHECKS, IcmpSettings, Role, ServiceCheck, SnmpSettings

from .settings import Layer, Stacked
from .source import Checker


@dataclass(eq=False)
class DeviceDraft:
    """A device as read, before the tree walk resolves what it inherits."""

    id: str
    node: Node
    path: str
    check: Checker
    site: SiteDraft
    address: str
    role: Role
    name: str
    layer: Layer
    services_node: Node | None
    depends: list[tuple[str, Node]] | None  # explicit depends_on
    depends_node: Node | None
    shared_address: bool = False  # another device may have the same address
    # Filled in by the tree walk.
    icmp: IcmpSettings | None = None
    snmp: SnmpSettings | None = None
    services: tuple[ServiceCheck, ...] = ()
    up_checks: tuple[str, ...] = UP_CHECKS
    values: Stacked | None = None
    upstream: str | None = None  # the gateway it depends on when depends_on is not given
    walked: bool = False

    @property
    def depends_on(self) -> tuple[str, ...]:
        if self.depends is not None:
            return tuple(dict.fromkeys(dep for dep, _ in self.depends))
        return () if self.upstream is None else (self.upstream,)


@dataclass(eq=False)
class SiteDraft:
    """A site as read; ``children`` grows when included sites name it as ``parent``."""

    id: str
    node: Node
    path: str
    check: Checker
    name: str
    level: tuple[str, Node] | None
    contacts: list[tuple[str, Node]] | None
    gateway: tuple[str, Node] | None
    layer: Layer
    parent_ref: tuple[str, Node] | None
    devices: list[DeviceDraft] = field(default_factory=list)
    children: list[SiteDraft] = field(default_factory=list)
    parent: SiteDraft | None = None
    # Filled in by the tree walk.
    resolved_contacts: tuple[str, ...] = ()
    resolved_gateway: DeviceDraft | None = None
    resolved_level: str = ""
    # The units merged into this site, and when (checked by the tree walk).
    formerly: list[tuple[str, Node]] | None = None
    merged_at: float | None = None
