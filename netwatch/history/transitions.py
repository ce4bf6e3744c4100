"""Reading the ``transitions`` table for one subject: what the device page and the history
endpoint of the API show. One function per query; ``subject_history`` and ``latest_of`` open
their own read-only connection.

These functions block: call them from a thread, never on the event loop.

>>> rows = latest_of(store, "device", "core-rtr", 20)  # doctest: +SKIP
>>> rows[0]  # doctest: +SKIP
(1764547200.0, 'down', 'icmp timeout')
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from netwatch.errors import HistoryError
from netwatch.history import report, schema
from netwatch.history.store import HistoryStore
from netwatch.models import Device, Site

# (at, status, cause); a merged site's units' rows carry the unit's id as a fourth value.
Transition = tuple[float, str, str | None]
UnitTransition = tuple[float, str, str | None, str]


def between(
    conn: sqlite3.Connection, kind: str, subject: str, start: float, end: float, limit: int
) -> list[Transition]:
    """The subject's transitions in ``[start, end)``, oldest first, at most ``limit``."""
    rows: list[Transition] = conn.execute(
        "SELECT at, status, cause FROM transitions WHERE kind = ? AND subject = ? "
        "AND at >= ? AND at < ? ORDER BY at, id LIMIT ?",
        (kind, subject, start, end, limit),
    ).fetchall()
    return rows


def last_before(
    conn: sqlite3.Connection, kind: str, subject: str, before: float
) -> Transition | None:
    """The subject's latest transition before ``before``: its status when a period starts."""
    row: Transition | None = conn.execute(
        "SELECT at, status, cause FROM transitions WHERE kind = ? AND subject = ? "
        "AND at < ? ORDER BY at DESC, id DESC LIMIT 1",
        (kind, subject, before),
    ).fetchone()
    return row


def of_units(
    conn: sqlite3.Connection, units: Sequence[str], start: float, end: float, limit: int
) -> list[UnitTransition]:
    """The site transitions of ``units`` (a merged site's former sites) in ``[start, end)``."""
    marks = ",".join("?" * len(units))
    rows: list[UnitTransition] = conn.execute(
        "SELECT at, status, cause, subject FROM transitions WHERE kind = 'site' "
        f"AND subject IN ({marks}) AND at >= ? AND at < ? ORDER BY at, id LIMIT ?",
        (*units, start, end, limit),
    ).fetchall()
    return rows


def latest(conn: sqlite3.Connection, kind: str, subject: str, limit: int) -> list[Transition]:
    """The subject's last ``limit`` transitions, newest first."""
    rows: list[Transition] = conn.execute(
        "SELECT at, status, cause FROM transitions WHERE kind = ? AND subject = ? "
        "ORDER BY at DESC, id DESC LIMIT ?",
        (kind, subject, limit),
    ).fetchall()
    return rows


def latest_of(store: HistoryStore, kind: str, subject: str, limit: int) -> list[Transition]:
    """``latest`` on its own connection; an unreadable database gives ``[]`` (a page that
    shows the last transitions still works without them)."""
    try:
        conn = schema.connect(store.path, readonly=True)
    except sqlite3.Error:
        return []
    try:
        return latest(conn, kind, subject, limit)
    except sqlite3.Error:
        return []
    finally:
        conn.close()


@dataclass(frozen=True, slots=True)
class SubjectHistory:
    """A subject's transitions over a period (at most ``limit + 1``, to tell a truncation),
    its latest one before, and its availability over the period (``report``).

    ``former``: for a merged site (``formerly`` and ``merged``), the merge instant and its
    units' transitions in the period before it; ``None`` otherwise.
    """

    rows: list[Transition]
    before: Transition | None
    former: tuple[float, list[UnitTransition]] | None
    report: report.Report


def subject_history(
    store: HistoryStore,
    sites: Mapping[str, Site],
    devices: Mapping[str, Device],
    kind: str,
    subject: str,
    period: tuple[datetime, datetime],
    *,
    tz: str,
    now: float,
    limit: int,
) -> SubjectHistory:
    """The history of the device or site ``subject`` (``kind``) over ``period`` (end
    exclusive). Raises ``HistoryError`` when the database cannot be read."""
    start, end = period
    try:
        conn = schema.connect(store.path, readonly=True)
    except sqlite3.Error as exc:
        raise HistoryError(f"the history database cannot be read yet: {exc}") from exc
    t0, t1 = start.timestamp(), end.timestamp()
    try:
        rows = between(conn, kind, subject, t0, t1, limit + 1)
        before = last_before(conn, kind, subject, t0)
        site = sites.get(subject) if kind == "site" else None
        former = None
        if site is not None and site.formerly and site.merged_at is not None:
            unit_rows = of_units(conn, site.formerly, t0, min(t1, site.merged_at), limit + 1)
            former = (site.merged_at, unit_rows)
        if kind == "device":
            built = report.build_report(
                conn, sites, {subject: devices[subject]}, start=start, end=end, by="device",
                tz=tz, now=now,
            )  # fmt: skip
        else:
            built = report.build_report(
                conn, {subject: sites[subject]}, {}, start=start, end=end, by="site", tz=tz,
                now=now,
            )  # fmt: skip
    except sqlite3.Error as exc:
        raise HistoryError(f"cannot read the history database: {exc}") from exc
    finally:
        conn.close()
    return SubjectHistory(rows, before, former, built)
