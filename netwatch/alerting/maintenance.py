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

import json
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from netwatch.settings.alerting import MaintenanceWindow, Silence, parse_recurrence


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


def operator_to_json(silences: Sequence[Silence], windows: Sequence[MaintenanceWindow]) -> str:
    """Silences and maintenance windows an operator added over the API, as JSON, for the
    daemon to keep across a restart (the config's own windows are read from the config).

    >>> s = Silence("s-1", until=1.8e9, sites=("le-binh",), by="lan", created_at=1.7e9)
    >>> w = MaintenanceWindow("m-1", "cai-rang", datetime(2026, 3, 14, 21,
    ...                       tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")), timedelta(hours=3))
    >>> operator_from_json(operator_to_json([s], [w])) == ([s], [w], [])
    True
    """
    doc = {
        "silences": [
            {"id": s.id, "until": s.until, "devices": list(s.devices), "sites": list(s.sites),
             "by": s.by, "comment": s.comment, "created_at": s.created_at}
            for s in silences
        ],
        "windows": [
            {"id": w.id, "target": w.target, "start": w.start.isoformat(),
             "duration_seconds": w.duration.total_seconds(), "recurrence": w.recurrence,
             "reason": w.reason, "timezone": w.timezone}
            for w in windows
        ],
    }  # fmt: skip
    return json.dumps(doc, ensure_ascii=False, indent=1)


def operator_from_json(text: str) -> tuple[list[Silence], list[MaintenanceWindow], list[str]]:
    """The inverse of :func:`operator_to_json`, plus one message per entry that could not be
    read (the others are kept). Raises ValueError when the text is not such a document.
    Every entry goes through the constructors' checks (a start in year 1 is refused there)."""
    try:
        doc = json.loads(text)
    except RecursionError:
        raise ValueError("the JSON nests too deeply") from None
    if not isinstance(doc, dict):
        raise ValueError("expected a JSON object with silences and windows")
    silences: list[Silence] = []
    windows: list[MaintenanceWindow] = []
    errors: list[str] = []
    for item in _entries(doc, "silences", errors):
        try:
            silences.append(
                Silence(
                    id=str(item["id"]),
                    until=float(item["until"]),
                    devices=tuple(str(d) for d in item.get("devices", ())),
                    sites=tuple(str(s) for s in item.get("sites", ())),
                    by=str(item.get("by", "")),
                    comment=str(item.get("comment", "")),
                    created_at=float(item.get("created_at", 0.0)),
                )
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            errors.append(f"silence {str(item.get('id', '?'))[:200]!r}: {exc!r}")
    for item in _entries(doc, "windows", errors):
        try:
            zone = str(item["timezone"])
            start = datetime.fromisoformat(item["start"])
            if start.tzinfo is None:
                raise ValueError(f"start {item['start']!r} has no UTC offset")
            windows.append(
                MaintenanceWindow(
                    id=str(item["id"]),
                    target=str(item["target"]),
                    start=start.astimezone(ZoneInfo(zone)),
                    duration=timedelta(seconds=float(item["duration_seconds"])),
                    recurrence=parse_recurrence(item.get("recurrence", "none")),
                    reason=str(item.get("reason", "")),
                    timezone=zone,
                )
            )
        # ZoneInfoNotFoundError is a KeyError; OverflowError: year 1 or 9999 moved to the zone.
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            errors.append(f"maintenance window {str(item.get('id', '?'))[:200]!r}: {exc!r}")
    return silences, windows, errors


def _entries(doc: dict[str, Any], key: str, errors: list[str]) -> list[dict[str, Any]]:
    items = doc.get(key, [])
    if not isinstance(items, list):
        errors.append(f"{key}: expected a list")
        return []
    good = [i for i in items if isinstance(i, dict)]
    if len(good) < len(items):
        errors.append(f"{key}: {len(items) - len(good)} entries are not objects")
    return good
