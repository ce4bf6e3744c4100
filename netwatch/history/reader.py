"""Queries that turn the stored rows of a period into per-subject :class:`Stats`.

Only the rows inside the period, plus each subject's latest row before it, are read, and each
subject is computed in one pass, so a yearly report over thousands of devices stays in seconds.
Where raw transitions were already removed by retention (before ``raw_since``) the daily
summaries are used instead, at whole-day resolution.

These functions block: call them from a thread, never on the event loop.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from netwatch.history.availability import (
    DayStats,
    Segment,
    Stats,
    StatusSince,
    stitch_days,
    summarise,
    timeline,
)
from netwatch.models import Status

Key = tuple[str, str]  # (kind, subject id)
_STATUS = {s.value: s for s in Status}


@dataclass(slots=True)
class SubjectResult:
    stats: Stats
    segments: list[Segment] = field(default_factory=list)  # raw part only, when asked for


def meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def runs(conn: sqlite3.Connection, start: float, end: float) -> list[tuple[float, float]]:
    """The agent's runs overlapping ``[start, end)`` as ``(started, last seen or stopped)``."""
    rows = conn.execute(
        "SELECT started, COALESCE(stopped, last_seen) AS e FROM runs "
        "WHERE started < ? AND COALESCE(stopped, last_seen) > ? ORDER BY started, id",
        (end, start),
    ).fetchall()
    return [(float(a), float(b)) for a, b in rows]


def changes(
    conn: sqlite3.Connection, start: float, end: float
) -> Iterator[tuple[Key, list[StatusSince]]]:
    """Every subject's changes in ``[start, end)``, preceded by its latest change before start.

    Yields subjects in ``(kind, id)`` order; a subject with no row at all before ``end`` is not
    yielded (its status is unknown all along).
    """
    prior: dict[Key, StatusSince] = {}
    for kind, subject, at, status, cause in conn.execute(
        "SELECT s.kind, s.id, t.at, t.status, t.cause FROM subjects AS s "
        "JOIN transitions AS t ON t.id = (SELECT id FROM transitions "
        "  WHERE kind = s.kind AND subject = s.id AND at < ? ORDER BY at DESC, id DESC LIMIT 1)",
        (start,),
    ):
        prior[(kind, subject)] = StatusSince(at, _STATUS[status], cause)
    rows = conn.execute(
        "SELECT kind, subject, at, status, cause FROM transitions "
        "INDEXED BY transitions_by_subject WHERE at >= ? AND at < ? ORDER BY kind, subject, at, id",
        (start, end),
    )
    pending = sorted(prior)
    p = 0
    for key, group in itertools.groupby(rows, key=lambda r: (r[0], r[1])):
        while p < len(pending) and pending[p] < key:
            yield pending[p], [prior[pending[p]]]
            p += 1
        if p < len(pending) and pending[p] == key:
            p += 1
        items = [prior[key]] if key in prior else []
        items.extend(StatusSince(r[2], _STATUS[r[3]], r[4]) for r in group)
        yield key, items
    while p < len(pending):
        yield pending[p], [prior[pending[p]]]
        p += 1


def reboots(conn: sqlite3.Connection, start: float, end: float) -> dict[str, int]:
    return {
        str(d): int(n)
        for d, n in conn.execute(
            "SELECT device, count(*) FROM reboots WHERE at >= ? AND at < ? GROUP BY device",
            (start, end),
        )
    }


def raw_stats(
    conn: sqlite3.Connection,
    start: float,
    end: float,
    *,
    keep_segments: Callable[[Key], bool] = lambda _: False,
) -> dict[Key, SubjectResult]:
    """Stats of every subject over ``[start, end)`` from the raw transitions."""
    agent_runs = runs(conn, start, end)
    out: dict[Key, SubjectResult] = {}
    for key, items in changes(conn, start, end):
        segs = timeline(items, agent_runs, start, end)
        out[key] = SubjectResult(summarise(segs), segs if keep_segments(key) else [])
    for device, n in reboots(conn, start, end).items():
        res = out.setdefault(("device", device), SubjectResult(_all_unknown(start, end)))
        res.stats.reboots += n
    return out


def daily_stats(conn: sqlite3.Connection, start: float, end: float) -> dict[Key, Stats]:
    """Stats over the whole stored days that begin in ``[start, end)``, stitched per subject."""
    rows = conn.execute(
        "SELECT kind, subject, length, up, down, unreachable, maintenance, unknown, outages, "
        "outage_seconds, longest_outage, open_start, open_end, reboots FROM daily "
        "WHERE start >= ? AND start < ? ORDER BY kind, subject, start",
        (start, end),
    )
    out: dict[Key, Stats] = {}
    for key, group in itertools.groupby(rows, key=lambda r: (r[0], r[1])):
        days = [
            DayStats(
                Stats(r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[13]), r[2], r[11], r[12]
            )
            for r in group
        ]
        stats = stitch_days(days)
        # Days with no summary (nothing known that day) are unknown, never up or down.
        stats.unknown += max(0.0, (end - start) - sum(d.length for d in days))
        out[key] = stats
    return out


def period_stats(
    conn: sqlite3.Connection,
    start: float,
    end: float,
    *,
    keep_segments: Callable[[Key], bool] = lambda _: False,
) -> dict[Key, SubjectResult]:
    """Stats over ``[start, end)``: daily summaries before ``raw_since``, raw transitions after.

    A subject missing from the result was never known in the period: all of it is unknown.
    """
    since_text = meta(conn, "raw_since")
    raw_since = float(since_text) if since_text is not None else float("-inf")
    out: dict[Key, SubjectResult] = {}
    if start < raw_since:
        old_end = min(end, raw_since)
        for key, stats in daily_stats(conn, start, old_end).items():
            out[key] = SubjectResult(stats)
    raw_start = max(start, raw_since)
    if raw_start < end:
        for key, res in raw_stats(conn, raw_start, end, keep_segments=keep_segments).items():
            if key in out:
                out[key].stats += res.stats
                out[key].segments = res.segments
            else:
                out[key] = res
    for res in out.values():
        # Whatever neither source covers (a day with no summary, a subject that appeared
        # later) is unknown, so every subject's seconds add up to the period exactly.
        gap = (end - start) - sum_seconds(res.stats)
        if gap > 0:
            res.stats.unknown += gap
    return out


def sum_seconds(s: Stats) -> float:
    return s.up + s.down + s.unreachable + s.maintenance + s.unknown


def _all_unknown(start: float, end: float) -> Stats:
    return Stats(unknown=end - start)
