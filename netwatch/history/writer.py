"""What the history's database thread does: batches, runs, heartbeats, retries, maintenance.

:class:`Writer` lives on the store's :class:`~netwatch.sqlite_thread.SqliteThread`: every method
runs there, as a job (``accept``, ``flush``, ``maintain``, ``stop``) or as the thread's tick
(:meth:`Writer.tick`: commit a batch ``batch`` seconds after its first record or at 5,000
records, the heartbeat, the retry of a failed write, one step of the hourly maintenance).

A failed write (disk full, read-only, I/O error) is logged once, sets ``healthy = False`` and
keeps the records in memory (at most ``max_pending``; past it the oldest go, and the stretch
they covered becomes unknown: a new run starts with every subject's current status); the write
is retried every ``retry`` seconds on a fresh connection.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from netwatch.errors import HistoryError
from netwatch.history import retention, schema
from netwatch.models import Status, Transition
from netwatch.sqlite_thread import SqliteThread

log = logging.getLogger("netwatch.history.store")  # operators know the store's lines by it

BATCH_RECORDS: Final = 5000  # a batch is committed at once when it reaches this many records


@dataclass(frozen=True, slots=True)
class Start:
    at: float


@dataclass(frozen=True, slots=True)
class Stop:
    at: float


@dataclass(frozen=True, slots=True)
class Reboot:
    device: str
    at: float


Record = Transition | Start | Stop | Reboot


@dataclass(frozen=True, slots=True)
class Tuning:
    """The writer's timings (seconds) and its memory bound (records)."""

    batch: float = 0.5
    heartbeat: float = 10.0
    retry: float = 10.0
    maintenance: float = 3600.0
    max_pending: int = 200_000


class Writer:
    """The history writer's state; used only on its database thread (see the module)."""

    def __init__(
        self, db: SqliteThread, path: Path, clock: Callable[[], float], tz: ZoneInfo,
        retention_seconds: float, tuning: Tuning,
    ) -> None:  # fmt: skip
        self.healthy = True
        self.last_error: str | None = None
        self.errors = 0  # failed writes since start (the storage metric)
        self.pending: deque[Record] = deque()
        self._db, self._path, self._clock, self._tz = db, path, clock, tz
        self._retention = retention_seconds
        self._t = tuning
        self._lost = False
        self._run_id: int | None = None
        self._run_pending = False  # a start is accepted but not committed yet
        self._status: dict[tuple[str, str], tuple[Status, str | None]] = {}
        self._known: set[tuple[str, str]] = set()
        now = time.monotonic()
        self._batch_due: float | None = None  # when the records accepted so far are committed
        self._next_beat = now + tuning.heartbeat
        self._next_retry = 0.0
        self._next_maint = now + min(60.0, tuning.maintenance)
        self._maint: Iterator[str] | None = None
        self._stopped = False

    def connect(self) -> sqlite3.Connection:
        """A prepared connection to the file (the thread's ``connect``)."""
        conn = schema.connect(self._path)
        try:
            schema.prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    # ------------------------------------------------------------------ jobs

    def open(self) -> None:
        """Connect; raises :class:`HistoryError` for a corrupt file. A file that cannot be
        written does not raise: the writer starts unhealthy and retries."""
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._db.connection  # noqa: B018 - opens it
        except (OSError, sqlite3.Error) as exc:
            if isinstance(exc, sqlite3.DatabaseError) and schema.is_corruption(exc):
                raise HistoryError(
                    f"history database {self._path} is corrupt ({exc}); netwatch will not "
                    "overwrite it"
                ) from exc
            self._fail(exc)

    def accept(self, records: Iterable[Record]) -> None:
        """Take records in; they are committed with the next batch."""
        for record in records:
            self._accept(record)
        if self._batch_due is None:
            self._batch_due = time.monotonic() + self._t.batch

    def flush(self) -> None:
        """Commit what was accepted now (unless a failed write waits for its retry time)."""
        if self.healthy or time.monotonic() >= self._next_retry:
            self._commit()

    def maintain(self, at: float | None) -> None:
        """Commit, then run the whole maintenance due at ``at`` now (nothing while the file
        cannot be written)."""
        self.flush()
        if not (self.healthy and self._db.connected):
            return
        self._maint = retention.steps(
            self._db.connection, self._clock() if at is None else at, self._tz, self._retention
        )
        while self._maint is not None:
            self._maint_step()

    def stop(self) -> None:
        """The last job: end the current run cleanly and write everything, if the disk lets."""
        if self._run_id is not None or self._run_pending:
            self._accept(Stop(self._clock()))
        self._commit()
        self._stopped = True

    # ------------------------------------------------------------------ timed work

    def tick(self) -> float | None:
        """Commit a due batch or heartbeat, or retry; one maintenance step; the next wait."""
        if self._stopped:
            return None
        now = time.monotonic()
        batch_due = self._batch_due is not None and (
            now >= self._batch_due or len(self.pending) >= BATCH_RECORDS
        )
        retry_ok = self.healthy or now >= self._next_retry
        # Unhealthy: retry when due even with nothing to write, so health shows a fixed disk.
        if retry_ok and (batch_due or now >= self._next_beat or not self.healthy):
            self._commit()
        elif now >= self._next_beat:
            self._next_beat = now + self._t.heartbeat
        if self.healthy and self._db.connected and time.monotonic() >= self._next_maint:
            if self._maint is None:
                self._maint = retention.steps(
                    self._db.connection, self._clock(), self._tz, self._retention
                )
            self._maint_step()
        return self._wait()

    def _wait(self) -> float:
        """Seconds until the next timed work is due."""
        wake = self._next_beat
        if not self.healthy:
            wake = min(wake, self._next_retry)
        elif self._maint is not None:
            return 0.0  # a step at a time, with the jobs that arrived in between
        else:
            wake = min(wake, self._next_maint)
            if self._batch_due is not None:
                wake = min(wake, self._batch_due)
        return max(0.0, wake - time.monotonic())

    def _maint_step(self) -> None:
        assert self._maint is not None
        try:
            next(self._maint)
        except StopIteration:
            self._maint = None
            self._next_maint = time.monotonic() + self._t.maintenance
        except sqlite3.Error as exc:
            self._maint = None
            self._next_maint = time.monotonic() + self._t.retry
            self._fail(exc)

    # ------------------------------------------------------------------ writing

    def _accept(self, item: Record) -> None:
        if isinstance(item, Transition):
            if self._run_id is None and not self._run_pending:
                self._accept(Start(item.at))  # records without a start: a run begins here
            self._status[(item.kind, item.subject)] = (item.new, item.cause)
        elif isinstance(item, Start):
            self._status.clear()
            self._run_pending = True
        elif isinstance(item, Stop):
            self._run_pending = False
        self.pending.append(item)
        if len(self.pending) > self._t.max_pending:
            self.pending.popleft()
            if not self._lost:
                log.error(
                    "history: %d records waiting in memory for %s, the bound: the oldest are "
                    "dropped; the stretch they covered will count as unknown",
                    self._t.max_pending, self._path,
                )  # fmt: skip
            self._lost = True

    def _commit(self) -> bool:
        """Write the pending records and the heartbeat in one transaction."""
        self._batch_due = None
        now = self._clock()
        try:
            conn = self._db.connection
            conn.execute("BEGIN IMMEDIATE")
            try:
                run_id, new_subjects = self._write(conn, now)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self._fail(exc)
            # The connection may be unusable after an I/O error; a fresh one on retry.
            self._db.disconnect()
            self._next_retry = time.monotonic() + self._t.retry
            self._next_beat = time.monotonic() + self._t.heartbeat
            return False
        self._next_beat = time.monotonic() + self._t.heartbeat
        self._run_id, self._run_pending = run_id, False
        self._known.update(new_subjects)
        self.pending.clear()
        self._lost = False
        if not self.healthy:
            self.healthy = True
            self.last_error = None
            log.warning("history: writing to %s again; history resumed", self._path)
        return True

    def _write(
        self, conn: sqlite3.Connection, now: float
    ) -> tuple[int | None, list[tuple[str, str]]]:
        """The transaction's statements: the run id after it, and the subjects it added."""
        run_id = self._run_id
        records: Iterable[Record] = self.pending
        if self._lost:
            run_id, records = self._resume_after_loss(conn, run_id, now)
        new_subjects: list[tuple[str, str]] = []
        for rec in records:
            if isinstance(rec, Transition):
                if (rec.kind, rec.subject) not in self._known:
                    _insert_subject(conn, rec)
                    new_subjects.append((rec.kind, rec.subject))
                conn.execute(
                    "INSERT INTO transitions (kind, subject, at, status, cause) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (rec.kind, rec.subject, rec.at, rec.new.value, rec.cause),
                )
            else:
                run_id = _write_event(conn, rec, run_id)
        if run_id is not None:
            conn.execute(
                "UPDATE runs SET last_seen = max(last_seen, ?) WHERE id = ?", (now, run_id)
            )
        return run_id, new_subjects

    def _resume_after_loss(
        self, conn: sqlite3.Connection, run_id: int | None, now: float
    ) -> tuple[int | None, list[Record]]:
        """Records were dropped: end the run at its last heartbeat (the gap is unknown) and
        start a new one now with every subject's current status."""
        _close_orphans(conn)
        records: list[Record] = [r for r in self.pending if isinstance(r, Reboot)]
        stopped = any(isinstance(r, Stop) for r in self.pending)
        if run_id is None and not self._run_pending and not stopped:
            return None, records
        cur = conn.execute("INSERT INTO runs (started, last_seen) VALUES (?, ?)", (now, now))
        for (kind, subject), (status, cause) in sorted(self._status.items()):
            records.append(Transition(subject, kind, Status.UNKNOWN, status, now, cause))  # type: ignore[arg-type]
        if stopped:
            records.append(Stop(now))
        return cur.lastrowid, records

    def _fail(self, exc: BaseException) -> None:
        message = (
            f"history: cannot write to {self._path}: {exc}; polling and alerting continue, "
            f"records are kept in memory (up to {self._t.max_pending}) and the write is "
            f"retried every {self._t.retry:g}s"
        )
        self.last_error = message
        self.errors += 1
        if self.healthy:
            self.healthy = False
            log.error("%s", message)


def _close_orphans(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE runs SET stopped = last_seen, crashed = 1 WHERE stopped IS NULL")


def _insert_subject(conn: sqlite3.Connection, rec: Transition) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO subjects (kind, id, first_seen) VALUES (?, ?, ?)",
        (rec.kind, rec.subject, rec.at),
    )


def _write_event(
    conn: sqlite3.Connection, rec: Start | Stop | Reboot, run_id: int | None
) -> int | None:
    """A reboot, or the start or stop of a run; the current run's id after it."""
    if isinstance(rec, Reboot):
        conn.execute("INSERT INTO reboots (device, at) VALUES (?, ?)", (rec.device, rec.at))
    elif isinstance(rec, Start):
        _close_orphans(conn)
        cur = conn.execute("INSERT INTO runs (started, last_seen) VALUES (?, ?)", (rec.at, rec.at))
        return cur.lastrowid
    elif run_id is not None:  # Stop
        conn.execute(
            "UPDATE runs SET stopped = ?, last_seen = max(last_seen, ?) WHERE id = ?",
            (rec.at, rec.at, run_id),
        )
        return None
    return run_id
