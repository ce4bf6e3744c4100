"""Daily summaries, removal of old raw transitions, and giving disk space back.

Runs on the history writer thread in small steps (one day summarised, or a few thousand rows
deleted, or a few hundred pages vacuumed per step), each its own short transaction, so records
keep flowing in between and report readers (separate WAL connections) are never blocked. Polling
never waits for any of it: it only ever enqueues.

Order matters: a day is summarised before any of its raw rows may go, and ``raw_since`` (the
time from which raw rows are complete) moves forward only after the rows before it are gone, with
every subject's status at that instant written as a row at exactly ``raw_since``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from netwatch.history import reader
from netwatch.history.availability import day_stats, timeline

DELETE_CHUNK = 5000
VACUUM_PAGES = 256


def local_midnight(ts: float, tz: ZoneInfo) -> float:
    d = datetime.fromtimestamp(ts, tz).date()
    return day_start(d, tz)


def day_start(d: date, tz: ZoneInfo) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()


def steps(conn: sqlite3.Connection, now: float, tz: ZoneInfo, retention: float) -> Iterator[str]:
    """Do the maintenance due at ``now``; yields after each short transaction (a label)."""
    yield from _summarise(conn, now, tz)
    yield from _purge(conn, now, tz, retention)
    while conn.execute("PRAGMA freelist_count").fetchone()[0] > 0:
        conn.execute(f"PRAGMA incremental_vacuum({VACUUM_PAGES})")
        yield "vacuum"


def _set_meta(conn: sqlite3.Connection, key: str, value: float) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, repr(value)),
    )


def _summarise(conn: sqlite3.Connection, now: float, tz: ZoneInfo) -> Iterator[str]:
    done = reader.meta(conn, "summarised_until")
    if done is None:
        first = conn.execute("SELECT min(started) FROM runs").fetchone()[0]
        if first is None:
            return
        cursor = datetime.fromtimestamp(first, tz).date()
    else:
        cursor = datetime.fromtimestamp(float(done), tz).date()
    today = datetime.fromtimestamp(now, tz).date()
    while cursor < today:
        a, b = day_start(cursor, tz), day_start(cursor + timedelta(days=1), tz)
        conn.execute("BEGIN IMMEDIATE")
        try:
            agent_runs = reader.runs(conn, a, b)
            boots = reader.reboots(conn, a, b)
            rows = []
            for (kind, subject), items in reader.changes(conn, a, b):
                segs = timeline(items, agent_runs, a, b)
                d = day_stats(segs, a, b)
                if d.stats.unknown >= b - a and not boots.get(subject):
                    continue  # nothing known that day: a missing day reads as unknown anyway
                s = d.stats
                n_boots = boots.get(subject, 0) if kind == "device" else 0
                rows.append(
                    (kind, subject, cursor.isoformat(), a, b - a, s.up, s.down, s.unreachable,
                     s.maintenance, s.unknown, s.outages, s.outage_seconds, s.longest_outage,
                     d.open_start, d.open_end, n_boots)
                )  # fmt: skip
            conn.executemany(
                "INSERT OR REPLACE INTO daily VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
            )
            _set_meta(conn, "summarised_until", b)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        cursor += timedelta(days=1)
        yield "summary"


def _purge(conn: sqlite3.Connection, now: float, tz: ZoneInfo, retention: float) -> Iterator[str]:
    done = reader.meta(conn, "summarised_until")
    if done is None:
        return
    cutoff = min(local_midnight(now - retention, tz), float(done))
    since = reader.meta(conn, "raw_since")
    if since is not None and float(since) >= cutoff:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Carry every subject's status across the cut: a row at exactly ``cutoff`` for each
        # subject whose latest earlier row lies in the run that covers ``cutoff``.
        run = conn.execute(
            "SELECT id, started FROM runs WHERE started <= ? AND COALESCE(stopped, last_seen) > ? "
            "ORDER BY started DESC LIMIT 1",
            (cutoff, cutoff),
        ).fetchone()
        if run is not None:
            for (kind, subject), items in reader.changes(conn, cutoff, cutoff):
                last = items[-1]
                if last.at >= run[1]:
                    conn.execute(
                        "INSERT INTO transitions (kind, subject, at, status, cause) "
                        "SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM transitions "
                        "  WHERE kind = ? AND subject = ? AND at = ?)",
                        (
                            kind,
                            subject,
                            cutoff,
                            last.status.value,
                            last.cause,
                            kind,
                            subject,
                            cutoff,
                        ),
                    )
            conn.execute("UPDATE runs SET started = ? WHERE id = ?", (cutoff, run[0]))
        conn.execute("DELETE FROM runs WHERE COALESCE(stopped, last_seen) <= ?", (cutoff,))
        # Raw rows before the cut are now incomplete: reports must use the summaries there.
        _set_meta(conn, "raw_since", cutoff)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    yield "cut"
    for table in ("transitions", "reboots"):
        while True:
            cur = conn.execute(
                f"DELETE FROM {table} WHERE rowid IN "
                f"(SELECT rowid FROM {table} WHERE at < ? LIMIT {DELETE_CHUNK})",
                (cutoff,),
            )
            if cur.rowcount == 0:
                break
            yield "delete"
