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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from netwatch.history import reader
from netwatch.history.availability import Segment, Stats, overlay, power_seconds, summarise
from netwatch.history.merged import Merge, former_units
from netwatch.history.source import Source, stats_for
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
    end = _period_end(sites, start, end, by, level, now)
    t0, t1 = start.timestamp(), end.timestamp()
    chosen, groups, want = _subjects(sites, devices, by, level)
    # The power timelines too: a device's or site's downtime while its UPS was on battery.
    history = _History(stats_for(source, t0, t1, lambda k: k in want or k[0] == "power"), t0, t1)
    if by == "service":
        rows = [row for d in chosen for row in _service_rows(history, sites, d)]
    elif by == "device":
        rows = [_device_row(history, sites, d) for d in chosen]
    else:
        former = former_units(source, sites, want, t0, t1)
        workstations: dict[str, list[str]] = {}
        for d in devices.values():
            if d.role is Role.WORKSTATION:
                workstations.setdefault(d.site, []).append(d.id)
        rows = [
            _site_row(history, sites[sid], sid, members, workstations, former)
            for sid, members in groups.items()
        ]
    rows.sort(key=_worst_first)
    return Report(start, end, by, level, tz, tuple(rows))


def _period_end(
    sites: Mapping[str, Site],
    start: datetime,
    end: datetime,
    by: str,
    level: str | None,
    now: float | None,
) -> datetime:
    """``end``, or ``now`` when the period is under way; ``ValueError`` for a ``by``, a
    ``level`` or a period that makes no report."""
    levels = sorted({s.level for s in sites.values()})
    if by not in ("device", "site", "service", *levels):
        raise ValueError(f"--by {by}: use device, site, service or a level ({', '.join(levels)})")
    if level is not None and level not in levels:
        raise ValueError(f"--level {level}: use one of {', '.join(levels)}")
    if end <= start:
        raise ValueError("the end of the period must be after its start")
    if now is not None and start.timestamp() < now < end.timestamp():
        return datetime.fromtimestamp(now, end.tzinfo)
    return end


def _subjects(
    sites: Mapping[str, Site], devices: Mapping[str, Device], by: str, level: str | None
) -> tuple[list[Device], dict[str, list[str]], set[reader.Key]]:
    """The devices of a device or service report, the sites of each row of a site or level
    report, and the history subjects either needs."""
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
        return chosen, {}, want
    subtree = _subtrees(sites)
    if by == "site":
        groups = {sid: [sid] for sid, s in sites.items() if level is None or s.level == level}
    else:
        groups = {
            sid: [m for m in subtree[sid] if level is None or sites[m].level == level]
            for sid, s in sites.items()
            if s.level == by
        }
    return [], groups, {("site", m) for members in groups.values() for m in members}


@dataclass(frozen=True, slots=True)
class _History:
    """The period's history by subject; a subject without any is unknown all along."""

    results: dict[reader.Key, reader.SubjectResult]
    t0: float
    t1: float

    def of(self, key: reader.Key) -> tuple[Stats, list[Segment]]:
        res = self.results.get(key)
        if res is None:
            return Stats(unknown=self.t1 - self.t0), [Segment(self.t0, self.t1, Status.UNKNOWN)]
        return res.stats, res.segments

    def power(self, site_id: str, segs: list[Segment]) -> float:
        """Of the not-up time in ``segs``, the seconds while the site's UPS ran on battery."""
        res = self.results.get(("power", site_id))
        return power_seconds(segs, res.segments) if res is not None else 0.0


def _service_rows(history: _History, sites: Mapping[str, Site], d: Device) -> list[Row]:
    site = sites.get(d.site)
    device_segs = history.of(("device", d.id))[1]
    period = history.t1 - history.t0
    rows = []
    for check in d.services:
        subject = service_subject(d.id, check.name)
        st, segs = history.of(("service", subject))
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
    return rows


def _device_row(history: _History, sites: Mapping[str, Site], d: Device) -> Row:
    st, segs = history.of(("device", d.id))
    site = sites.get(d.site)
    return Row(
        kind="device",
        id=d.id,
        name=d.name or d.id,
        level=site.level if site else "",
        stats=st,
        site=d.site,
        site_name=site.name if site else None,
        segments=_not_up(segs),
        power=history.power(d.site, segs),
    )


def _site_row(
    history: _History,
    site: Site,
    sid: str,
    members: list[str],
    workstations: Mapping[str, list[str]],
    former: Mapping[str, Merge],
) -> Row:
    """One row over the sites in ``members``: their time added up (site-seconds)."""
    total = Stats()
    parts: list[Segment] = []
    ws_up = ws_known = power = 0.0
    merges: list[Merge] = []
    for m in members:
        if m in former:  # its units before the merge, itself after
            merges.append(former[m])
            st, ss = former[m].stats, former[m].segments
        else:
            st, ss = history.of(("site", m))
        total += st
        parts.extend(ss)
        power += history.power(m, ss)
        for w in workstations.get(m, ()):
            ws = history.of(("device", w))[0]
            ws_up += ws.up
            ws_known += ws.monitored
    t0, t1 = history.t0, history.t1
    return Row(
        kind="site",
        id=sid,
        name=site.name or sid,
        level=site.level,
        stats=total,
        workstations_working=ws_up / ws_known if ws_known > 0 else None,
        sites=len(members),
        segments=_not_up(parts),
        formerly=tuple(unit for merge in merges for unit in merge.units),
        merged_at=max((mg.until for mg in merges if t0 < mg.until < t1), default=None),
        power=power,
    )


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
    results = stats_for(source, start, now, lambda _: False)
    former = former_units(source, sites, set(), start, now)
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
