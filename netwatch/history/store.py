"""The history store: a SQLite file (WAL) written by one background thread.

Callers on the event loop only enqueue (``record`` and friends never block); the writer thread
(:mod:`~netwatch.history.writer`, on a :class:`~netwatch.sqlite_thread.SqliteThread`) commits
what arrived in batches, and every few seconds writes a heartbeat (the run's ``last_seen``) so
that after a kill -9 the time from the last heartbeat to the next start shows as unknown. When
the disk is full or the file turns read-only, the store logs one clear error, sets
``healthy = False``, keeps what arrives in memory (bounded) and retries; when a write works
again it logs that history resumed. If the memory bound was hit, the lost stretch becomes
unknown: a new run starts with every subject's current status.
"""

from __future__ import annotations

import concurrent.futures
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from zoneinfo import ZoneInfo

from netwatch.history import schema
from netwatch.history.writer import Reboot, Record, Start, Stop, Tuning, Writer
from netwatch.models import DEFAULT_TIMEZONE, Transition
from netwatch.sqlite_thread import SqliteThread

log = logging.getLogger(__name__)

DEFAULT_RETENTION = 2 * 365 * 86400.0


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
        self._clock = clock
        self._db = SqliteThread(self._connect, name="history-writer")
        tuning = Tuning(batch_seconds, heartbeat_seconds, retry_seconds, maintenance_seconds,
                        max_pending)  # fmt: skip
        self._writer = Writer(self._db, path, clock, ZoneInfo(timezone), retention_seconds, tuning)
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        return self._writer.connect()

    @property
    def healthy(self) -> bool:
        """False while the file cannot be written (records wait in memory)."""
        return self._writer.healthy

    @property
    def last_error(self) -> str | None:
        """Why writing fails, while it does."""
        return self._writer.last_error

    @property
    def errors(self) -> int:
        """Failed writes since start (the storage metric)."""
        return self._writer.errors

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
        store._db.start(tick=store._writer.tick)
        try:
            store._db.submit(store._writer.open).result()
        except BaseException:
            store._db.close()
            raise
        return store

    def record(self, transitions: Iterable[Transition]) -> None:
        """Queue status changes for writing; returns at once."""
        self._post(list(transitions))

    def record_reboot(self, device: str, at: float) -> None:
        self._post([Reboot(device, at)])

    def agent_started(self, at: float | None = None) -> None:
        """A new run begins: every subject is unknown until its first transition in it."""
        self._post([Start(self._clock() if at is None else at)])

    def agent_stopped(self, at: float | None = None) -> None:
        self._post([Stop(self._clock() if at is None else at)])

    def _post(self, records: list[Record]) -> None:
        if self._closed:
            log.warning("history: %d record(s) after close are not written", len(records))
            return
        self._db.post(self._writer.accept, records)

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Block until everything queued so far was written (or failed); True if healthy."""
        if not self._closed:
            self._wait(self._db.submit(self._writer.flush), timeout)
        return self.healthy

    def maintain(self, at: float | None = None, timeout: float | None = 600.0) -> None:
        """Run summaries, retention and vacuum now (normally hourly on the writer) and wait;
        nothing while the file cannot be written."""
        if not self._closed:
            self._wait(self._db.submit(self._writer.maintain, at), timeout)

    @staticmethod
    def _wait(future: concurrent.futures.Future[None], timeout: float | None) -> None:
        try:
            future.result(timeout)
        except TimeoutError:
            log.warning("history: the writer did not answer within %ss", timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, end the current run cleanly and stop the writer thread."""
        if self._closed:
            return
        self._closed = True
        self._db.post(self._writer.stop)
        if not self._db.close(timeout):
            log.error("history: the writer of %s did not stop within %gs", self.path, timeout)
        if self._writer.pending:
            log.error(
                "history: %d records could not be written to %s before shutdown (%s)",
                len(self._writer.pending),
                self.path,
                self.last_error,
            )
