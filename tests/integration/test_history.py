"""The history store against real failures: kill -9, a full disk, a read-only file system,
a corrupt file."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from netwatch.errors import HistoryError
from netwatch.history import HistoryStore, build_report
from netwatch.history.reader import runs
from netwatch.models import Device, Role, Site, Status, Transition

ROOT = Path(__file__).resolve().parents[2]


def count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM transitions").fetchone()[0])
    finally:
        conn.close()


def test_kill_9_during_heavy_writing_loses_nothing_committed(tmp_path: Path) -> None:
    """After kill -9 the database opens, every flushed row is there, the gap is unknown."""
    path = tmp_path / "history.sqlite"
    child = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/integration/history_child.py"), str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert child.stdout is not None
    committed, last_flush = 0, 0.0
    deadline = time.monotonic() + 30
    while committed < 20_000 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        committed, last_flush = int(line.split()[0]), float(line.split()[1])
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    child.stdout.close()
    assert committed >= 20_000
    killed_at = time.time()

    store = HistoryStore.open(path)  # must not raise: the file is sound
    assert count(path) >= committed
    restart = time.time() + 5
    store.agent_started(restart)
    store.record([Transition("d0", "device", Status.UNKNOWN, Status.UP, restart)])
    store.close()
    conn = sqlite3.connect(path)
    agent_runs = runs(conn, 0, restart + 10)
    crashed = conn.execute("SELECT crashed FROM runs ORDER BY id").fetchall()
    conn.close()
    assert [c[0] for c in crashed] == [1, 0]
    (s1, e1), (s2, _) = agent_runs
    assert last_flush - 1 <= e1 <= killed_at  # the crashed run ends at its last heartbeat
    assert s2 == restart
    sites = {"s": Site("s", "S", "commune", None, (), None, ("d0",), ())}
    devices = {"d0": Device("d0", "127.0.0.1", Role.ROUTER, "s")}
    rep = build_report(
        path,
        sites,
        devices,
        start=datetime.fromtimestamp(s1, UTC),
        end=datetime.fromtimestamp(restart + 5, UTC),
        by="device",
    )
    d0 = rep.rows[0].stats
    assert d0.unknown >= restart - e1  # the gap is unknown, never up
    assert d0.up + d0.unknown == pytest.approx(restart + 5 - s1)


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, unmounted afterwards (needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_one_error_then_resumes(tiny_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A full disk: one clear error, record() keeps returning, history resumes with space."""
    path = tiny_fs / "history.sqlite"
    store = HistoryStore.open(path, retry_seconds=0.2, heartbeat_seconds=0.2, batch_seconds=0.05)
    store.agent_started(1000.0)
    ballast = tiny_fs / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096) > 0:
            pass
    except OSError:
        pass  # full
    finally:
        os.close(fd)
    with caplog.at_level(logging.WARNING, logger="netwatch.history.store"):
        for i in range(5):
            t0 = time.perf_counter()
            store.record(
                Transition(f"device-{i}-{j}", "device", Status.UNKNOWN, Status.UP, 1000.0 + j)
                for j in range(300)
            )
            assert time.perf_counter() - t0 < 0.5
            store.flush()
        assert not store.healthy
        assert store.last_error is not None
        assert str(path) in store.last_error
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert "polling and alerting continue" in errors[0].getMessage()
        ballast.unlink()
        deadline = time.monotonic() + 10
        while not store.healthy and time.monotonic() < deadline:
            time.sleep(0.1)
            store.flush()
        assert store.healthy
        assert any("resumed" in r.getMessage() for r in caplog.records)
    store.close()
    assert count(path) == 1500


def test_read_only_file_system_then_writable_again(
    tiny_fs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Started on a read-only file system: one error, nothing lost, writes resume after.

    (Linux refuses to remount read-only while the writer holds the file open, so the file
    system is read-only from the start here; the disk-full test covers failure mid-run.)
    """
    path = tiny_fs / "history.sqlite"
    first = HistoryStore.open(path)
    first.agent_started(900.0)
    first.close()
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    try:
        with caplog.at_level(logging.ERROR, logger="netwatch.history.store"):
            store = HistoryStore.open(
                path, retry_seconds=0.2, heartbeat_seconds=0.2, batch_seconds=0.05
            )
            store.agent_started(1000.0)
            for i in range(3):
                store.record([Transition("a", "device", Status.UP, Status.DOWN, 1002.0 + i)])
                store.flush()
            assert not store.healthy
            assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tiny_fs)], check=True)
    deadline = time.monotonic() + 10
    while not store.healthy and time.monotonic() < deadline:
        time.sleep(0.1)
        store.flush()
    assert store.healthy
    store.close()
    assert count(path) == 3


def test_opening_on_a_read_only_file_system_does_not_raise(tiny_fs: Path) -> None:
    """No writable place at startup: the store starts unhealthy instead of stopping polling."""
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    try:
        store = HistoryStore.open(tiny_fs / "history.sqlite", retry_seconds=0.2)
        store.agent_started(1.0)
        store.flush()
        assert not store.healthy
        assert str(tiny_fs / "history.sqlite") in (store.last_error or "")
        store.close()
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tiny_fs)], check=True)


def test_corrupt_database_at_startup_is_refused(tmp_path: Path) -> None:
    """A truncated real database: HistoryError with the path, the file exactly as it was."""
    path = tmp_path / "history.sqlite"
    store = HistoryStore.open(path)
    store.agent_started(0.0)
    store.record(Transition(f"d{i}", "device", Status.UNKNOWN, Status.UP, i) for i in range(20000))
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = path.read_bytes()
    with pytest.raises(HistoryError) as info:
        HistoryStore.open(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before
