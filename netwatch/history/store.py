"""The history store: a SQLite file (WAL) written by one background thread.

Callers on the event loop only enqueue (``record`` and friends never block); the writer thread
commits what arrived in batches, and every few seconds writes a heartbeat (the run's
``last_seen``) so that after a kill -9 the time from the last heartbeat to the next start shows
as unknown. When the disk is full or the file turns read-only, the store logs one clear error,
sets ``healthy = False``, keeps what arrives in memory (bounded) and retries; when a write works
again it logs that history resumed. If the memory bound was hit, the lost stretch becomes unknown:
a new run starts with every subject's current status.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from netwatch.errors import HistoryError
from netwatch.history import retention, schema
from netwatch.models import DEFAULT_TIMEZONE, Status, Transition

log = logging.getLogger(__name__)

DEFAULT_RETENTION = 2 * 365 * 86400.0


@dataclass(frozen=True, slots=True)
class _Start:
    at: float


@dataclass(frozen=True, slots=True)
class _Stop:
    at: float


@dataclass(frozen=True, slots=True)
class _Reboot:
    device: str
    at: float


@dataclass(frozen=True, slots=True)
class _Barrier:
    done: threading.Event


@dataclass(frozen=True, slots=True)
class _Maintain:
    at: float | None
    done: threading.Event


class _Close:
    pass


_Record = Transition | _Start | _Stop | _Reboot
_Item = _Record | _Barrier | _Maintain | _Close


class HistoryStore:
    """Uptime history in one SQLite file; thread-safe, non-blocking writes.

    >>> import tempfile, pathlib
    >>> from netwatch.models import Status, Transition
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "history.sqlite"
    >>> store = HistoryStore.open(path, clock=lambda: 1000.0)
    >>> store.agent_started(1000.0)
    >>> store.record([Transition("r1", "device", Status.UNKNOWN, Status.UP, 1001.0)])
    >>> store.close()
    >>> store.healthy
    True
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        timezone: str = DEFAULT_TIMEZONE,
        retention_seconds: float = DEFAULT_RETENTION,
        batch_seconds: float = 0.5,
        heartbeat_seconds: float = 10.0,
        retry_seconds: float = 10.0,
        maintenance_seconds: float = 3600.0,
        max_pending: int = 200_000,
    ) -> None:
        self.path = path
        self.timezone = timezone
        self.healthy = True
        self.last_error: str | None = None
        self.errors = 0  # failed writes since start (the storage metric)
        self._clock = clock
        self._tz = ZoneInfo(timezone)
        self._retention = retention_seconds
        self._batch = batch_seconds
        self._heartbeat = heartbeat_seconds
        self._retry = retry_seconds
        self._maint_every = maintenance_seconds
        self._max_pending = max_pending
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._pending: deque[_Record] = deque()
        self._lost = False
        self._conn: sqlite3.Connection | None = None
        self._run_id: int | None = None
        self._run_pending = False  # a start is queued but not committed yet
        self._status: dict[tuple[str, str], tuple[Status, str | None]] = {}
        self._known: set[tuple[str, str]] = set()
        self._thread = threading.Thread(target=self._loop, name="history-writer", daemon=True)
        self._closed = False

    # ------------------------------------------------------------------ public API

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        clock: Callable[[], float] = time.time,
        timezone: str = DEFAULT_TIMEZONE,
        retention_seconds: float = DEFAULT_RETENTION,
        **tuning: float,
    ) -> HistoryStore:
        """Open (or create) the database and start the writer thread. Blocks briefly: call it
        at startup or in a thread.

        Raises :class:`HistoryError` naming the path when the file is corrupt or from a newer
        netwatch; the file is then left exactly as it was. A file that cannot be written
        (read-only, disk full, no permission) does not raise: the store starts unhealthy and
        retries, so polling and alerting go on.
        """
        p = Path(path)
        schema.verify(p)
        store = cls(
            p,
            clock=clock,
            timezone=timezone,
            retention_seconds=retention_seconds,
            **tuning,  # type: ignore[arg-type]
        )
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            store._connect()
        except (OSError, sqlite3.Error) as exc:
            if isinstance(exc, sqlite3.DatabaseError) and schema.is_corruption(exc):
                raise HistoryError(
                    f"history database {p} is corrupt ({exc}); netwatch will not overwrite it"
                ) from exc
            store._fail(exc)
        store._thread.start()
        return store

    def record(self, transitions: Iterable[Transition]) -> None:
        """Queue status changes for writing; returns at once."""
        for t in transitions:
            self._queue.put(t)

    def record_reboot(self, device: str, at: float) -> None:
        self._queue.put(_Reboot(device, at))

    def agent_started(self, at: float | None = None) -> None:
        """A new run begins: every subject is unknown until its first transition in it."""
        self._queue.put(_Start(self._clock() if at is None else at))

    def agent_stopped(self, at: float | None = None) -> None:
        self._queue.put(_Stop(self._clock() if at is None else at))

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Block until everything queued so far was written (or failed); True if healthy."""
        done = threading.Event()
        self._queue.put(_Barrier(done))
        done.wait(timeout)
        return self.healthy

    def maintain(self, at: float | None = None, timeout: float | None = 600.0) -> None:
        """Run summaries, retention and vacuum now (normally hourly on the writer) and wait."""
        done = threading.Event()
        self._queue.put(_Maintain(at, done))
        done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, end the current run cleanly and stop the writer thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_Close())
        self._thread.join(timeout)
        if self._pending:
            log.error(
                "history: %d records could not be written to %s before shutdown (%s)",
                len(self._pending),
                self.path,
                self.last_error,
            )

    # ------------------------------------------------------------------ writer thread

    def _connect(self) -> None:
        conn = schema.connect(self.path)
        try:
            schema.prepare(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    @staticmethod
    def _close_orphans(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE runs SET stopped = last_seen, crashed = 1 WHERE stopped IS NULL")

    def _loop(self) -> None:
        mono = time.monotonic
        next_beat = mono() + self._heartbeat
        next_retry = 0.0
        next_maint = mono() + min(60.0, self._maint_every)
        maint: Iterator[str] | None = None
        maint_waiters: list[threading.Event] = []
        while True:
            now = mono()
            wake = next_beat
            if not self.healthy:
                wake = min(wake, next_retry)
            elif maint is not None:
                wake = now
            else:
                wake = min(wake, next_maint)
            barriers: list[threading.Event] = []
            closing = False
            maint_at: float | None = None
            try:
                item: _Item | None = self._queue.get(timeout=max(0.0, wake - now))
            except queue.Empty:
                item = None
            deadline = mono() + self._batch
            while item is not None:
                if isinstance(item, _Barrier):
                    barriers.append(item.done)
                elif isinstance(item, _Close):
                    closing = True
                elif isinstance(item, _Maintain):
                    maint_waiters.append(item.done)
                    maint_at = item.at
                    next_maint = 0.0
                else:
                    self._accept(item)
                if barriers or closing or maint_waiters:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    continue
                if len(self._pending) >= 5000:
                    break
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - mono()))
                except queue.Empty:
                    break
            if closing and (self._run_id is not None or self._run_pending):
                self._accept(_Stop(self._clock()))
            now = mono()
            due_beat = now >= next_beat
            retry_ok = self.healthy or now >= next_retry or closing
            if retry_ok and (self._pending or due_beat or barriers or closing):
                if self._commit():
                    next_beat = mono() + self._heartbeat
                else:
                    next_retry = mono() + self._retry
                    next_beat = mono() + self._heartbeat
            elif due_beat:
                next_beat = now + self._heartbeat
            for ev in barriers:
                ev.set()
            if closing:
                break
            if self.healthy and self._conn is not None and mono() >= next_maint:
                if maint is None:
                    at = maint_at if maint_at is not None else self._clock()
                    maint = retention.steps(self._conn, at, self._tz, self._retention)
                try:
                    next(maint)
                except StopIteration:
                    maint = None
                    next_maint = mono() + self._maint_every
                    for ev in maint_waiters:
                        ev.set()
                    maint_waiters.clear()
                except sqlite3.Error as exc:
                    maint = None
                    next_maint = mono() + self._retry
                    self._fail(exc)
                    for ev in maint_waiters:
                        ev.set()
                    maint_waiters.clear()
        for ev in maint_waiters:
            ev.set()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _accept(self, item: _Record) -> None:
        if isinstance(item, Transition):
            if self._run_id is None and not self._run_pending:
                self._accept(_Start(item.at))  # records without a start: a run begins here
            self._status[(item.kind, item.subject)] = (item.new, item.cause)
        elif isinstance(item, _Start):
            self._status.clear()
            self._run_pending = True
        elif isinstance(item, _Stop):
            self._run_pending = False
        self._pending.append(item)
        if len(self._pending) > self._max_pending:
            self._pending.popleft()
            if not self._lost:
                log.error(
                    "history: %d records waiting in memory for %s, the bound: the oldest are "
                    "dropped; the stretch they covered will count as unknown",
                    self._max_pending, self.path,
                )  # fmt: skip
            self._lost = True

    def _commit(self) -> bool:
        """Write the pending records and the heartbeat in one transaction."""
        now = self._clock()
        try:
            if self._conn is None:
                self._connect()
            conn = self._conn
            assert conn is not None
            run_id = self._run_id
            new_subjects: list[tuple[str, str]] = []
            conn.execute("BEGIN IMMEDIATE")
            try:
                records: Iterable[_Record] = self._pending
                if self._lost:
                    run_id, records = self._resume_after_loss(conn, run_id, now)
                for rec in records:
                    if isinstance(rec, Transition):
                        key = (rec.kind, rec.subject)
                        if key not in self._known:
                            conn.execute(
                                "INSERT OR IGNORE INTO subjects (kind, id, first_seen) "
                                "VALUES (?, ?, ?)",
                                (rec.kind, rec.subject, rec.at),
                            )
                            new_subjects.append(key)
                        conn.execute(
                            "INSERT INTO transitions (kind, subject, at, status, cause) "
                            "VALUES (?, ?, ?, ?, ?)",
                            (rec.kind, rec.subject, rec.at, rec.new.value, rec.cause),
                        )
                    elif isinstance(rec, _Reboot):
                        conn.execute(
                            "INSERT INTO reboots (device, at) VALUES (?, ?)", (rec.device, rec.at)
                        )
                    elif isinstance(rec, _Start):
                        self._close_orphans(conn)
                        cur = conn.execute(
                            "INSERT INTO runs (started, last_seen) VALUES (?, ?)", (rec.at, rec.at)
                        )
                        run_id = cur.lastrowid
                    elif run_id is not None:  # _Stop
                        conn.execute(
                            "UPDATE runs SET stopped = ?, last_seen = max(last_seen, ?) "
                            "WHERE id = ?",
                            (rec.at, rec.at, run_id),
                        )
                        run_id = None
                if run_id is not None:
                    conn.execute(
                        "UPDATE runs SET last_seen = max(last_seen, ?) WHERE id = ?", (now, run_id)
                    )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self._fail(exc)
            if self._conn is not None:
                # The connection may be unusable after an I/O error; a fresh one on retry.
                self._conn.close()
                self._conn = None
            return False
        self._run_id = run_id
        self._run_pending = False
        self._known.update(new_subjects)
        self._pending.clear()
        self._lost = False
        if not self.healthy:
            self.healthy = True
            self.last_error = None
            log.warning("history: writing to %s again; history resumed", self.path)
        return True

    def _resume_after_loss(
        self, conn: sqlite3.Connection, run_id: int | None, now: float
    ) -> tuple[int | None, list[_Record]]:
        """Records were dropped: end the run at its last heartbeat (the gap is unknown) and
        start a new one now with every subject's current status."""
        self._close_orphans(conn)
        records: list[_Record] = [r for r in self._pending if isinstance(r, _Reboot)]
        stopped = any(isinstance(r, _Stop) for r in self._pending)
        if run_id is None and not self._run_pending and not stopped:
            return None, records
        cur = conn.execute("INSERT INTO runs (started, last_seen) VALUES (?, ?)", (now, now))
        for (kind, subject), (status, cause) in sorted(self._status.items()):
            records.append(Transition(subject, kind, Status.UNKNOWN, status, now, cause))  # type: ignore[arg-type]
        if stopped:
            records.append(_Stop(now))
        return cur.lastrowid, records

    def _fail(self, exc: BaseException) -> None:
        message = (
            f"history: cannot write to {self.path}: {exc}; polling and alerting continue, "
            f"records are kept in memory (up to {self._max_pending}) and the write is retried "
            f"every {self._retry:g}s"
        )
        self.last_error = message
        self.errors += 1
        if self.healthy:
            self.healthy = False
            log.error("%s", message)
