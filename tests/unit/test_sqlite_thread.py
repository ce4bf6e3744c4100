"""SqliteThread: one connection on one thread, jobs in order, errors reach their waiter, an
orderly close. Real SQLite files in tmp_path."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from netwatch.sqlite_thread import SqliteThread


def opened(path: Path, **kw: object) -> SqliteThread:
    db = SqliteThread(lambda: sqlite3.connect(path, isolation_level=None), name="test-db")
    db.start(**kw)  # type: ignore[arg-type]
    return db


def test_jobs_run_in_order_on_the_one_thread_that_owns_the_connection(tmp_path: Path) -> None:
    """Every job runs on the same thread, in submit order, on one connection."""
    db = opened(tmp_path / "t.sqlite")
    seen: list[tuple[int, str, int]] = []

    def job(n: int) -> None:
        seen.append((n, threading.current_thread().name, id(db.connection)))

    futures = [db.submit(job, n) for n in range(50)]
    for f in futures:
        f.result(5)
    assert [n for n, _, _ in seen] == list(range(50))
    assert {name for _, name, _ in seen} == {"test-db"}
    assert len({conn for _, _, conn in seen}) == 1
    assert db.close()


def test_the_connection_is_refused_off_its_thread(tmp_path: Path) -> None:
    """Using the connection from another thread is a bug, said as such."""
    db = opened(tmp_path / "t.sqlite")
    with pytest.raises(RuntimeError, match="its own thread"):
        _ = db.connection
    db.close()


async def test_call_gives_the_result_and_raises_the_jobs_error_on_the_loop(tmp_path: Path) -> None:
    """``call`` passes the connection; a failing statement's error reaches the awaiter."""
    db = opened(tmp_path / "t.sqlite")
    await db.call(lambda conn: conn.execute("CREATE TABLE t (x)"))
    await db.call(lambda conn, x: conn.execute("INSERT INTO t VALUES (?)", (x,)), 7)
    assert await db.call(lambda conn: conn.execute("SELECT x FROM t").fetchall()) == [(7,)]
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        await db.call(lambda conn: conn.execute("SELECT * FROM missing"))
    await db.aclose()
    await db.aclose()  # idempotent


def test_a_job_nobody_waits_for_has_its_error_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``post``: the exception is not swallowed but logged with the thread's name."""
    db = opened(tmp_path / "t.sqlite")

    def broken() -> None:
        raise ValueError("a bug in a job")

    with caplog.at_level(logging.ERROR, logger="netwatch.sqlite_thread"):
        db.post(broken)
        db.close()
    assert "test-db: a job failed: ValueError: a bug in a job" in caplog.text


def test_close_runs_the_jobs_already_given_then_closes_the_connection(tmp_path: Path) -> None:
    """Jobs submitted before close are done; the connection is closed; later submits fail."""
    closed: list[bool] = []

    class Tracked(sqlite3.Connection):
        def close(self) -> None:
            closed.append(True)
            super().close()

    path = tmp_path / "t.sqlite"
    db = SqliteThread(lambda: sqlite3.connect(path, factory=Tracked), name="test-db")
    db.start()
    db.submit(lambda: db.connection.execute("CREATE TABLE t (x)")).result(5)

    def slow(x: int) -> None:
        time.sleep(0.05)
        db.connection.execute("INSERT INTO t VALUES (?)", (x,))
        db.connection.commit()

    for x in range(3):
        db.post(slow, x)
    assert db.close()
    assert db.close()  # idempotent
    with sqlite3.connect(tmp_path / "t.sqlite") as check:
        assert check.execute("SELECT count(*) FROM t").fetchone() == (3,)
    assert closed == [True]
    with pytest.raises(RuntimeError, match="closed"):
        db.submit(lambda: None)


def test_a_failed_connect_reaches_the_job_and_the_next_use_tries_again(tmp_path: Path) -> None:
    """connect raises: the waiting job gets that error; once it works, and after disconnect,
    a fresh connection is opened."""
    attempts: list[int] = []

    def connect() -> sqlite3.Connection:
        attempts.append(1)
        if len(attempts) == 1:
            raise sqlite3.OperationalError("unable to open database file")
        return sqlite3.connect(tmp_path / "t.sqlite")

    db = SqliteThread(connect, name="test-db")
    db.start()
    with pytest.raises(sqlite3.OperationalError, match="unable to open"):
        db.submit(lambda: db.connection).result(5)
    first = db.submit(lambda: db.connection).result(5)
    db.submit(db.disconnect).result(5)
    assert not db.connected
    second = db.submit(lambda: db.connection).result(5)
    assert second is not first
    assert len(attempts) == 3
    db.close()


def test_tick_runs_after_jobs_and_on_its_wait_and_survives_its_own_bug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The tick is called after a job and again when its wait ran out; one that raises is
    logged and called again, and jobs still run."""
    calls: list[float] = []
    raise_once = [True]

    def tick() -> float | None:
        calls.append(time.monotonic())
        if len(calls) == 3 and raise_once.pop():
            raise ValueError("tick bug")
        return 0.02 if len(calls) < 6 else None

    with caplog.at_level(logging.ERROR, logger="netwatch.sqlite_thread"):
        db = opened(tmp_path / "t.sqlite", tick=tick)
        deadline = time.monotonic() + 5
        while len(calls) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(calls) == 6  # stopped asking after the sixth: None
        assert db.submit(lambda: 42).result(5) == 42
        db.close()
    assert len(calls) == 7  # one more after that job
    assert "test-db: timed work failed (a bug)" in caplog.text
    assert "tick bug" in caplog.text


async def test_the_event_loop_is_not_blocked_by_a_slow_job(tmp_path: Path) -> None:
    """A job that sleeps 0.3 s on the thread; the loop keeps running meanwhile."""
    db = opened(tmp_path / "t.sqlite")
    job = db.call(lambda conn: time.sleep(0.3))
    ticks = 0
    while not job.done():
        await asyncio.sleep(0.01)
        ticks += 1
    await job
    assert ticks >= 10
    await db.aclose()
