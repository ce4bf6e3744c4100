"""What the web layer reads from (and asks of) the running daemon: the ``Backend`` protocol.

The web layer never builds or owns these objects; the daemon passes itself (or any object with
these attributes), so the API and the pages always show the live inventory, state and alerts,
and tests pass a small backend made of real objects.

>>> class Mine:  # doctest: +SKIP
...     inventory = build_inventory(config); state = StateTracker(); engine = AlertEngine(...)
...     history = None
...     def clock(self) -> float: return time.time()
>>> add_routes(app, Mine(), token=lambda: None)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Protocol

from netwatch.alerting.engine import AlertEngine
from netwatch.history.store import HistoryStore
from netwatch.inventory import Inventory
from netwatch.state import StateTracker
from netwatch.traps import TrapRecord, Traps


class Backend(Protocol):
    """The daemon as the web layer sees it. Read-only properties, so plain attributes fit.

    ``history`` is ``None`` when history is disabled or its database failed to open; the
    history and report endpoints then answer 503 and the pages say so.
    """

    @property
    def inventory(self) -> Inventory: ...

    @property
    def state(self) -> StateTracker: ...

    @property
    def engine(self) -> AlertEngine: ...

    @property
    def history(self) -> HistoryStore | None: ...

    def clock(self) -> float:
        """Wall-clock epoch seconds (injected so tests control time)."""
        ...


class DaemonParts(Protocol):
    """A daemon whose parts are ``None`` until it has started (what ``Daemon`` looks like)."""

    @property
    def inventory(self) -> Inventory | None: ...

    @property
    def state(self) -> StateTracker: ...

    @property
    def engine(self) -> AlertEngine | None: ...

    @property
    def history(self) -> HistoryStore | None: ...

    def clock(self) -> float: ...


class StartedDaemon:
    """``Backend`` over a daemon's parts, read at each request (so a reload's new inventory is
    seen at once). The web app only serves after ``start`` built them; a request before that is
    a bug, caught by the assertion.

    >>> add_routes(app, StartedDaemon(daemon), token)  # doctest: +SKIP
    """

    def __init__(self, parts: DaemonParts) -> None:
        self._parts = parts

    @property
    def inventory(self) -> Inventory:
        inventory = self._parts.inventory
        assert inventory is not None, "the web app serves only after the daemon started"
        return inventory

    @property
    def state(self) -> StateTracker:
        return self._parts.state

    @property
    def engine(self) -> AlertEngine:
        engine = self._parts.engine
        assert engine is not None, "the web app serves only after the daemon started"
        return engine

    @property
    def history(self) -> HistoryStore | None:
        return self._parts.history

    def clock(self) -> float:
        return self._parts.clock()

    def recent_traps(self, device_id: str) -> list[TrapRecord]:
        """The device's last SNMP traps, newest first (none without a trap receiver)."""
        traps = getattr(self._parts, "traps", None)
        return traps.log.of(device_id) if isinstance(traps, Traps) else []
