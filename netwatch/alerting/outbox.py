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
import json
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final, NamedTuple, TypeVar, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge

from netwatch.alerting.model import Alert, Channel, Delivery
from netwatch.alerting.notifiers import Notifier
from netwatch.alerting.routing import LOG_CONTACT
from netwatch.errors import NotifyError
from netwatch.models import Contact

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


class Outbox:
    """The queue between the alert engine and the notifiers. Open it with :meth:`open`."""

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
        self._wake = {channel: asyncio.Event() for channel in CHANNELS}
        self._closed = False
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
    ) -> Outbox:
        """Open (creating if needed) the outbox at ``path``; raises :class:`NotifyError`.

        Pending deliveries become due at once: a restart is often the fix for what failed.
        """
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netwatch-outbox")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, _connect, path, clock())
        except BaseException:
            executor.shutdown(wait=False)
            raise
        outbox = cls(
            executor, conn, path, notifiers=notifiers, contacts=contacts, registry=registry,
            backoff=backoff or Backoff(), concurrency=concurrency, send_timeout=send_timeout,
            clock=clock, rng=rng or random.Random(),
        )  # fmt: skip
        outbox._queue.set(await outbox._db(_count_pending))
        return outbox

    async def close(self) -> None:
        """Close the database; cancel :meth:`run` first. Idempotent."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._conn.close)
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

    # ------------------------------------------------------------------ queue

    async def put(self, deliveries: Iterable[Delivery]) -> int:
        """Store ``deliveries`` (committed when this returns); the number newly queued.

        A delivery whose key is already queued, or was sent in the last week, is skipped.
        """
        now = self._clock()
        rows = [
            (delivery_key(d), d.alert.id, d.contact, d.channel, alert_to_json(d.alert), now)
            for d in deliveries
        ]
        if not rows:
            return 0
        added, pending = await self._db(_insert, rows)
        self._queue.set(pending)
        for _, _, _, channel, _, _ in rows:
            self._wake[channel].set()
        if added < len(rows):
            log.info("outbox: %d of %d deliveries were already queued or sent", len(rows) - added,
                     len(rows))  # fmt: skip
        return added

    async def queue_length(self) -> int:
        """Deliveries waiting to be sent (dead letters excluded)."""
        return await self._db(_count_pending)

    async def entries(self, *, dead: bool | None = None) -> list[Entry]:
        """Rows in put order; ``dead=True`` only dead letters, ``False`` only pending ones."""
        return await self._db(_entries, dead)

    # ------------------------------------------------------------------ sending

    async def run(self) -> None:
        """Send until cancelled: one worker per channel, plus pruning of the sent-key memory."""
        async with asyncio.TaskGroup() as tg:
            for channel in CHANNELS:
                tg.create_task(self._worker(channel), name=f"outbox-{channel}")
            tg.create_task(self._prune_forever(), name="outbox-prune")

    async def run_once(self, channel: Channel) -> int:
        """Attempt every due delivery of ``channel`` once; the number attempted."""
        rows = await self._db(_due, channel, self._clock(), self._concurrency)
        await asyncio.gather(*(self._attempt(row) for row in rows))
        return len(rows)

    async def _worker(self, channel: Channel) -> None:
        wake = self._wake[channel]
        while True:
            wake.clear()  # before looking, so a put while we look is not missed
            if await self.run_once(channel):
                continue
            next_at = await self._db(_next_due, channel)
            delay = 60.0 if next_at is None else min(60.0, max(0.0, next_at - self._clock()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await wake.wait()

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(3600)
            await self._db(_prune, self._clock() - SENT_MEMORY)

    async def _attempt(self, row: _Row) -> None:
        alert = alert_from_json(row.alert)
        contact_name, channel = row.contact, row.channel
        error = await self._send(alert, contact_name, channel)
        if error is not None:
            await self._failed(row, alert, error)
            return
        pending = await self._db(_mark_sent, row.id, row.key, self._clock())
        self._queue.set(pending)
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
        rowid, key, channel, contact = row.id, row.key, row.channel, row.contact
        attempts = row.attempts + 1
        expired = now - row.created_at >= self._backoff.give_up_after
        if exc.retryable and not expired:
            delay = self._backoff.delay(attempts, self._rng)
            pending = await self._db(_reschedule, rowid, now + delay, attempts, str(exc))
            self._total.labels(channel, "retry").inc()
            log.warning("notification %s to contact %s via %s failed (attempt %d), retry in "
                        "%.0fs: %s", alert.id, contact, channel, attempts, delay, exc)  # fmt: skip
        else:
            pending = await self._db(_kill, rowid, now, attempts, str(exc))
            self._total.labels(channel, "failed").inc()
            why = f"gave up after {attempts} attempts" if exc.retryable else "rejected"
            log.error("notification %s to contact %s via %s %s, kept as dead letter %s: %s",
                      alert.id, contact, channel, why, key, exc)  # fmt: skip
        self._queue.set(pending)


# --------------------------------------------------------------------------- SQL (worker thread)


def _connect(path: Path, now: float) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, nothing is left half-open.
        conn = sqlite3.connect(path, isolation_level=None)
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
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _count_pending(conn: sqlite3.Connection) -> int:
    (n,) = conn.execute("SELECT count(*) FROM outbox WHERE dead_at IS NULL").fetchone()
    return int(n)


def _insert(
    conn: sqlite3.Connection, rows: list[tuple[str, str, str, str, str, float]]
) -> tuple[int, int]:
    added = 0
    with _tx(conn):
        for key, alert_id, contact, channel, alert, now in rows:
            cur = conn.execute(
                "INSERT OR IGNORE INTO outbox (key, alert_id, contact, channel, alert, created_at,"
                " next_at) SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS"
                " (SELECT 1 FROM sent WHERE key=?)",
                (key, alert_id, contact, channel, alert, now, now, key),
            )
            added += cur.rowcount
    return added, _count_pending(conn)


class _Row(NamedTuple):
    id: int
    key: str
    contact: str
    channel: str
    alert: str
    created_at: float
    attempts: int


def _due(conn: sqlite3.Connection, channel: str, now: float, limit: int) -> list[_Row]:
    # Only the oldest pending row of each (alert, contact, channel): order is kept.
    rows = conn.execute(
        "SELECT o.id, o.key, o.contact, o.channel, o.alert, o.created_at, o.attempts"
        " FROM outbox o WHERE o.channel=? AND o.dead_at IS NULL AND o.next_at<=?"
        " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.alert_id=o.alert_id"
        " AND p.contact=o.contact AND p.channel=o.channel AND p.dead_at IS NULL AND p.id<o.id)"
        " ORDER BY o.next_at, o.id LIMIT ?",
        (channel, now, limit),
    ).fetchall()
    return [_Row(*r) for r in rows]


def _next_due(conn: sqlite3.Connection, channel: str) -> float | None:
    (at,) = conn.execute(
        "SELECT min(next_at) FROM outbox WHERE channel=? AND dead_at IS NULL", (channel,)
    ).fetchone()
    return None if at is None else float(at)


def _mark_sent(conn: sqlite3.Connection, rowid: int, key: str, now: float) -> int:
    with _tx(conn):
        conn.execute("DELETE FROM outbox WHERE id=?", (rowid,))
        conn.execute("INSERT OR REPLACE INTO sent (key, sent_at) VALUES (?, ?)", (key, now))
    return _count_pending(conn)


def _reschedule(
    conn: sqlite3.Connection, rowid: int, next_at: float, attempts: int, error: str
) -> int:
    with _tx(conn):
        conn.execute(
            "UPDATE outbox SET next_at=?, attempts=?, last_error=? WHERE id=?",
            (next_at, attempts, error[:1000], rowid),
        )
    return _count_pending(conn)


def _kill(conn: sqlite3.Connection, rowid: int, now: float, attempts: int, error: str) -> int:
    with _tx(conn):
        conn.execute(
            "UPDATE outbox SET dead_at=?, attempts=?, last_error=? WHERE id=?",
            (now, attempts, error[:1000], rowid),
        )
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
