"""Availability maths over status timelines: pure functions, no database, no clock.

A subject's (device's or site's) status at time ``t`` is the latest recorded change at or before
``t`` *within the agent run that covers t*. Outside every run (the agent was not running, or was
killed and its last heartbeat is older than ``t``) the status is UNKNOWN, and so it is inside a run
before the subject's first change in that run: the daemon starts every subject as UNKNOWN.

Categories of time in a period ``[start, end)`` (clipped exactly at both edges):

- ``up``: UP
- ``down`` ("own"): DOWN, the subject's own failure
- ``unreachable`` ("upstream"): UNREACHABLE, an upstream root-cause device was down
- ``maintenance``: MAINTENANCE, planned
- ``unknown``: UNKNOWN or not monitored; never counted as up or as down

An *outage* is a maximal stretch of DOWN/UNREACHABLE time: DOWN followed directly by UNREACHABLE
(or the reverse) is one outage, because for the people at the site nothing came back in between.
UNKNOWN time between two down stretches does not split the outage (an agent restart must not turn
one outage into two) but adds nothing to its length: unknown time is never counted as down. UP or
MAINTENANCE ends it. An outage that crosses an edge of the period counts in the period with only
its part inside, so a month's figures never depend on the neighbouring months.

>>> segs = timeline([StatusSince(10, Status.UP), StatusSince(40, Status.DOWN)], [(0, 100)], 0, 100)
>>> s = summarise(segs)
>>> (s.up, s.down, s.unknown, s.outages, s.availability)
(30.0, 60.0, 10.0, 1, 0.3333333333333333)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from netwatch.models import Status

DOWNISH = frozenset({Status.DOWN, Status.UNREACHABLE})


@dataclass(frozen=True, slots=True)
class StatusSince:
    """One stored status row: from ``at`` on, the subject was ``status``."""

    at: float
    status: Status
    cause: str | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """``[start, end)`` spent in ``status``."""

    start: float
    end: float
    status: Status

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(slots=True)
class Stats:
    """Time per category and outage figures for one subject, or summed over several.

    Summing (``+=``) adds seconds and counts and keeps the longest outage, so a group of sites
    is measured in site-seconds.

    >>> a = Stats(up=90, down=10, outages=1, outage_seconds=10, longest_outage=10)
    >>> a += Stats(up=100)
    >>> (a.availability, a.mttr)
    (0.95, 10.0)
    """

    up: float = 0.0
    down: float = 0.0
    unreachable: float = 0.0
    maintenance: float = 0.0
    unknown: float = 0.0
    outages: int = 0
    outage_seconds: float = 0.0
    longest_outage: float = 0.0
    reboots: int = 0

    def __iadd__(self, other: Stats) -> Stats:
        self.up += other.up
        self.down += other.down
        self.unreachable += other.unreachable
        self.maintenance += other.maintenance
        self.unknown += other.unknown
        self.outages += other.outages
        self.outage_seconds += other.outage_seconds
        self.longest_outage = max(self.longest_outage, other.longest_outage)
        self.reboots += other.reboots
        return self

    @property
    def downtime(self) -> float:
        """Own plus upstream downtime; planned maintenance is not downtime."""
        return self.down + self.unreachable

    @property
    def monitored(self) -> float:
        """Time with a known status (everything but ``unknown``)."""
        return self.up + self.down + self.unreachable + self.maintenance

    @property
    def coverage(self) -> float | None:
        """The share of the period whose status is known (monitored over all); None for an
        empty period. A 100 % availability over a 10 % coverage says little: show both."""
        total = self.monitored + self.unknown
        return self.monitored / total if total > 0 else None

    @property
    def availability(self) -> float | None:
        """Up time over monitored time; maintenance counts against it. None if never monitored."""
        m = self.monitored
        return self.up / m if m > 0 else None

    @property
    def availability_excluding_maintenance(self) -> float | None:
        """Up time over monitored time with planned maintenance left out of both."""
        m = self.up + self.down + self.unreachable
        return self.up / m if m > 0 else None

    @property
    def mttr(self) -> float | None:
        """Mean outage length (seconds inside the period); None without outages."""
        return self.outage_seconds / self.outages if self.outages else None


def timeline(
    changes: Sequence[StatusSince],
    runs: Sequence[tuple[float, float]],
    start: float,
    end: float,
) -> list[Segment]:
    """Cut ``[start, end)`` into segments of constant status.

    ``changes`` are sorted by time and must include the latest change before ``start`` (if any);
    ``runs`` are the ``(started, last_seen)`` intervals when the agent was running, sorted.
    Adjacent segments with the same status are merged.

    >>> segs = timeline([StatusSince(5, Status.UP)], [(0, 8)], 0, 10)
    >>> [(s.start, s.end, s.status.value) for s in segs]
    [(0, 5, 'unknown'), (5, 8, 'up'), (8, 10, 'unknown')]
    """
    out: list[Segment] = []

    def emit(a: float, b: float, status: Status) -> None:
        if b <= a:
            return
        if out and out[-1].status is status and out[-1].end == a:
            out[-1] = Segment(out[-1].start, b, status)
        else:
            out.append(Segment(a, b, status))

    cursor = start
    i, n = 0, len(changes)
    prev_end = float("-inf")
    for r0, r1 in runs:
        # Overlapping runs (a clock step) are cut so that no instant is covered twice.
        r0 = max(r0, prev_end)
        prev_end = max(prev_end, r1)
        if r1 <= start or r1 <= r0:
            continue
        if r0 >= end:
            break
        a, b = max(r0, start), min(r1, end)
        emit(cursor, a, Status.UNKNOWN)
        status = Status.UNKNOWN  # every run starts with every subject unknown
        while i < n and changes[i].at <= a:
            if changes[i].at >= r0:
                status = changes[i].status
            i += 1
        t = a
        while i < n and changes[i].at < b:
            c = changes[i]
            emit(t, c.at, status)
            t = max(t, c.at)
            status = c.status
            i += 1
        emit(t, b, status)
        cursor = b
    emit(cursor, end, Status.UNKNOWN)
    return out


def summarise(segments: Iterable[Segment]) -> Stats:
    """Seconds per category and outage figures of a timeline (see the module docstring)."""
    s = Stats()
    in_outage = False
    current = 0.0
    for seg in segments:
        d = seg.seconds
        st = seg.status
        if st is Status.UP:
            s.up += d
        elif st is Status.DOWN:
            s.down += d
        elif st is Status.UNREACHABLE:
            s.unreachable += d
        elif st is Status.MAINTENANCE:
            s.maintenance += d
        else:
            s.unknown += d
        if st in DOWNISH:
            if not in_outage:
                in_outage, current = True, 0.0
                s.outages += 1
            current += d
        elif st is not Status.UNKNOWN and in_outage:
            in_outage = False
            s.outage_seconds += current
            s.longest_outage = max(s.longest_outage, current)
    if in_outage:
        s.outage_seconds += current
        s.longest_outage = max(s.longest_outage, current)
    return s


@dataclass(slots=True)
class DayStats:
    """A stored daily summary: one local day's :class:`Stats` of one subject, plus the lengths of
    the outage pieces touching the day's start and end, so that days can be stitched together
    again (an outage over midnight is one outage, not two)."""

    stats: Stats
    length: float  # seconds in that day (23, 24 or 25 hours)
    open_start: float = 0.0  # length of the outage piece that begins at the day's start
    open_end: float = 0.0  # length of the outage piece still going at the day's end


def day_stats(segments: Sequence[Segment], start: float, end: float) -> DayStats:
    """Summarise one day's timeline for the daily summary table.

    >>> rows = [StatusSince(0, Status.DOWN), StatusSince(30, Status.UP)]
    >>> segs = timeline(rows, [(0, 100)], 0, 100)
    >>> d = day_stats(segs, 0, 100)
    >>> (d.open_start, d.open_end, d.stats.outages)
    (30.0, 0.0, 1)
    """
    stats = summarise(segments)
    pieces: list[float] = []  # down seconds of each outage piece, in order
    first_touches_start = False
    only_unknown_before = True
    in_outage = False
    for seg in segments:
        if seg.status in DOWNISH:
            if not in_outage:
                if not pieces:
                    first_touches_start = only_unknown_before
                pieces.append(0.0)
                in_outage = True
            pieces[-1] += seg.seconds
        elif seg.status is not Status.UNKNOWN:
            in_outage = False
            only_unknown_before = False
    open_start = pieces[0] if pieces and first_touches_start else 0.0
    open_end = pieces[-1] if in_outage else 0.0
    return DayStats(stats, end - start, open_start, open_end)


def stitch_days(days: Iterable[DayStats]) -> Stats:
    """Sum consecutive daily summaries, joining outages that run over midnight."""
    total = Stats()
    carry = 0.0  # length so far of the outage still going at the end of the previous day
    for day in days:
        st = day.stats
        part = Stats(
            up=st.up,
            down=st.down,
            unreachable=st.unreachable,
            maintenance=st.maintenance,
            unknown=st.unknown,
            outages=st.outages,
            outage_seconds=st.outage_seconds,
            longest_outage=st.longest_outage,
            reboots=st.reboots,
        )
        if carry and day.open_start:
            part.outages -= 1  # the first piece continues yesterday's outage
            whole_day = st.outages == 1 and day.open_end > 0  # one piece, start to end
            joined = carry + day.open_start
            part.longest_outage = max(part.longest_outage, joined)
            carry = joined if whole_day else day.open_end
        else:
            carry = day.open_end
        total += part
    return total


def power_seconds(subject: Sequence[Segment], power: Sequence[Segment]) -> float:
    """Seconds of the subject's downtime (DOWN or UNREACHABLE) that fell while its site's UPS
    ran on battery (the power timeline DOWN): the hours lost to power. Both sorted.

    >>> dev = [Segment(0, 10, Status.UP), Segment(10, 40, Status.DOWN)]
    >>> ups = [Segment(0, 5, Status.UP), Segment(5, 30, Status.DOWN), Segment(30, 40, Status.UP)]
    >>> power_seconds(dev, ups)
    20.0
    """
    total = 0.0
    k = 0
    cuts = [p for p in power if p.status is Status.DOWN]
    for seg in subject:
        if seg.status not in DOWNISH:
            continue
        while k < len(cuts) and cuts[k].end <= seg.start:
            k += 1
        j = k
        while j < len(cuts) and cuts[j].start < seg.end:
            total += max(0.0, min(seg.end, cuts[j].end) - max(seg.start, cuts[j].start))
            j += 1
    return float(total)


def overlay(service: Sequence[Segment], device: Sequence[Segment]) -> list[Segment]:
    """A service's timeline with its device's reasons: where the service was DOWN while its
    device was UNREACHABLE (cut off upstream) or in MAINTENANCE, that is what it was, so a
    service's report tells its own failures from the line's and from planned work as a
    device's does. Both timelines cover the same period, sorted.

    >>> svc = [Segment(0, 10, Status.UP), Segment(10, 40, Status.DOWN)]
    >>> dev = [Segment(0, 20, Status.UP), Segment(20, 30, Status.MAINTENANCE),
    ...        Segment(30, 40, Status.UNREACHABLE)]
    >>> [(s.start, s.end, s.status.value) for s in overlay(svc, dev)]
    [(0, 10, 'up'), (10, 20, 'down'), (20, 30, 'maintenance'), (30, 40, 'unreachable')]
    """
    explains = (Status.UNREACHABLE, Status.MAINTENANCE)
    out: list[Segment] = []
    k = 0
    for seg in service:
        if seg.status is not Status.DOWN:
            out.append(seg)
            continue
        at = seg.start
        while k < len(device) and device[k].end <= at:
            k += 1
        j = k
        while at < seg.end:
            dev = device[j] if j < len(device) else None
            if dev is None or dev.start >= seg.end:
                out.append(Segment(at, seg.end, Status.DOWN))
                break
            if dev.start > at:
                out.append(Segment(at, dev.start, Status.DOWN))
                at = dev.start
            end = min(dev.end, seg.end)
            out.append(Segment(at, end, dev.status if dev.status in explains else Status.DOWN))
            at = end
            j += 1
    merged: list[Segment] = []
    for seg in out:
        if merged and merged[-1].status is seg.status and merged[-1].end == seg.start:
            merged[-1] = Segment(merged[-1].start, seg.end, seg.status)
        elif seg.end > seg.start:
            merged.append(seg)
    return merged
