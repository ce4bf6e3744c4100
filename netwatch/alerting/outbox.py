"""The durable outbox: every notification is in SQLite before it is sent, until a channel took it.

``put`` commits the deliveries and returns; :meth:`Outbox.run` has one worker per channel that
sends what is due (several at once), deletes a row when its channel accepted it, and on a
retryable failure reschedules it with exponential backoff and jitter (10 s doubling to 10 min).
A delivery still failing after ``give_up_after`` (24 h), or failing for good, becomes a
dead letter: the row stays (``dead_at`` set) for the operator and an error is logged.

Guarantees and their limits:

* At least once. A message whose send succeeded but whose deletion had not committed when the
  process died is sent again on restart; e-mail carries a stable Message-ID so mail clients show
  one copy.
* No duplicates from a re-``put``: each delivery has a key (alert id, state, escalation, contact,
  channel, repeat number) that is UNIQUE in the queue and remembered for a week after sending.
* Per (alert, contact, channel) messages go out in the order they were put: a recovery never
  overtakes the alarm it recovers while the alarm is still being retried.
* A full or failing disk: new deliveries are held in memory (at most 10,000; past that the
  oldest is dropped, logged and counted in ``netwatch_notifications_dropped_total``) and still
  sent; a row sent or retried whose update cannot be written keeps its new state in memory.
  All of it is written, in put order, when a write works again (tried every 2 s), and at
  shutdown if it can be; what cannot is logged with a count. Each task of :meth:`Outbox.run`
  is restarted with backoff if it dies (``netwatch_outbox_restarts_total``).
* Durability: WAL with ``synchronous=FULL``. ``NORMAL`` would already survive ``kill -9`` (a
  commit is in the WAL file, i.e. in the OS page cache, before ``put`` returns) but can lose the
  last commits on power loss or a kernel crash — and a power cut at a district office is exactly
  when an alert matters. FULL costs one fsync per commit; there are a handful per minute.

All SQLite work runs on one dedicated thread that owns the connection; the event loop never
blocks on the disk.

>>> # outbox = await Outbox.open(Path(data_dir) / "outbox.sqlite", notifiers=notifiers,
>>> #                            contacts=config.contacts, registry=registry)
>>> # task = asyncio.create_task(outbox.run()); await outbox.put([delivery]); ...
>>> # task.cancel(); await outbox.close()
>>> Backoff(jitter=0).delay(1), Backoff(jitter=0).delay(3), Backoff(jitter=0).delay(30)
(10.0, 40.0, 600.0)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final, NamedTuple, TypeVar, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge

from netwatch.alerting.model import Alert, Delivery
from netwatch.alerting.notifiers import Notifier
from netwatch.alerting.routing import LOG_CONTACT
from netwatch.errors import NotifyError
from netwatch.models import Contact
from netwatch.settings.notify import Channel

log = logging.getLogger(__name__)
T = TypeVar("T")

CHANNELS: Final[tuple[Channel, ...]] = get_args(Channel)
SCHEMA_VERSION: Final = 1
SENT_MEMORY: Final = 7 * 86400.0  # how long a sent key still blocks a duplicate put
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,  -- put order, kept across restarts
    key        TEXT    NOT NULL UNIQUE,
    alert_id   TEXT    NOT NULL,
    contact    TEXT    NOT NULL,
    channel    TEXT    NOT NULL,
    alert      TEXT    NOT NULL,                   -- alert_to_json
    created_at REAL    NOT NULL,
    next_at    REAL    NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT    NOT NULL DEFAULT '',
    dead_at    REAL                                -- set once given up: a dead letter
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (channel, dead_at, next_at);
CREATE INDEX IF NOT EXISTS outbox_order ON outbox (alert_id, contact, channel, id);
CREATE TABLE IF NOT EXISTS sent (key TEXT PRIMARY KEY, sent_at REAL NOT NULL) WITHOUT ROWID;
"""


# --------------------------------------------------------------------------- alert <-> JSON


def alert_to_json(alert: Alert) -> str:
    """A JSON object with every field of ``alert`` (tuples as lists).

    >>> a = Alert(id="a", state="firing", kind="down", severity="critical", subject="r",
    ...           subject_kind="device", site="s", site_name="Xã An Bình",
    ...           affected_sites=("x",), labels={"district": "nk"})
    >>> alert_from_json(alert_to_json(a)) == a
    True
    """
    doc: dict[str, Any] = {}
    for f in fields(Alert):
        value = getattr(alert, f.name)
        if isinstance(value, tuple):
            value = list(value)
        elif f.name == "labels":
            value = dict(value)
        doc[f.name] = value
    return json.dumps(doc, ensure_ascii=False, sort_keys=True)


def alert_from_json(text: str) -> Alert:
    """The inverse of :func:`alert_to_json`; unknown keys (a newer netwatch) are ignored."""
    doc = json.loads(text)
    kwargs: dict[str, Any] = {}
    for f in fields(Alert):
        if f.name not in doc:
            continue
        value = doc[f.name]
        kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    return Alert(**kwargs)


def delivery_key(delivery: Delivery) -> str:
    """The dedup key: the same delivery put twice (e.g. after a crash) is stored once.

    The alert's ``repeat`` number is part of it, so a reminder is a new delivery, not a
    duplicate of the first message (it was, and reminders were never sent).
    """
    a = delivery.alert
    esc = "esc" if a.escalated else ""
    return f"{a.id}|{a.state}|{esc}|{delivery.contact}|{delivery.channel}|{a.repeat}"


# --------------------------------------------------------------------------- backoff


@dataclass(frozen=True, slots=True)
class Backoff:
    """Retry timing: ``initial`` doubling (``factor``) up to ``maximum``, ± ``jitter`` share.

    Jitter spreads the retries of a channel that was down, so its queue does not arrive as one
    burst when it comes back. ``give_up_after`` counts from when the delivery was put.
    """

    initial: float = 10.0
    factor: float = 2.0
    maximum: float = 600.0
    jitter: float = 0.2
    give_up_after: float = 86400.0

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (1-based)."""
        base = min(self.maximum, self.initial * self.factor ** max(0, attempts - 1))
        if not self.jitter:
            return base
        return base * (1.0 + self.jitter * (rng or random).uniform(-1.0, 1.0))


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of the outbox, as :meth:`Outbox.entries` shows it."""

    key: str
    channel: Channel
    contact: str
    alert: Alert
    created_at: float
    next_at: float
    attempts: int
    last_error: str
    dead_at: float | None


# --------------------------------------------------------------------------- the outbox

MEMORY_LIMIT: Final = 10_000  # deliveries held in memory while the file cannot take them
STORAGE_RETRY: Final = 2.0  # seconds between attempts to write what memory holds
LOG_EVERY: Final = 60.0  # seconds: at most one "still cannot write" line per this
RESTART_DELAY: Final = 1.0  # first wait before a dead task is restarted; doubles to a minute


@dataclass(frozen=True, slots=True)
class _Held:
    """A delivery the file could not take: kept in memory, sent from there, written later."""

    key: str
    alert_id: str
    contact: str
    channel: str
    alert: str
    created_at: float
    next_at: float
    attempts: int = 0
    last_error: str = ""
    dead_at: float | None = None


_NewRow = tuple[str, str, str, str, str, float]  # key, alert id, contact, channel, alert, now


class _Op(NamedTuple):
    """A change to a stored row that could not be written yet (the row is ``key``)."""

    kind: str  # "sent" (delete the row, remember the key), "retry" or "dead"
    at: float  # sent_at, next_at or dead_at
    attempts: int = 0
    error: str = ""


class Outbox:
    """The queue between the alert engine and the notifiers. Open it with :meth:`open`.

    When the file cannot be written (disk full, I/O error) nothing is lost while the process
    lives: new deliveries are held in memory (at most ``memory_limit``, the oldest dropped and
    counted) and sent from there; a row sent or retried whose update cannot be written keeps
    its new state in memory; everything is written, in put order, once a write works again
    (:attr:`storage_ok` says which it is). Every task of :meth:`run` is restarted if it dies.
    """

    def __init__(
        self,
        executor: ThreadPoolExecutor,
        conn: sqlite3.Connection,
        path: Path,
        *,
        notifiers: Mapping[Channel, Notifier],
        contacts: Mapping[str, Contact],
        registry: CollectorRegistry,
        backoff: Backoff,
        concurrency: int,
        send_timeout: float,
        clock: Callable[[], float],
        rng: random.Random,
        memory_limit: int = MEMORY_LIMIT,
        storage_retry: float = STORAGE_RETRY,
        restart_delay: float = RESTART_DELAY,
    ) -> None:
        self._executor = executor
        self._conn = conn
        self.path = path
        self._notifiers = dict(notifiers)
        self._contacts = dict(contacts)
        self._backoff = backoff
        self._concurrency = concurrency
        self._send_timeout = send_timeout
        self._clock = clock
        self._rng = rng
        self._memory_limit = memory_limit
        self._storage_retry = storage_retry
        self._restart_delay = restart_delay
        self._wake = {channel: asyncio.Event() for channel in CHANNELS}
        self._closed = False
        # What the file does not have yet. _held: deliveries never written, in put order;
        # _ops: the latest unwritten change per stored row; _sent_held: keys sent from memory,
        # for the sent table (dedup of a re-put).
        self._held: dict[str, _Held] = {}
        self._ops: dict[str, _Op] = {}
        self._sent_held: dict[str, float] = {}
        self._write_lock = asyncio.Lock()
        self._stored_pending = 0  # pending rows in the file at the last successful look
        self._write_failing = False
        self.storage_error: str | None = None  # why the last write failed, while it does
        self.storage_errors = 0  # failed reads and writes since start
        self._logged_at = -LOG_EVERY
        self._unlogged = 0
        self._total = Counter(
            "netwatch_notifications",
            "Notification attempts by channel and result (sent, retry, failed).",
            ["channel", "result"],
            registry=registry,
        )
        for channel in CHANNELS:  # every series exists from the start, at 0
            for result in ("sent", "retry", "failed"):
                self._total.labels(channel, result)
        self._queue = Gauge(
            "netwatch_notification_queue_length",
            "Notifications waiting in the outbox to be sent (dead letters excluded).",
            registry=registry,
        )
        self._held_gauge = Gauge(
            "netwatch_notifications_held",
            "Notifications and outbox changes kept in memory because the file cannot take them.",
            registry=registry,
        )
        self._dropped = Counter(
            "netwatch_notifications_dropped",
            "Notifications dropped unsent because the outbox file and its memory were full.",
            ["channel"],
            registry=registry,
        )
        for channel in CHANNELS:
            self._dropped.labels(channel)
        self._restarts = Counter(
            "netwatch_outbox_restarts",
            "Outbox tasks restarted after they stopped on an error.",
            ["task"],
            registry=registry,
        )

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        notifiers: Mapping[Channel, Notifier],
        contacts: Mapping[str, Contact],
        registry: CollectorRegistry,
        backoff: Backoff | None = None,
        concurrency: int = 4,
        send_timeout: float = 120.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        memory_limit: int = MEMORY_LIMIT,
        storage_retry: float = STORAGE_RETRY,
        restart_delay: float = RESTART_DELAY,
        factory: type[sqlite3.Connection] = sqlite3.Connection,
    ) -> Outbox:
        """Open (creating if needed) the outbox at ``path``; raises :class:`NotifyError`.

        Pending deliveries become due at once: a restart is often the fix for what failed.
        ``factory`` is the connection class (tests pass one that fails on demand).
        """
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netwatch-outbox")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, _connect, path, clock(), factory)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        outbox = cls(
            executor, conn, path, notifiers=notifiers, contacts=contacts, registry=registry,
            backoff=backoff or Backoff(), concurrency=concurrency, send_timeout=send_timeout,
            clock=clock, rng=rng or random.Random(), memory_limit=memory_limit,
            storage_retry=storage_retry, restart_delay=restart_delay,
        )  # fmt: skip
        outbox._stored_pending = await outbox._db(_count_pending)
        outbox._set_queue()
        return outbox

    async def close(self) -> None:
        """Write what memory still holds if the disk takes it, then close; cancel :meth:`run`
        first. Idempotent; never raises for the disk."""
        if self._closed:
            return
        if self._in_memory():
            try:
                await self._write([])
            except sqlite3.Error as exc:
                unsent = sum(1 for h in self._held.values() if h.dead_at is None)
                unrecorded = len(self._sent_held) + sum(
                    op.kind == "sent" for op in self._ops.values()
                )
                log.log(
                    logging.ERROR if unsent else logging.WARNING,
                    "outbox: %s cannot be written at shutdown (%s): lost %d unsent "
                    "notification(s) held in memory; %d sent one(s) not recorded as sent (a "
                    "restart may send them again)",
                    self.path, exc, unsent, unrecorded,
                )  # fmt: skip
        self._closed = True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._conn.close)
        except sqlite3.Error as exc:
            log.warning("outbox: closing %s: %s", self.path, exc)
        self._executor.shutdown(wait=False)  # its only job is done; the thread exits now

    def update(
        self,
        *,
        notifiers: Mapping[Channel, Notifier] | None = None,
        contacts: Mapping[str, Contact] | None = None,
    ) -> None:
        """After a reload: new notifiers or contacts apply from the next attempt on."""
        if notifiers is not None:
            self._notifiers = dict(notifiers)
        if contacts is not None:
            self._contacts = dict(contacts)
        for event in self._wake.values():
            event.set()

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise NotifyError(f"outbox {self.path} is closed", retryable=False)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, self._conn, *args)

    # ------------------------------------------------------------------ storage health

    @property
    def storage_ok(self) -> bool:
        """False while the file cannot be written or memory holds what it should have."""
        return not self._write_failing and not self._in_memory()

    @property
    def held(self) -> int:
        """Deliveries and row changes kept in memory, waiting for the file."""
        return len(self._held) + len(self._ops) + len(self._sent_held)

    def _in_memory(self) -> bool:
        return bool(self._held or self._ops or self._sent_held)

    def _storage_failed(self, what: str, exc: sqlite3.Error) -> None:
        """Count the failure; log the first of a streak, then at most once a minute."""
        self.storage_errors += 1
        self.storage_error = f"outbox {self.path}: {what}: {exc}"
        now = time.monotonic()
        if not self._write_failing or now - self._logged_at >= LOG_EVERY:
            log.error(
                "outbox: cannot %s %s: %s; notifications are still sent, and kept in memory "
                "(%d now, at most %d) until the file can be written (%d more failure(s) since "
                "the last such line)",
                what, self.path, exc, self.held, self._memory_limit, self._unlogged,
            )  # fmt: skip
            self._logged_at = now
            self._unlogged = 0
        else:
            self._unlogged += 1
        self._write_failing = True
        self._set_queue()

    def _storage_back(self) -> None:
        if self._write_failing and not self._in_memory():
            log.warning("outbox: writing to %s again; everything held in memory is written",
                        self.path)  # fmt: skip
        if not self._in_memory():
            self._write_failing = False
            self.storage_error = None
        self._set_queue()

    def _set_queue(self) -> int:
        done = sum(1 for op in self._ops.values() if op.kind != "retry")
        held = sum(1 for h in self._held.values() if h.dead_at is None)
        pending = max(0, self._stored_pending - done) + held
        self._queue.set(pending)
        self._held_gauge.set(self.held)
        return pending

    def _done_keys(self) -> str:
        """The stored rows already sent or given up (not yet written): as a JSON list."""
        return json.dumps([k for k, op in self._ops.items() if op.kind != "retry"])

    # ------------------------------------------------------------------ queue

    async def put(self, deliveries: Iterable[Delivery]) -> int:
        """Store ``deliveries`` (committed when this returns); the number newly queued.

        A delivery whose key is already queued, or was sent in the last week, is skipped.
        When the file cannot take them they are held in memory (and still sent); never raises
        for the disk.
        """
        now = self._clock()
        rows: list[_NewRow] = [
            (delivery_key(d), d.alert.id, d.contact, d.channel, alert_to_json(d.alert), now)
            for d in deliveries
        ]
        if not rows:
            return 0
        try:
            added = await self._write(rows)
        except sqlite3.Error as exc:
            added = await self._hold(rows)
            self._storage_failed("write to", exc)
        for channel in CHANNELS:
            if any(row[3] == channel for row in rows):
                self._wake[channel].set()
        if added < len(rows):
            log.info("outbox: %d of %d deliveries were already queued or sent", len(rows) - added,
                     len(rows))  # fmt: skip
        return added

    async def _write(self, rows: list[_NewRow]) -> int:
        """Write what memory holds, then ``rows``, in one transaction; raises sqlite3.Error.

        Memory is brought in line with the file when the transaction ends, even if the caller
        was cancelled meanwhile (a reload): otherwise a delivery both written and still held
        would be sent twice.
        """
        async with self._write_lock:
            ops = list(self._ops.items())
            held = list(self._held.values())
            sent = list(self._sent_held.items())
            if self._closed:
                raise NotifyError(f"outbox {self.path} is closed", retryable=False)
            # The executor's own future, not a task around it: its callbacks run before any
            # later database call's caller resumes, so no reader sees the file written and
            # memory not yet brought in line.
            done = asyncio.get_running_loop().run_in_executor(
                self._executor, _write_back, self._conn, ops, held, sent, rows
            )
            done.add_done_callback(functools.partial(self._written, ops, held, sent))
            added, _ = await asyncio.shield(done)
            return added

    def _written(
        self,
        ops: list[tuple[str, _Op]],
        held: list[_Held],
        sent: list[tuple[str, float]],
        done: asyncio.Future[tuple[int, int]],
    ) -> None:
        """What ``_write`` wrote leaves memory (on the loop, once its transaction ended)."""
        if done.cancelled() or done.exception() is not None:
            return
        self._stored_pending = done.result()[1]
        for key, op in ops:
            if self._ops.get(key) is op:
                del self._ops[key]
        for key, _ in sent:
            self._sent_held.pop(key, None)
        for h in held:
            # Attempts went on while the transaction ran: what changed since becomes a change
            # to the row just written.
            current = self._held.get(h.key)
            if current is None:
                if h.key in self._sent_held:  # sent meanwhile
                    self._ops[h.key] = _Op("sent", self._sent_held.pop(h.key))
                continue
            del self._held[h.key]
            if current is not h:
                kind, at = (
                    ("dead", current.dead_at) if current.dead_at else ("retry", current.next_at)
                )
                self._ops[h.key] = _Op(kind, at, current.attempts, current.last_error)
        self._storage_back()

    async def _hold(self, rows: list[_NewRow]) -> int:
        """Keep rows the file did not take in memory, without duplicates; the number kept."""
        fresh = [r for r in rows if r[0] not in self._held and r[0] not in self._sent_held
                 and r[0] not in self._ops]  # fmt: skip
        try:  # reading often still works on a full disk
            known = await self._db(_known_keys, json.dumps([r[0] for r in fresh]))
        except sqlite3.Error:
            known = set()
        added = 0
        for key, alert_id, contact, channel, alert, now in fresh:
            if key in known:
                continue
            self._held[key] = _Held(key, alert_id, contact, channel, alert, now, now)
            added += 1
        while len(self._held) > self._memory_limit:
            oldest = self._held.pop(next(iter(self._held)))
            self._dropped.labels(oldest.channel).inc()
            log.error(
                "outbox: memory full (%d held while %s cannot be written): dropped notification "
                "%s to contact %s via %s",
                self._memory_limit, self.path, oldest.alert_id, oldest.contact, oldest.channel,
            )  # fmt: skip
        while len(self._sent_held) > self._memory_limit:  # only a dedup memory
            del self._sent_held[next(iter(self._sent_held))]
        self._set_queue()
        return added

    async def _change(self, key: str, op: _Op) -> None:
        """Apply ``op`` to the stored row ``key``, or keep it in memory if that fails."""
        if self._ops:  # keep changes in order: write the older ones first
            self._ops[key] = op
            try:
                await self._write([])
            except sqlite3.Error as exc:
                self._storage_failed("update", exc)
            return
        try:
            self._stored_pending = await self._db(_apply_op, key, op)
        except sqlite3.Error as exc:
            self._ops[key] = op
            self._storage_failed("update", exc)
            return
        self._set_queue()

    async def queue_length(self) -> int:
        """Deliveries waiting to be sent (dead letters excluded), in the file or in memory."""
        with contextlib.suppress(sqlite3.Error):
            self._stored_pending = await self._db(_count_pending)
        return self._set_queue()

    async def entries(self, *, dead: bool | None = None) -> list[Entry]:
        """Rows in put order; ``dead=True`` only dead letters, ``False`` only pending ones.
        Deliveries held in memory come last, as they will be written."""
        stored = await self._db(_entries, dead)
        held = [
            Entry(key=h.key, channel=h.channel, contact=h.contact,  # type: ignore[arg-type]
                  alert=alert_from_json(h.alert), created_at=h.created_at, next_at=h.next_at,
                  attempts=h.attempts, last_error=h.last_error, dead_at=h.dead_at)
            for h in self._held.values()
            if dead is None or dead == (h.dead_at is not None)
        ]  # fmt: skip
        return stored + held

    # ------------------------------------------------------------------ sending

    async def run(self) -> None:
        """Send until cancelled: one worker per channel, the pruning of the sent-key memory
        and the writing of what memory holds; each restarted (with backoff) if it dies."""
        tasks: dict[str, Callable[[], Awaitable[None]]] = {
            f"outbox-{channel}": functools.partial(self._worker, channel) for channel in CHANNELS
        }
        tasks["outbox-prune"] = self._prune_forever
        tasks["outbox-flush"] = self._flush_forever
        async with asyncio.TaskGroup() as tg:
            for name, factory in tasks.items():
                tg.create_task(self._supervise(name, factory), name=name)

    async def _supervise(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Run ``factory()`` for ever: if it stops (an uncaught error is a bug), log, count
        and start it again after a pause that doubles (to a minute) while it keeps failing."""
        self._restarts.labels(name)
        failures = 0
        while True:
            started = time.monotonic()
            try:
                await factory()
                why = "returned"
            except Exception as exc:  # CancelledError is not an Exception: it goes through
                why = f"raised {type(exc).__name__}"
                # The traceback at debug only: a library's text could hold a secret.
                log.debug("outbox: traceback of task %s", name, exc_info=True)
            if time.monotonic() - started > 60.0:
                failures = 0
            failures += 1
            delay = min(60.0, self._restart_delay * 2 ** (failures - 1))
            self._restarts.labels(name).inc()
            log.error("outbox: task %s stopped (%s); restarting it in %.1fs", name, why, delay)
            await asyncio.sleep(delay)

    async def run_once(self, channel: Channel) -> int:
        """Attempt every due delivery of ``channel`` once; the number attempted."""
        now = self._clock()
        retrying = sum(1 for op in self._ops.values() if op.kind == "retry")
        done = self._done_keys()
        try:
            stored = await self._db(_due, channel, now, self._concurrency + retrying, done)
        except sqlite3.Error as exc:
            self._storage_failed("read", exc)
            stored = []
        rows: list[_Row] = []
        for row in stored:
            # Looked up again after the read: a write that ended meanwhile may have added it.
            op = self._ops.get(row.key)
            if op is None:
                rows.append(row)
            elif op.kind == "retry" and op.at <= now:  # a retry whose new time is not written
                rows.append(row._replace(attempts=op.attempts))
        rows = rows[: self._concurrency]
        if len(rows) < self._concurrency and self._held:
            rows += await self._held_due(channel, now, done, self._concurrency - len(rows))
        await asyncio.gather(*(self._attempt(row) for row in rows))
        return len(rows)

    async def _held_due(self, channel: str, now: float, done: str, limit: int) -> list[_Row]:
        """Due deliveries held in memory: the oldest of each (alert, contact), and only when no
        stored delivery of the same (alert, contact) is still waiting (order is kept)."""
        seen: set[tuple[str, str]] = set()
        due: list[_Held] = []
        for h in self._held.values():
            group = (h.alert_id, h.contact)
            if h.channel != channel or h.dead_at is not None or group in seen:
                continue
            seen.add(group)
            if h.next_at <= now:
                due.append(h)
        if not due:
            return []
        try:
            waiting = await self._db(_waiting_groups, channel, done)
        except sqlite3.Error:
            waiting = set()  # cannot tell: sending beats keeping the order
        return [
            _Row(-1, h.key, h.contact, h.channel, h.alert, h.created_at, h.attempts)
            for h in due
            if (h.alert_id, h.contact) not in waiting
        ][:limit]

    async def _worker(self, channel: Channel) -> None:
        wake = self._wake[channel]
        while True:
            wake.clear()  # before looking, so a put while we look is not missed
            if await self.run_once(channel):
                continue
            await self._sleep(channel, wake)

    async def _sleep(self, channel: Channel, wake: asyncio.Event) -> None:
        """Until the next delivery of ``channel`` is due (a minute at most) or a put wakes us."""
        now = self._clock()
        times = [h.next_at for h in self._held.values() if h.channel == channel and not h.dead_at]
        times += [op.at for op in self._ops.values() if op.kind == "retry"]
        try:
            next_at = await self._db(_next_due, channel)
        except sqlite3.Error:
            next_at = None
        if next_at is not None:
            # With unwritten retries the file's times are stale: do not spin on them.
            times.append(max(next_at, now + self._storage_retry) if self._ops else next_at)
        delay = min(60.0, max(0.0, min(times) - now)) if times else 60.0
        if self._write_failing:  # a failed read would be tried again at once, and again...
            delay = max(delay, self._storage_retry)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await wake.wait()

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(3600)
            try:
                await self._db(_prune, self._clock() - SENT_MEMORY)
            except sqlite3.Error as exc:
                self._storage_failed("prune", exc)

    async def _flush_forever(self) -> None:
        """Write what memory holds as soon as the file takes it (after a failed read or prune
        with nothing held, an empty transaction tells whether the file works again)."""
        while True:
            await asyncio.sleep(self._storage_retry)
            if self._in_memory() or self._write_failing:
                try:
                    await self._write([])
                except sqlite3.Error as exc:
                    self._storage_failed("write to", exc)

    async def _attempt(self, row: _Row) -> None:
        alert = alert_from_json(row.alert)
        contact_name, channel = row.contact, row.channel
        error = await self._send(alert, contact_name, channel)
        if error is not None:
            await self._failed(row, alert, error)
            return
        now = self._clock()
        if row.key in self._held:  # never written: only its key is to be remembered
            del self._held[row.key]
            self._sent_held[row.key] = now
            self._set_queue()
        else:
            await self._change(row.key, _Op("sent", now))
        self._total.labels(channel, "sent").inc()
        log.info(
            "notification %s [%s] sent to contact %s via %s",
            alert.id, alert.state, contact_name, channel,
        )  # fmt: skip

    async def _send(self, alert: Alert, contact_name: str, channel: str) -> NotifyError | None:
        """None when the channel accepted the delivery, else why not."""
        contact = self._contacts.get(contact_name)
        if contact is None and contact_name == LOG_CONTACT:
            contact = Contact(LOG_CONTACT)  # the agent's own log, not a person
        notifier = self._notifiers.get(channel)  # type: ignore[call-overload]
        if contact is None:
            return NotifyError(
                f"contact {contact_name} is no longer in the configuration", retryable=False
            )
        if notifier is None:
            # Retryable: a reload that adds the notify.<channel> section will send it.
            return NotifyError(f"channel {channel} is not configured under notify:")
        delivery = Delivery(alert=alert, contact=contact_name, channel=notifier.channel)
        try:
            async with asyncio.timeout(self._send_timeout):
                await notifier.send(delivery, contact)
        except NotifyError as exc:
            return exc
        except TimeoutError:
            return NotifyError(f"{channel}: no result within {self._send_timeout:g}s")
        except Exception as bug:  # a notifier bug must not stop the other deliveries
            # Only the class name: a library's text could hold a URL with a token in it.
            log.error(
                "outbox: %s notifier raised %s for alert %s",
                channel, type(bug).__name__, alert.id,
            )  # fmt: skip
            log.debug("outbox: notifier traceback", exc_info=True)
            return NotifyError(f"{channel}: internal error {type(bug).__name__}")
        return None

    async def _failed(self, row: _Row, alert: Alert, exc: NotifyError) -> None:
        now = self._clock()
        key, channel, contact = row.key, row.channel, row.contact
        attempts = row.attempts + 1
        expired = now - row.created_at >= self._backoff.give_up_after
        if exc.retryable and not expired:
            delay = self._backoff.delay(attempts, self._rng)
            op = _Op("retry", now + delay, attempts, str(exc)[:1000])
            self._total.labels(channel, "retry").inc()
            log.warning("notification %s to contact %s via %s failed (attempt %d), retry in "
                        "%.0fs: %s", alert.id, contact, channel, attempts, delay, exc)  # fmt: skip
        else:
            op = _Op("dead", now, attempts, str(exc)[:1000])
            self._total.labels(channel, "failed").inc()
            why = f"gave up after {attempts} attempts" if exc.retryable else "rejected"
            log.error("notification %s to contact %s via %s %s, kept as dead letter %s: %s",
                      alert.id, contact, channel, why, key, exc)  # fmt: skip
        held = self._held.get(key)
        if held is None:
            await self._change(key, op)
            return
        if op.kind == "dead":
            held = dataclasses.replace(held, dead_at=op.at, attempts=attempts, last_error=op.error)
        else:
            held = dataclasses.replace(held, next_at=op.at, attempts=attempts, last_error=op.error)
        self._held[key] = held
        self._set_queue()


# --------------------------------------------------------------------------- SQL (worker thread)


def _connect(
    path: Path, now: float, factory: type[sqlite3.Connection] = sqlite3.Connection
) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, nothing is left half-open.
        conn = sqlite3.connect(path, isolation_level=None, factory=factory)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            conn.close()
            raise NotifyError(
                f"outbox {path} has schema {version}, newer than this netwatch ({SCHEMA_VERSION})",
                retryable=False,
            )
        conn.executescript(_SCHEMA)  # idempotent; executescript commits by itself
        with _tx(conn):
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("UPDATE outbox SET next_at=? WHERE dead_at IS NULL AND next_at>?",
                         (now, now))  # fmt: skip
            conn.execute("DELETE FROM sent WHERE sent_at<?", (now - SENT_MEMORY,))
        return conn
    except sqlite3.Error as exc:
        raise NotifyError(f"cannot open outbox {path}: {exc}", retryable=False) from exc


@contextlib.contextmanager
def _tx(conn: sqlite3.Connection) -> Any:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled back already (disk full, I/O error)
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


def _count_pending(conn: sqlite3.Connection) -> int:
    (n,) = conn.execute("SELECT count(*) FROM outbox WHERE dead_at IS NULL").fetchone()
    return int(n)


def _write_back(
    conn: sqlite3.Connection,
    ops: list[tuple[str, _Op]],
    held: list[_Held],
    sent: list[tuple[str, float]],
    rows: list[_NewRow],
) -> tuple[int, int]:
    """One transaction: the changes and deliveries memory held, then the new ``rows``."""
    added = 0
    with _tx(conn):
        for key, op in ops:
            _apply(conn, key, op)
        conn.executemany("INSERT OR REPLACE INTO sent (key, sent_at) VALUES (?, ?)", sent)
        conn.executemany(
            "INSERT OR IGNORE INTO outbox (key, alert_id, contact, channel, alert, created_at,"
            " next_at, attempts, last_error, dead_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(h.key, h.alert_id, h.contact, h.channel, h.alert, h.created_at, h.next_at,
              h.attempts, h.last_error, h.dead_at) for h in held],
        )  # fmt: skip
        for key, alert_id, contact, channel, alert, now in rows:
            cur = conn.execute(
                "INSERT OR IGNORE INTO outbox (key, alert_id, contact, channel, alert, created_at,"
                " next_at) SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS"
                " (SELECT 1 FROM sent WHERE key=?)",
                (key, alert_id, contact, channel, alert, now, now, key),
            )
            added += cur.rowcount
    return added, _count_pending(conn)


def _known_keys(conn: sqlite3.Connection, keys: str) -> set[str]:
    """Which of ``keys`` (a JSON list) are queued or were sent."""
    found = conn.execute(
        "SELECT key FROM outbox WHERE key IN (SELECT value FROM json_each(?))"
        " UNION SELECT key FROM sent WHERE key IN (SELECT value FROM json_each(?))",
        (keys, keys),
    ).fetchall()
    return {k for (k,) in found}


class _Row(NamedTuple):
    id: int
    key: str
    contact: str
    channel: str
    alert: str
    created_at: float
    attempts: int


def _due(
    conn: sqlite3.Connection, channel: str, now: float, limit: int, done: str = "[]"
) -> list[_Row]:
    # Only the oldest pending row of each (alert, contact, channel): order is kept. ``done``
    # (a JSON list of keys) are rows sent or given up whose update is not written yet.
    rows = conn.execute(
        "SELECT o.id, o.key, o.contact, o.channel, o.alert, o.created_at, o.attempts"
        " FROM outbox o WHERE o.channel=? AND o.dead_at IS NULL AND o.next_at<=?"
        " AND o.key NOT IN (SELECT value FROM json_each(?))"
        " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.alert_id=o.alert_id"
        " AND p.contact=o.contact AND p.channel=o.channel AND p.dead_at IS NULL AND p.id<o.id"
        " AND p.key NOT IN (SELECT value FROM json_each(?)))"
        " ORDER BY o.next_at, o.id LIMIT ?",
        (channel, now, done, done, limit),
    ).fetchall()
    return [_Row(*r) for r in rows]


def _waiting_groups(conn: sqlite3.Connection, channel: str, done: str) -> set[tuple[str, str]]:
    """The (alert, contact) pairs of ``channel`` with a stored delivery still to send."""
    rows = conn.execute(
        "SELECT DISTINCT alert_id, contact FROM outbox WHERE channel=? AND dead_at IS NULL"
        " AND key NOT IN (SELECT value FROM json_each(?))",
        (channel, done),
    ).fetchall()
    return {(a, c) for a, c in rows}


def _next_due(conn: sqlite3.Connection, channel: str) -> float | None:
    (at,) = conn.execute(
        "SELECT min(next_at) FROM outbox WHERE channel=? AND dead_at IS NULL", (channel,)
    ).fetchone()
    return None if at is None else float(at)


def _apply(conn: sqlite3.Connection, key: str, op: _Op) -> None:
    if op.kind == "sent":
        conn.execute("DELETE FROM outbox WHERE key=?", (key,))
        conn.execute("INSERT OR REPLACE INTO sent (key, sent_at) VALUES (?, ?)", (key, op.at))
    elif op.kind == "retry":
        conn.execute(
            "UPDATE outbox SET next_at=?, attempts=?, last_error=? WHERE key=?",
            (op.at, op.attempts, op.error[:1000], key),
        )
    else:
        conn.execute(
            "UPDATE outbox SET dead_at=?, attempts=?, last_error=? WHERE key=?",
            (op.at, op.attempts, op.error[:1000], key),
        )


def _apply_op(conn: sqlite3.Connection, key: str, op: _Op) -> int:
    with _tx(conn):
        _apply(conn, key, op)
    return _count_pending(conn)


def _prune(conn: sqlite3.Connection, before: float) -> None:
    with _tx(conn):
        conn.execute("DELETE FROM sent WHERE sent_at<?", (before,))


def _entries(conn: sqlite3.Connection, dead: bool | None) -> list[Entry]:
    where = {None: "", True: " WHERE dead_at IS NOT NULL", False: " WHERE dead_at IS NULL"}[dead]
    rows = conn.execute(
        "SELECT key, channel, contact, alert, created_at, next_at, attempts, last_error, dead_at"
        f" FROM outbox{where} ORDER BY id"
    ).fetchall()
    return [
        Entry(
            key=r[0],
            channel=r[1],
            contact=r[2],
            alert=alert_from_json(r[3]),
            created_at=r[4],
            next_at=r[5],
            attempts=r[6],
            last_error=r[7],
            dead_at=r[8],
        )
        for r in rows
    ]
