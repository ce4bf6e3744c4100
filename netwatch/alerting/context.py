"""What the alert engine's parts share: the inventory and its topology, the settings, the
devices' own status, and the output of the tick in progress.

The engine (``engine.py``) coordinates; the parts read and write this one context: the holds
(``holds.py``), the incident book (``book.py``), the messages and their timers
(``delivery.py``), and the status history (``recorder.py``). A reload replaces ``inv``,
``topo`` and ``settings`` here, so every part sees the new ones at once.

>>> out = EngineOutput()
>>> out.recheck.extend(["r1", "r2", "r1"])
>>> out.transitions, out.deliveries
([], [])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from netwatch.alerting.flapping import FlapDetector
from netwatch.alerting.maintenance import Maintenance
from netwatch.alerting.model import Alert, Delivery
from netwatch.models import Status, Transition
from netwatch.settings.alerting import AlertSettings
from netwatch.settings.config import Config
from netwatch.topology import InventoryLike, Topology


class AlertInventory(InventoryLike, Protocol):
    """The part of ``netwatch.inventory.Inventory`` the engine reads."""

    @property
    def config(self) -> Config: ...

    def labels(self, device_id: str) -> Mapping[str, str]: ...


@dataclass(slots=True)
class EngineOutput:
    """What one tick produced; the daemon records, queues and polls accordingly."""

    transitions: list[Transition] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    recheck: list[str] = field(default_factory=list)
    # reason: see AlertDispatch.suppressed (maintenance, silenced, acknowledged, removed)
    suppressed: list[tuple[Alert, str]] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class EngineContext:
    """The engine's shared state. ``own``, ``own_since`` and ``detail`` are never replaced
    (a part may keep a reference); ``inv``, ``topo`` and ``settings`` are, on a reload."""

    inv: AlertInventory
    settings: AlertSettings
    clock: Callable[[], float]
    suspect: Callable[[str], bool]
    last_polled: Callable[[str], float]
    planned: Maintenance
    flaps: FlapDetector
    topo: Topology
    own: dict[str, Status] = field(default_factory=dict)  # each device's own status
    own_since: dict[str, float] = field(default_factory=dict)
    detail: dict[str, str] = field(default_factory=dict)  # why it failed (its own failure)
    out: EngineOutput = field(default_factory=EngineOutput)  # the tick in progress

    def own_status(self, device_id: str) -> Status:
        return self.own.get(device_id, Status.UNKNOWN)

    def take_output(self) -> EngineOutput:
        """The tick's output (each device to re-check listed once); a fresh one begins."""
        out, self.out = self.out, EngineOutput()
        out.recheck = list(dict.fromkeys(out.recheck))
        return out
