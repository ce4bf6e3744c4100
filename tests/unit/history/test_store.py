"""The store: batched writes, runs and heartbeats, refusal of corrupt files, retention."""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import datetime
from pathlib import Path

import pytest

from netwatch.errors import HistoryError
from netwatch.history import HistoryStore, build_report
from netwatch.history.schema import LATEST
from netwatch.models import Status, Transition

from .factory import TZ, Clock, province, tr, ts

UP, DOWN = Status.UP, Status.DOWN


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_records_are_written_with_run_and_clean_stop(tmp_path: Path) -> None:
    """Transitions, reboots and the run's start and stop end up in the file after close."""
    clock = Clock(1000.0)
    store = HistoryStore.open(tmp_path / "h.sqlite", clock=clock)
    store.agent_started(100.0)
    store.record([tr("r1", UP, 110.0, "device"), tr("s1", DOWN, 120.0, cause="r0")])
    store.record_reboot("r1", 115.0)
    store.agent_stopped(900.0)
    store.close()
    path = tmp_path / "h.sqlite"
    assert rows(path, "SELECT kind, subject, at, status, cause FROM transitions ORDER BY at") == [
        ("device", "r1", 110.0, "up", None),
        ("site", "s1", 120.0, "down", "r0"),
    ]
    assert rows(path, "SELECT started, stopped, crashed FROM runs") == [(100.0, 900.0, 0)]
    assert rows(path, "SELECT device, at FROM reboots") == [("r1", 115.0)]
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]
    assert rows(path, "PRAGMA user_version") == [(LATEST,)]


def test_record_does_not_block(tmp_path: Path) -> None:
    """Queuing 20,000 transitions returns in well under a second; flush then writes them all."""
    store = HistoryStore.open(tmp_path / "h.sqlite")
    store.agent_started(0.0)
    batch = [tr(f"d{i}", UP, float(i), "device") for i in range(20_000)]
    t0 = time.perf_counter()
    store.record(batch)
    assert time.perf_counter() - t0 < 1.0
    assert store.flush()
    store.close()
    assert rows(tmp_path / "h.sqlite", "SELECT count(*) FROM transitions") == [(20_000,)]


def test_records_without_a_start_open_a_run(tmp_path: Path) -> None:
    """A caller that never said agent_started still gets its history counted."""
    store = HistoryStore.open(tmp_path / "h.sqlite", clock=Clock(500.0))
    store.record([tr("r1", UP, 100.0, "device")])
    store.close()
    assert rows(tmp_path / "h.sqlite", "SELECT started, stopped FROM runs") == [(100.0, 500.0)]


def test_crashed_run_ends_at_its_heartbeat(tmp_path: Path) -> None:
    """A run left open (kill -9) is closed at its last heartbeat when the next run starts."""
    path = tmp_path / "h.sqlite"
    store = HistoryStore.open(path, clock=Clock(200.0))
    store.agent_started(100.0)
    store.record([tr("r1", UP, 100.0, "device")])
    store.close()
    # The state a kill -9 leaves: the run has no stop, only its last heartbeat.
    conn = sqlite3.connect(path)
    conn.execute("UPDATE runs SET stopped = NULL, last_seen = 200.0")
    conn.commit()
    conn.close()
    store2 = HistoryStore.open(path, clock=Clock(400.0))
    store2.agent_started(300.0)
    store2.record([tr("r1", UP, 300.0, "device")])
    store2.close()
    assert rows(path, "SELECT started, stopped, crashed FROM runs ORDER BY id") == [
        (100.0, 200.0, 1),
        (300.0, 400.0, 0),
    ]


def test_corrupt_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    """Garbage in the file: HistoryError naming the path; not one byte changed."""
    path = tmp_path / "history.sqlite"
    junk = b"this is not sqlite" * 500
    path.write_bytes(junk)
    with pytest.raises(HistoryError, match=str(path)):
        HistoryStore.open(path)
    assert path.read_bytes() == junk
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.sqlite"]


def test_damaged_pages_are_refused(tmp_path: Path) -> None:
    """A real database with overwritten pages fails the integrity check at open."""
    path = tmp_path / "h.sqlite"
    store = HistoryStore.open(path)
    store.agent_started(0.0)
    store.record([tr(f"d{i}", UP, float(i), "device") for i in range(5000)])
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for off in range(3 * page, min(len(data), 8 * page)):
        data[off] = 0x5A
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    with pytest.raises(HistoryError, match="corrupt"):
        HistoryStore.open(path)
    assert path.read_bytes() == before


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database from a newer netwatch is not touched."""
    path = tmp_path / "h.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.close()
    with pytest.raises(HistoryError, match="newer"):
        HistoryStore.open(path)


def test_directory_in_the_way_is_refused(tmp_path: Path) -> None:
    """A directory where the file should be is a clear error."""
    with pytest.raises(HistoryError, match="directory"):
        HistoryStore.open(tmp_path)


def test_retention_keeps_daily_summaries_and_reports_agree(tmp_path: Path) -> None:
    """After raw rows older than the retention are removed, reports from summaries match."""
    sites, devices = province()
    path = tmp_path / "h.sqlite"
    start, end = ts(2026, 1, 1), ts(2026, 3, 1)
    store = HistoryStore.open(path, clock=Clock(end), retention_seconds=20 * 86400)
    store.agent_started(start)
    store.record([tr("an-binh", UP, start)])
    # an outage over midnight 9/10 January, and maintenance on 20 January
    store.record([tr("an-binh", DOWN, ts(2026, 1, 9, 22)), tr("an-binh", UP, ts(2026, 1, 10, 3))])
    store.record(
        [
            tr("an-binh", Status.MAINTENANCE, ts(2026, 1, 20, 8)),
            tr("an-binh", UP, ts(2026, 1, 20, 9)),
        ]
    )
    store.record([tr("an-binh", DOWN, ts(2026, 2, 25)), tr("an-binh", UP, ts(2026, 2, 25, 1))])
    store.flush()
    a, b = datetime(2026, 1, 1, tzinfo=TZ), datetime(2026, 3, 1, tzinfo=TZ)
    before = build_report(
        path, sites, devices, start=a, end=b, by="site", level="commune"
    ).to_json()
    store.maintain(end)
    store.close()
    assert rows(path, "SELECT min(at) FROM transitions") == [(ts(2026, 2, 9),)]
    assert rows(path, "SELECT count(*) FROM daily WHERE subject = 'an-binh'") == [(59,)]
    after = build_report(path, sites, devices, start=a, end=b, by="site", level="commune").to_json()
    assert after == before
    ab = next(r for r in after["rows"] if r["site"] == "an-binh")
    assert (ab["outages"], ab["downtime_own_seconds"], ab["maintenance_seconds"]) == (
        2,
        6 * 3600,
        3600,
    )
    assert ab["longest_outage_seconds"] == 5 * 3600


def test_records_past_the_memory_bound_are_dropped_with_one_error_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Unwritable (the parent is a file): 12 records, bound 5: one line says the oldest go,
    and shutdown counts the 5 still unwritten; errors are counted for the storage metric."""
    (tmp_path / "f").write_text("not a directory")
    with caplog.at_level(logging.ERROR, logger="netwatch.history.store"):
        store = HistoryStore.open(
            tmp_path / "f" / "history.sqlite", max_pending=5, retry_seconds=0.05,
            batch_seconds=0.01,
        )  # fmt: skip
        store.record(
            Transition(f"d{i}", "device", Status.UNKNOWN, Status.UP, 1.0 + i) for i in range(12)
        )
        assert not store.flush()
        assert store.errors >= 1
        store.close()
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "the oldest are dropped" in m]) == 1
    assert any("5 records could not be written" in m for m in messages)


def test_an_unwritable_store_retries_at_its_pace_and_recovers_without_new_records(
    tmp_path: Path,
) -> None:
    """The parent is a file: the writer retries every 0.05 s (not in a busy loop, not only
    when records come) and is healthy again once the directory can be made."""
    parent = tmp_path / "data"
    parent.write_text("not a directory")
    store = HistoryStore.open(parent / "history.sqlite", retry_seconds=0.05)
    assert not store.healthy
    time.sleep(0.5)
    assert 3 <= store.errors <= 15
    parent.unlink()
    parent.mkdir()
    deadline = time.monotonic() + 5
    while not store.healthy and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.healthy
    assert store.last_error is None
    store.close()
