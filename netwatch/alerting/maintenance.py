"""Maintenance windows and silences the engine consults: which targets are in planned work
now, and whether an alert is silenced. Checking the windows is O(windows) only when one of them
may have started or ended; in between it is one comparison.

>>> from datetime import timedelta
>>> m = Maintenance([MaintenanceWindow.recurring("sun", "huyen", "22:00", timedelta(hours=2),
...                                               weekday=6)])
>>> m.poll(1772377200.0), m.active  # Sunday 2026-03-01 22:00 in Hanoi
({'huyen'}, frozenset({'huyen'}))
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from netwatch.alerting.settings import MaintenanceWindow, Silence


class Maintenance:
    """The maintenance windows and silences in force, as the HTTP API and config set them."""

    def __init__(self, windows: Iterable[MaintenanceWindow] = ()) -> None:
        self._windows = {w.id: w for w in windows}
        self._silences: dict[str, Silence] = {}
        self._due = -math.inf  # when a window may next start or end
        self.active: frozenset[str] = frozenset()  # device and site ids with an active window

    def add_window(self, window: MaintenanceWindow) -> None:
        self._windows[window.id] = window
        self._due = -math.inf

    def remove_window(self, window_id: str) -> bool:
        self._due = -math.inf
        return self._windows.pop(window_id, None) is not None

    def windows(self) -> list[MaintenanceWindow]:
        return list(self._windows.values())

    def recheck(self) -> None:
        """Look at every window again at the next poll (e.g. after a reload)."""
        self._due = -math.inf

    def poll(self, now: float) -> set[str]:
        """Targets whose maintenance started or ended since the last poll."""
        if now < self._due:
            return set()
        active: set[str] = set()
        due = math.inf
        for window in self._windows.values():
            if window.active(now):
                active.add(window.target)
            due = min(due, window.next_change(now))
        self._due = due
        flipped = active ^ self.active
        self.active = frozenset(active)
        return flipped

    def silence(self, s: Silence) -> None:
        self._silences[s.id] = s

    def unsilence(self, silence_id: str) -> bool:
        return self._silences.pop(silence_id, None) is not None

    def silences(self) -> list[Silence]:
        return list(self._silences.values())

    def silenced(self, device: str | None, site_chain: tuple[str, ...], now: float) -> bool:
        """A silence in force matches the device, or its site or a site above it."""
        if not self._silences:
            return False
        for expired in [k for k, s in self._silences.items() if now >= s.until]:
            del self._silences[expired]
        return any(s.matches(device, site_chain, now) for s in self._silences.values())
