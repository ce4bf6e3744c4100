"""The readers of one subject's transitions: the history endpoint and the device page."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwatch.errors import HistoryError
from netwatch.history import HistoryStore
from netwatch.history.transitions import latest_of, subject_history
from netwatch.models import Status

from .factory import TZ, Clock, province, tr, ts
from .test_merged_sites import OCT, history, two_tier

__all__ = ["history"]  # the fixture, shared with the merged-site tests

UP, DOWN = Status.UP, Status.DOWN


def opened(path: Path) -> HistoryStore:
    return HistoryStore.open(path, clock=Clock(ts(2026, 11, 20)))


def test_a_merged_site_has_its_units_transitions_before_the_merge(history: Path) -> None:
    """October on lai-hieu: phuong-1 and phuong-2's rows before the 16th come with it."""
    store = opened(history)
    try:
        h = subject_history(
            store, two_tier(), {}, "site", "lai-hieu", OCT, tz=str(TZ), now=ts(2026, 11, 20),
            limit=100,
        )  # fmt: skip
    finally:
        store.close()
    assert [(at, status) for at, status, _ in h.rows] == [
        (ts(2026, 10, 16), "up"),
        (ts(2026, 10, 20), "down"),
        (ts(2026, 10, 20, 12), "up"),
    ]
    assert h.former is not None
    merged_at, units = h.former
    assert merged_at == ts(2026, 10, 16)
    assert [(at, status, unit) for at, status, _, unit in units] == [
        (ts(2026, 10, 5), "down", "phuong-1"),
        (ts(2026, 10, 6), "up", "phuong-1"),
    ]
    assert h.before is None
    assert [r.id for r in h.report.rows] == ["lai-hieu"]


def test_the_status_before_and_the_limit(tmp_path: Path) -> None:
    """A device's last transition before the period is its status then; limit + 1 rows at
    most are read, so the caller can tell the list was truncated."""
    sites, devices = province()
    store = opened(tmp_path / "h.sqlite")
    store.record(
        [
            tr("core", UP, ts(2026, 9, 30), kind="device"),
            tr("core", DOWN, ts(2026, 10, 2), kind="device", cause="icmp timeout"),
            tr("core", UP, ts(2026, 10, 3), kind="device"),
            tr("core", DOWN, ts(2026, 10, 4), kind="device"),
        ]
    )
    assert store.flush()
    try:
        h = subject_history(
            store, sites, devices, "device", "core", OCT, tz=str(TZ), now=ts(2026, 11, 20),
            limit=1,
        )  # fmt: skip
        newest = latest_of(store, "device", "core", 2)
    finally:
        store.close()
    assert h.before == (ts(2026, 9, 30), "up", None)
    assert h.rows == [(ts(2026, 10, 2), "down", "icmp timeout"), (ts(2026, 10, 3), "up", None)]
    assert h.former is None
    assert [at for at, _, _ in newest] == [ts(2026, 10, 4), ts(2026, 10, 3)]


def test_an_unreadable_database(tmp_path: Path) -> None:
    """The device page shows no transitions; the history endpoint gets a HistoryError (503)."""
    store = opened(tmp_path / "h.sqlite")
    store.close()
    (tmp_path / "h.sqlite").unlink()
    sites, devices = province()
    assert latest_of(store, "device", "core", 20) == []
    with pytest.raises(HistoryError, match="cannot be read"):
        subject_history(
            store, sites, devices, "device", "core", OCT, tz=str(TZ), now=ts(2026, 11, 20),
            limit=10,
        )  # fmt: skip
