"""Availability reports for planners: rows per device, per site, or per level of the site tree.

``by`` chooses the rows:

- ``"device"``: one row per device, from its own timeline.
- ``"service"``: one row per service check (an application: the portal, mail...), from its
  own timeline: up while it answers as expected, down from its failure (after hysteresis),
  its server's own failure included; while its device was cut off upstream or in planned
  maintenance, the service's failure counts as that (over raw history; a period reaching into
  the daily summaries keeps the service's own figures). What a province is judged on.
- ``"site"``: one row per site, from the site's own timeline (the site transitions the topology
  records, i.e. whether the site as a whole was reachable).
- a hierarchy level (``"district"``, ``"commune"``...): one row per site of that level,
  aggregating that site *and every site below it*; with ``level`` only the sites of that level
  in the subtree are aggregated (``by="district", level="commune"``: each district's communes).
  Times are then site-seconds (a district of 10 communes has 10 site-days per day), so the
  availability is the share of site-time that was up.

``level`` with ``by="device"`` or ``"site"`` keeps the devices (of sites) / sites of that level.

Every site row also has ``workstations_working``: workstation-seconds UP over workstation-seconds
monitored, over the workstations of the sites in the row, i.e. the time-weighted share of its
workstations that were working (None without workstations or data).

Every device and site row also has ``power``: the seconds of its downtime (down or
unreachable) while its site's UPS was on battery (the history's ``power`` records of the site,
written by the pipeline from PowerWatch), i.e. the hours lost to power; over raw history only.

Names and the tree come from the current inventory; history is keyed by ids only, so a renamed or
moved site keeps its history. Subjects no longer in the inventory are left out. Rows are sorted
worst first: lowest availability, then most downtime; rows with no data at all come last.

Building a report blocks (SQLite): run it in a thread from async code.

>>> from zoneinfo import ZoneInfo
>>> [d.isoformat() for d in month_period("2026-10", ZoneInfo("Asia/Ho_Chi_Minh"))]
['2026-10-01T00:00:00+07:00', '2026-11-01T00:00:00+07:00']
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from netwatch.errors import HistoryError
from netwatch.history import reader, schema
from netwatch.history.availability import Segment, Stats, overlay, power_seconds, summarise
from netwatch.history.store import HistoryStore
from netwatch.instants import OutOfRange, check_instant
from netwatch.models import DEFAULT_TIMEZONE, Device, Role, Site, Status, service_subject

MAX_SEGMENTS_PER_ROW = 2000


# --------------------------------------------------------------------------- periods


def parse_date(text: str, tz: ZoneInfo | str = DEFAULT_TIMEZONE) -> datetime:
    """``YYYY-MM-DD`` (or an ISO date-time without offset) as a time in the agent's zone.

    >>> parse_date("2026-10-01").isoformat()
    '2026-10-01T00:00:00+07:00'
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
            d = date.fromisoformat(text.strip())
            dt = datetime(d.year, d.month, d.day, tzinfo=zone)
        else:
            dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date: use YYYY-MM-DD, e.g. 2026-10-01") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone)
    # Before any conversion: year 1 or 9999 with an offset would overflow (OverflowError).
    check_instant(dt, f"the date {text.strip()}")
    return dt.astimezone(zone)


def month_period(text: str, tz: ZoneInfo | str = DEFAULT_TIMEZONE) -> tuple[datetime, datetime]:
    """``YYYY-MM`` as ``[first day, first day of the next month)`` in the agent's zone."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"{text!r} is not a month: use YYYY-MM, e.g. 2026-10")
    y, mo = int(m.group(1)), int(m.group(2))
    if not 1970 <= y <= 9998:
        raise OutOfRange(f"{text!r} is out of range: years 1970 to 9998")
    start = datetime(y, mo, 1, tzinfo=zone)
    end = datetime(y + mo // 12, mo % 12 + 1, 1, tzinfo=zone)
    check_instant(start, f"the month {text.strip()}")
    check_instant(end, f"the month {text.strip()}")
    return start, end


def report_period(
    date_from: str | None,
    date_to: str | None,
    month: str | None,
    tz: ZoneInfo | str = DEFAULT_TIMEZONE,
) -> tuple[datetime, datetime]:
    """The CLI's ``--from``/``--to`` (``--to`` is exclusive: October is ``--from 2026-10-01
    --to 2026-11-01``) or ``--month``; exactly one of the two forms."""
    if month is not None:
        if date_from is not None or date_to is not None:
            raise ValueError("use either --month or --from/--to, not both")
        return month_period(month, tz)
    if date_from is None or date_to is None:
        raise ValueError("give --from DATE and --to DATE (exclusive), or --month YYYY-MM")
    start, end = parse_date(date_from, tz), parse_date(date_to, tz)
    if end <= start:
        raise ValueError(f"--to {date_to} must be after --from {date_from}")
    return start, end


# --------------------------------------------------------------------------- report


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a report. ``kind`` is ``"device"``, ``"site"`` or ``"service"``; ``id`` its
    id (a service's is ``device:service``)."""

    kind: str
    id: str
    name: str
    level: str
    stats: Stats
    site: str | None = None  # a device's or service's site id
    site_name: str | None = None
    device: str | None = None  # a service's device id
    device_name: str | None = None
    workstations_working: float | None = None
    sites: int = 1  # sites aggregated into this row
    segments: tuple[Segment, ...] = ()  # the not-up time, for the outage timeline
    # Units merged into the row's sites whose history counts here (see Site.formerly), and the
    # merge instant when it falls inside the period (the report then spans the merge).
    formerly: tuple[str, ...] = ()
    merged_at: float | None = None
    # Of the downtime, the seconds while the site's UPS ran on battery (None for services).
    power: float | None = None

    def to_json(self) -> dict[str, Any]:
        s = self.stats
        out: dict[str, Any] = {self.kind: self.id}
        if self.kind == "service":
            out["service"] = self.name
            out["device"] = self.device
            out["device_name"] = self.device_name
        if self.kind in ("device", "service"):
            out["site"] = self.site
            out["site_name"] = self.site_name
        out.update(
            name=self.name,
            level=self.level,
            availability=s.availability,
            availability_excluding_maintenance=s.availability_excluding_maintenance,
            downtime_seconds=s.downtime,
            downtime_own_seconds=s.down,
            downtime_upstream_seconds=s.unreachable,
            maintenance_seconds=s.maintenance,
            downtime_power_seconds=self.power,
            unknown_seconds=s.unknown,
            outages=s.outages,
            mttr_seconds=s.mttr,
            longest_outage_seconds=s.longest_outage,
            reboots=s.reboots,
            coverage=s.coverage,
        )
        if self.kind == "site":
            out["workstations_working"] = self.workstations_working
            out["sites"] = self.sites
            out["formerly"] = list(self.formerly)
            out["merged_at"] = (
                None
                if self.merged_at is None
                else datetime.fromtimestamp(self.merged_at, UTC).isoformat()
            )
        return out


@dataclass(frozen=True, slots=True)
class Report:
    """A built report; ``to_json()`` is the ``--format json`` and ``/api/v1/report`` body.

    >>> r = Report(datetime(2026, 10, 1), datetime(2026, 11, 1), "site", None, "UTC", ())
    >>> sorted(r.to_json())
    ['by', 'from', 'level', 'rows', 'timezone', 'to']
    """

    start: datetime
    end: datetime
    by: str
    level: str | None
    timezone: str
    rows: tuple[Row, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "by": self.by,
            "level": self.level,
            "timezone": self.timezone,
            "rows": [r.to_json() for r in self.rows],
        }


Source = HistoryStore | str | Path | sqlite3.Connection


def _reader_connection(source: Source) -> tuple[sqlite3.Connection, bool]:
    if isinstance(source, sqlite3.Connection):
        return source, False
    path = source.path if isinstance(source, HistoryStore) else Path(source)
    _check_readable(path)
    try:
        return schema.connect(path, readonly=True), True
    except sqlite3.Error as exc:
        raise HistoryError(f"cannot read history database {path}: {exc}") from exc


def _check_readable(path: Path) -> None:
    """One clear line for a planner whose account cannot read the history (its file, or the
    directory it is in), or who points at a wrong data_dir; SQLite would only say "unable to
    open database file"."""
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise HistoryError(
            f"cannot read {path}: no such file (is agent.data_dir right? has netwatch run?)"
        ) from None
    except PermissionError:
        raise HistoryError(
            f"cannot read {path}: permission denied; run as the netwatch user or add "
            "yourself to its group"
        ) from None
    except IsADirectoryError:
        raise HistoryError(f"cannot read {path}: it is a directory, not a database") from None
    except OSError as exc:
        raise HistoryError(f"cannot read {path}: {exc.strerror}") from exc


def _stats_for(
    source: Source, start: float, end: float, keep: Callable[[reader.Key], bool]
) -> dict[reader.Key, reader.SubjectResult]:
    conn, owned = _reader_connection(source)
    try:
        return reader.period_stats(conn, start, end, keep_segments=keep)
    except sqlite3.Error as exc:
        if owned:  # e.g. its write-ahead log is not readable by this account
            for part in ("", "-wal", "-shm"):
                wal = Path(f"{_path_of(source)}{part}")
                if part == "" or wal.exists():
                    _check_readable(wal)
        raise HistoryError(f"cannot read the history database: {exc}") from exc
    finally:
        if owned:
            conn.close()


def _path_of(source: Source) -> Path:
    return source.path if isinstance(source, HistoryStore) else Path(str(source))


def _subtrees(sites: Mapping[str, Site]) -> dict[str, list[str]]:
    """Each site's id with every descendant's, parents first."""
    children: dict[str, list[str]] = {sid: [] for sid in sites}
    for sid, site in sites.items():
        if site.parent in children:
            children[site.parent].append(sid)

    def walk(sid: str) -> list[str]:
        out = [sid]
        for c in children[sid]:
            out.extend(walk(c))
        return out

    return {sid: walk(sid) for sid in sites}


def build_report(
    source: Source,
    sites: Mapping[str, Site],
    devices: Mapping[str, Device],
    *,
    start: datetime,
    end: datetime,
    by: str = "site",
    level: str | None = None,
    tz: str = DEFAULT_TIMEZONE,
    now: float | None = None,
) -> Report:
    """Build the rows of a report over ``[start, end)`` (see the module docstring). A period
    under way at ``now`` (this month) ends at ``now``: time that has not come yet is not
    "unknown", and the outage timeline spans the days that have been. A period wholly past or
    wholly to come is left as asked."""
    levels = sorted({s.level for s in sites.values()})
    if by not in ("device", "site", "service", *levels):
        raise ValueError(f"--by {by}: use device, site, service or a level ({', '.join(levels)})")
    if level is not None and level not in levels:
        raise ValueError(f"--level {level}: use one of {', '.join(levels)}")
    if end <= start:
        raise ValueError("the end of the period must be after its start")
    if now is not None and start.timestamp() < now < end.timestamp():
        end = datetime.fromtimestamp(now, end.tzinfo)
    t0, t1 = start.timestamp(), end.timestamp()
    period = t1 - t0

    if by in ("device", "service"):
        chosen = [
            d
            for d in devices.values()
            if level is None or (d.site in sites and sites[d.site].level == level)
        ]
        if by == "device":
            want = {("device", d.id) for d in chosen}
        else:  # the devices too: their upstream cuts and maintenance explain the services'
            want = {("service", service_subject(d.id, c.name)) for d in chosen for c in d.services}
            want |= {("device", d.id) for d in chosen if d.services}
    else:
        subtree = _subtrees(sites)
        if by == "site":
            groups = {sid: [sid] for sid, s in sites.items() if level is None or s.level == level}
        else:
            groups = {
                sid: [m for m in subtree[sid] if level is None or sites[m].level == level]
                for sid, s in sites.items()
                if s.level == by
            }
        want = {("site", m) for members in groups.values() for m in members}
    # The power timelines too: a device's or site's downtime while its UPS was on battery.
    results = _stats_for(source, t0, t1, lambda k: k in want or k[0] == "power")
    former = {} if by == "device" else _former_units(source, sites, want, t0, t1)

    def stats_of(key: reader.Key) -> tuple[Stats, list[Segment]]:
        res = results.get(key)
        if res is None:
            return Stats(unknown=period), [Segment(t0, t1, Status.UNKNOWN)]
        return res.stats, res.segments

    def power_of(site_id: str, segs: list[Segment]) -> float:
        res = results.get(("power", site_id))
        return power_seconds(segs, res.segments) if res is not None else 0.0

    rows: list[Row] = []
    if by == "service":
        for d in chosen:
            site = sites.get(d.site)
            device_segs = stats_of(("device", d.id))[1]
            for check in d.services:
                subject = service_subject(d.id, check.name)
                st, segs = stats_of(("service", subject))
                if _covers(segs, period) and _covers(device_segs, period):
                    segs = overlay(segs, device_segs)
                    st = summarise(segs)
                rows.append(
                    Row(
                        kind="service",
                        id=subject,
                        name=check.name,
                        level=site.level if site else "",
                        stats=st,
                        site=d.site,
                        site_name=site.name if site else None,
                        device=d.id,
                        device_name=d.name or d.id,
                        segments=_not_up(segs),
                    )
                )
    elif by == "device":
        for d in chosen:
            st, segs = stats_of(("device", d.id))
            site = sites.get(d.site)
            rows.append(
                Row(
                    kind="device",
                    id=d.id,
                    name=d.name or d.id,
                    level=site.level if site else "",
                    stats=st,
                    site=d.site,
                    site_name=site.name if site else None,
                    segments=_not_up(segs),
                    power=power_of(d.site, segs),
                )
            )
    else:
        workstations: dict[str, list[str]] = {}
        for d in devices.values():
            if d.role is Role.WORKSTATION:
                workstations.setdefault(d.site, []).append(d.id)
        for sid, members in groups.items():
            total = Stats()
            parts: list[Segment] = []
            ws_up = ws_known = power = 0.0
            merges: list[_Merge] = []
            for m in members:
                if m in former:  # its units before the merge, itself after
                    merges.append(former[m])
                    st, ss = former[m].stats, former[m].segments
                else:
                    st, ss = stats_of(("site", m))
                total += st
                parts.extend(ss)
                power += power_of(m, ss)
                for w in workstations.get(m, ()):
                    ws = stats_of(("device", w))[0]
                    ws_up += ws.up
                    ws_known += ws.monitored
            rows.append(
                Row(
                    kind="site",
                    id=sid,
                    name=sites[sid].name or sid,
                    level=sites[sid].level,
                    stats=total,
                    workstations_working=ws_up / ws_known if ws_known > 0 else None,
                    sites=len(members),
                    segments=_not_up(parts),
                    formerly=tuple(unit for merge in merges for unit in merge.units),
                    merged_at=max((mg.until for mg in merges if t0 < mg.until < t1), default=None),
                    power=power,
                )
            )
    rows.sort(key=_worst_first)
    return Report(start, end, by, level, tz, tuple(rows))


def _covers(segs: list[Segment], period: float) -> bool:
    """The timeline spans the whole period (not only its raw part, after daily summaries)."""
    return abs(sum(s.seconds for s in segs) - period) < 1e-6 * max(period, 1.0)


def _not_up(segs: list[Segment]) -> tuple[Segment, ...]:
    bad = [s for s in segs if s.status is not Status.UP]
    if len(bad) > MAX_SEGMENTS_PER_ROW:
        bad = sorted(bad, key=lambda s: s.seconds, reverse=True)[:MAX_SEGMENTS_PER_ROW]
        bad.sort(key=lambda s: s.start)
    return tuple(bad)


def _worst_first(row: Row) -> tuple[bool, float, float, str]:
    a = row.stats.availability
    return (a is None, a if a is not None else 0.0, -row.stats.downtime, row.name)


def site_availability(
    source: Source,
    sites: Mapping[str, Site],
    *,
    window_seconds: float = 30 * 86400.0,
    now: float,
) -> dict[str, float]:
    """Each site's own availability over the last ``window_seconds`` (for the
    ``netwatch_site_availability_ratio{window="30d"}`` gauge). Blocking: compute it in a thread
    every few minutes and let the collector read the cached value."""
    start = now - window_seconds
    results = _stats_for(source, start, now, lambda _: False)
    former = _former_units(source, sites, set(), start, now)
    out: dict[str, float] = {}
    for sid in sites:
        res = results.get(("site", sid))
        if sid in former:
            a = former[sid].stats.availability
        else:
            a = res.stats.availability if res is not None else None
        if a is not None:
            out[sid] = a
    return out


# --------------------------------------------------------------------------- merged sites


@dataclass(slots=True)
class _Merge:
    """A merged site over a period: its former units up to the merge, then itself."""

    until: float  # the merge instant (Site.merged_at)
    units: tuple[str, ...] = ()  # the former units with history before the merge in the period
    stats: Stats = field(default_factory=Stats)
    segments: list[Segment] = field(default_factory=list)


def _former_units(
    source: Source, sites: Mapping[str, Site], want: set[reader.Key], t0: float, t1: float
) -> dict[str, _Merge]:
    """Each site with ``formerly`` and ``merged_at``, as the sum of its former units' history
    over ``[t0, merged_at)`` and its own over ``[merged_at, t1)``, clipped to the period.

    The cut matters both ways: a unit removed by a reload is never closed in the history, so
    its last status would run on; and a new site's first record takes its devices' state, from
    before the site existed. A site that kept the id of one of its units lists that id too.
    """
    merged = {sid: site for sid, site in sites.items() if site.formerly and site.merged_at}
    out: dict[str, _Merge] = {}
    before: dict[float, list[str]] = {}
    after: dict[float, list[str]] = {}
    for sid, site in merged.items():
        assert site.merged_at is not None
        out[sid] = _Merge(site.merged_at)
        cut = min(max(site.merged_at, t0), t1)
        if cut > t0:
            before.setdefault(cut, []).append(sid)
        if cut < t1:
            after.setdefault(cut, []).append(sid)
    for cut, sids in before.items():
        keep = {("site", u) for sid in sids if ("site", sid) in want for u in sites[sid].formerly}
        results = _stats_for(source, t0, cut, keep.__contains__)
        for sid in sids:
            merge = out[sid]
            merge.units = tuple(u for u in sites[sid].formerly if ("site", u) in results)
            for unit in merge.units:
                merge.stats += results[("site", unit)].stats
                merge.segments.extend(results[("site", unit)].segments)
    for cut, sids in after.items():
        keep = {("site", sid) for sid in sids} & want
        results = _stats_for(source, cut, t1, keep.__contains__)
        for sid in sids:
            res = results.get(("site", sid))
            merge = out[sid]
            merge.stats += res.stats if res is not None else Stats(unknown=t1 - cut)
            merge.segments.extend(res.segments if res is not None else [])
    return out
