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
