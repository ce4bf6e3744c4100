"""One SQLite connection on one thread of its own: the outbox and the history store use it.

A ``sqlite3`` connection belongs to the thread that uses it, and a disk can stall for seconds;
so each database gets a :class:`SqliteThread` that owns its connection and runs the jobs given
to it one at a time, in the order they were given. The event loop awaits a job with
:meth:`SqliteThread.call`; other threads wait on the future of :meth:`SqliteThread.submit`.
A job's exception reaches whoever waits for it; one nobody waits for (:meth:`SqliteThread.post`)
is logged. :meth:`SqliteThread.close` runs the jobs already given, closes the connection and
ends the thread.

The connection is opened on first use, on the thread (``connect`` may raise; the job that
needed it gets the error), and :meth:`SqliteThread.disconnect` drops it so that the next use
opens a fresh one (after an I/O error a connection may stay unusable).

>>> import sqlite3
>>> db = SqliteThread(lambda: sqlite3.connect(":memory:"), name="doctest-db")
>>> db.start()
>>> db.submit(lambda: db.connection.execute("SELECT 1 + 1").fetchone()).result()
(2,)
>>> db.close()
True
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Concatenate, Final, ParamSpec, TypeVar

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

TICK_ERROR_PAUSE: Final = 1.0  # seconds before a tick that raised is called again


class _Stop:
    """The last job: close the connection and end the thread."""


class SqliteThread:
    """Runs jobs on one thread that owns one SQLite connection; see the module docstring.

    ``tick``, given to :meth:`start`, is called on the thread after every job and whenever the
    wait it last returned has passed; it does the timed work (batches, heartbeats, retries)
    and returns the seconds until it next wants to be called (``None``: after the next job).
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, name: str) -> None:
        self.name = name
        self._connect = connect
        self._conn: sqlite3.Connection | None = None
        self._jobs: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[[], Any]]]
        self._jobs = queue.SimpleQueue()
        self._tick: Callable[[], float | None] | None = None
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._closing = False
        self._lock = threading.Lock()  # orders submit() against close() from other threads

    def start(self, tick: Callable[[], float | None] | None = None) -> None:
        """Start the thread (the connection opens on first use)."""
        self._tick = tick
        self._thread.start()

    # ------------------------------------------------------------------ on the thread

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection, opened now if it is not; only for jobs (it is this thread's)."""
        if threading.current_thread() is not self._thread:
            raise RuntimeError(f"{self.name}: the connection is used only on its own thread")
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def disconnect(self) -> None:
        """Close the connection (errors ignored: it is being thrown away); the next use of
        :attr:`connection` opens a fresh one. Only for jobs and the tick."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error as exc:
                log.warning("%s: closing a failed connection: %s", self.name, exc)

    # ------------------------------------------------------------------ from anywhere

    def submit(
        self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> concurrent.futures.Future[T]:
        """Run ``fn(*args, **kwargs)`` on the thread after the jobs given before; its future.

        Raises :class:`RuntimeError` once :meth:`close` was called (a caller's bug)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._closing:
                raise RuntimeError(f"{self.name} is closed")
            self._jobs.put((future, lambda: fn(*args, **kwargs)))
        return future

    def post(self, fn: Callable[P, object], *args: P.args, **kwargs: P.kwargs) -> None:
        """Like :meth:`submit` for a job nobody waits for: its exception, if any, is logged."""
        self.submit(fn, *args, **kwargs).add_done_callback(self._log_failure)

    def call(
        self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> asyncio.Future[T]:
        """``fn(connection, *args, **kwargs)`` on the thread, as a future of the running loop.

        The future's done callbacks run on the loop before any later job's awaiter resumes
        (jobs end in order), which the outbox relies on to keep memory and file in step."""
        return asyncio.wrap_future(self.submit(lambda: fn(self.connection, *args, **kwargs)))

    def close(self, timeout: float | None = 30.0) -> bool:
        """Run the jobs already given, close the connection and wait (at most ``timeout``)
        for the thread to end; True if it did. Idempotent. A failing close is logged."""
        stopped = self._stop()
        if stopped is not None:
            stopped.add_done_callback(self._log_failure)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    async def aclose(self) -> None:
        """:meth:`close` for the event loop, without blocking it; raises what closing the
        connection raised. Idempotent."""
        stopped = self._stop()
        if stopped is not None:
            await asyncio.wrap_future(stopped)

    def _stop(self) -> concurrent.futures.Future[None] | None:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._lock:
            if self._closing:
                return None
            self._closing = True
            if not self._thread.is_alive():  # never started, or already ended
                return None
            self._jobs.put((future, _Stop))
        return future

    # ------------------------------------------------------------------ the thread

    def _loop(self) -> None:
        wait: float | None = self._run_tick()
        while True:
            try:
                future, job = self._jobs.get(timeout=wait)
            except queue.Empty:
                wait = self._run_tick()
                continue
            if job is _Stop:
                self._finish(future)
                return
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(job())
                except BaseException as exc:  # the waiter gets it, whatever it is
                    future.set_exception(exc)
            wait = self._run_tick()

    def _run_tick(self) -> float | None:
        if self._tick is None:
            return None
        try:
            wait = self._tick()
        except Exception:
            log.exception("%s: timed work failed (a bug); trying again shortly", self.name)
            return TICK_ERROR_PAUSE
        return None if wait is None else max(0.0, wait)

    def _finish(self, future: concurrent.futures.Future[Any]) -> None:
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                conn.close()
        except sqlite3.Error as exc:
            future.set_exception(exc)
        else:
            future.set_result(None)

    def _log_failure(self, future: concurrent.futures.Future[Any]) -> None:
        exc = None if future.cancelled() else future.exception()
        if exc is not None:
            log.error("%s: a job failed: %s: %s", self.name, type(exc).__name__, exc,
                      exc_info=exc)  # fmt: skip
