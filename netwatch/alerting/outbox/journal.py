"""The outbox's file: its schema and every SQL statement, run on the outbox's database thread.

Each function takes the connection first and is given to
:meth:`~netwatch.sqlite_thread.SqliteThread.call` by :mod:`~netwatch.alerting.outbox.storage`;
none is called on the event loop. The rows: ``outbox`` holds what is still to send (and the dead
letters), ``sent`` the keys sent in the last week, so that a re-put is not sent twice. Alerts are
stored as JSON (:func:`alert_to_json`).

Durability: WAL with ``synchronous=FULL``. ``NORMAL`` would already survive ``kill -9`` (a
commit is in the WAL file, i.e. in the OS page cache, before ``put`` returns) but can lose the
last commits on power loss or a kernel crash — and a power cut at a district office is exactly
when an alert matters. FULL costs one fsync per commit; there are a handful per minute.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final, NamedTuple

from netwatch.alerting.model import Alert, Delivery
from netwatch.errors import NotifyError
from netwatch.settings.notify import Channel

SCHEMA_VERSION: Final = 1
SENT_MEMORY: Final = 7 * 86400.0  # how long a sent key still blocks a duplicate put
SCHEMA: Final = """
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


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of the outbox, as :meth:`~netwatch.alerting.outbox.outbox.Outbox.entries`
    shows it."""

    key: str
    channel: Channel
    contact: str
    alert: Alert
    created_at: float
    next_at: float
    attempts: int
    last_error: str
    dead_at: float | None


@dataclass(frozen=True, slots=True)
class Held:
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


NewRow = tuple[str, str, str, str, str, float]  # key, alert id, contact, channel, alert, now


class Op(NamedTuple):
    """A change to a stored row that could not be written yet (the row is ``key``)."""

    kind: str  # "sent" (delete the row, remember the key), "retry" or "dead"
    at: float  # sent_at, next_at or dead_at
    attempts: int = 0
    error: str = ""


def connect(
    path: Path, now: float, factory: type[sqlite3.Connection] = sqlite3.Connection
) -> sqlite3.Connection:
    """Open (creating, migrating) the file; pending rows become due ``now``. Raises
    :class:`NotifyError`. ``factory`` is the connection class (tests pass a failing one)."""
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
        conn.executescript(SCHEMA)  # idempotent; executescript commits by itself
        with _tx(conn):
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("UPDATE outbox SET next_at=? WHERE dead_at IS NULL AND next_at>?",
                         (now, now))  # fmt: skip
            conn.execute("DELETE FROM sent WHERE sent_at<?", (now - SENT_MEMORY,))
        return conn
    except sqlite3.Error as exc:
        raise NotifyError(f"cannot open outbox {path}: {exc}", retryable=False) from exc


@contextlib.contextmanager
def _tx(conn: sqlite3.Connection) -> Iterator[None]:
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


def count_pending(conn: sqlite3.Connection) -> int:
    (n,) = conn.execute("SELECT count(*) FROM outbox WHERE dead_at IS NULL").fetchone()
    return int(n)


def write_back(
    conn: sqlite3.Connection,
    ops: list[tuple[str, Op]],
    held: list[Held],
    sent: list[tuple[str, float]],
    rows: list[NewRow],
) -> tuple[int, int]:
    """One transaction: the changes and deliveries memory held, then the new ``rows``."""
    added = 0
    with _tx(conn):
        for key, op in ops:
            apply(conn, key, op)
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
    return added, count_pending(conn)


def known_keys(conn: sqlite3.Connection, keys: str) -> set[str]:
    """Which of ``keys`` (a JSON list) are queued or were sent."""
    found = conn.execute(
        "SELECT key FROM outbox WHERE key IN (SELECT value FROM json_each(?))"
        " UNION SELECT key FROM sent WHERE key IN (SELECT value FROM json_each(?))",
        (keys, keys),
    ).fetchall()
    return {k for (k,) in found}


class Row(NamedTuple):
    """A delivery to attempt: a stored row (``id`` its put order) or a held one (``id`` -1)."""

    id: int
    key: str
    contact: str
    channel: str
    alert: str
    created_at: float
    attempts: int


def due(
    conn: sqlite3.Connection, channel: str, now: float, limit: int, done: str = "[]"
) -> list[Row]:
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
    return [Row(*r) for r in rows]


def waiting_groups(conn: sqlite3.Connection, channel: str, done: str) -> set[tuple[str, str]]:
    """The (alert, contact) pairs of ``channel`` with a stored delivery still to send."""
    rows = conn.execute(
        "SELECT DISTINCT alert_id, contact FROM outbox WHERE channel=? AND dead_at IS NULL"
        " AND key NOT IN (SELECT value FROM json_each(?))",
        (channel, done),
    ).fetchall()
    return {(a, c) for a, c in rows}


def next_due(conn: sqlite3.Connection, channel: str) -> float | None:
    (at,) = conn.execute(
        "SELECT min(next_at) FROM outbox WHERE channel=? AND dead_at IS NULL", (channel,)
    ).fetchone()
    return None if at is None else float(at)


def apply(conn: sqlite3.Connection, key: str, op: Op) -> None:
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


def apply_op(conn: sqlite3.Connection, key: str, op: Op) -> int:
    with _tx(conn):
        apply(conn, key, op)
    return count_pending(conn)


def prune(conn: sqlite3.Connection, before: float) -> None:
    with _tx(conn):
        conn.execute("DELETE FROM sent WHERE sent_at<?", (before,))


def entries(conn: sqlite3.Connection, dead: bool | None) -> list[Entry]:
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
