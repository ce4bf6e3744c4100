"""Availability maths on constructed timelines: exact seconds at edges, gaps and maintenance."""

from __future__ import annotations

from collections.abc import Sequence

from netwatch.history.availability import (
    Segment,
    Stats,
    StatusSince,
    day_stats,
    stitch_days,
    summarise,
    timeline,
)
from netwatch.models import Status

UP, DOWN, UNR, MAINT, UNK = (
    Status.UP,
    Status.DOWN,
    Status.UNREACHABLE,
    Status.MAINTENANCE,
    Status.UNKNOWN,
)


def stats(
    changes: Sequence[tuple[float, Status]], runs: Sequence[tuple[float, float]], a: float, b: float
) -> Stats:
    return summarise(timeline([StatusSince(t, s) for t, s in changes], runs, a, b))


def test_period_is_clipped_exactly_at_both_edges() -> None:
    """A change before the period sets the status at its start; time after the end is ignored."""
    s = stats([(0, UP), (150, DOWN), (170, UP), (400, DOWN)], [(0, 1000)], 100, 300)
    assert (s.up, s.down, s.unknown) == (180.0, 20.0, 0.0)
    assert (s.outages, s.outage_seconds, s.longest_outage) == (1, 20.0, 20.0)


def test_change_exactly_at_period_start_applies() -> None:
    """A row at exactly the start counts from the start; a row at exactly the end does not."""
    s = stats([(0, UP), (100, DOWN), (200, UP)], [(0, 1000)], 100, 200)
    assert (s.down, s.up) == (100.0, 0.0)


def test_agent_not_running_is_unknown_and_resets_status() -> None:
    """Between runs it is unknown; a new run starts unknown until the subject's next change."""
    s = stats([(0, UP), (60, UP)], [(0, 40), (50, 100)], 0, 100)
    # 0-40 up, 40-50 agent down, 50-60 unknown in the new run, 60-100 up
    assert (s.up, s.unknown) == (80.0, 20.0)


def test_before_first_record_is_unknown() -> None:
    """Nothing known before the first row: unknown, never up or down."""
    s = stats([(30, DOWN)], [(0, 100)], 0, 100)
    assert (s.unknown, s.down, s.availability) == (30.0, 70.0, 0.0)


def test_no_data_gives_no_availability() -> None:
    """A period with no monitored time has availability None, not 0 or 1."""
    s = stats([], [], 0, 100)
    assert s.unknown == 100.0
    assert s.availability is None
    assert s.mttr is None


def test_maintenance_with_and_without() -> None:
    """Maintenance counts against availability, and is left out of the excluding figure."""
    s = stats([(0, UP), (600, MAINT), (800, UP), (900, DOWN), (1000, UP)], [(0, 1200)], 0, 1200)
    assert (s.up, s.maintenance, s.down) == (900.0, 200.0, 100.0)
    assert s.availability == 900 / 1200
    assert s.availability_excluding_maintenance == 900 / 1000
    assert s.downtime == 100.0


def test_down_then_unreachable_is_one_outage() -> None:
    """DOWN directly followed by UNREACHABLE is one outage, split own/upstream in seconds."""
    s = stats([(0, UP), (10, DOWN), (30, UNR), (60, UP)], [(0, 100)], 0, 100)
    assert (s.down, s.unreachable, s.downtime) == (20.0, 30.0, 50.0)
    assert (s.outages, s.mttr, s.longest_outage) == (1, 50.0, 50.0)


def test_maintenance_splits_outages() -> None:
    """Maintenance between two down stretches ends the first outage."""
    s = stats([(0, DOWN), (10, MAINT), (20, DOWN), (40, UP)], [(0, 100)], 0, 100)
    assert (s.outages, s.outage_seconds, s.longest_outage, s.mttr) == (2, 30.0, 20.0, 15.0)


def test_unknown_gap_does_not_split_outage_nor_count_as_down() -> None:
    """An agent restart during an outage: one outage, the gap not counted as down."""
    s = stats([(0, UP), (10, DOWN), (60, DOWN), (80, UP)], [(0, 40), (50, 100)], 0, 100)
    assert (s.down, s.unknown, s.up) == (50.0, 20.0, 30.0)
    assert (s.outages, s.outage_seconds) == (1, 50.0)


def test_outage_spanning_month_boundary_is_clipped_in_each_month() -> None:
    """An outage across a boundary counts once in each period, with its part inside."""
    changes = [(0, UP), (90, DOWN), (130, UP)]
    first = stats(changes, [(0, 200)], 0, 100)
    second = stats(changes, [(0, 200)], 100, 200)
    assert (first.outages, first.outage_seconds, first.down) == (1, 10.0, 10.0)
    assert (second.outages, second.outage_seconds, second.down) == (1, 30.0, 30.0)
    whole = stats(changes, [(0, 200)], 0, 200)
    assert whole.down == first.down + second.down


def test_segments_cover_the_period_and_merge_equal_neighbours() -> None:
    """Segments tile the period without gaps; repeated statuses merge."""
    segs = timeline(
        [StatusSince(0, UP), StatusSince(10, UP), StatusSince(20, DOWN)], [(0, 50)], 0, 60
    )
    assert segs == [Segment(0, 20, UP), Segment(20, 50, DOWN), Segment(50, 60, UNK)]


def test_overlapping_runs_never_count_twice() -> None:
    """Overlapping runs (a clock step) do not double the monitored time."""
    s = stats([(0, UP)], [(0, 60), (40, 100)], 0, 100)
    assert s.up + s.unknown + s.down == 100.0


def test_stats_sum_in_site_seconds() -> None:
    """Adding stats sums seconds and counts and keeps the longest outage."""
    a = Stats(up=50, down=50, outages=2, outage_seconds=50, longest_outage=30)
    a += Stats(up=100, unreachable=0, outages=1, outage_seconds=40, longest_outage=40)
    assert (a.up, a.outages, a.longest_outage, a.mttr) == (150, 3, 40, 30.0)


def test_stitched_days_equal_the_raw_period() -> None:
    """Daily summaries stitched over midnight give the same figures as the raw timeline."""
    changes = [
        StatusSince(0, UP),
        StatusSince(80, DOWN),
        StatusSince(130, UNR),
        StatusSince(250, UP),
        StatusSince(270, DOWN),
    ]
    runs = [(0, 400)]
    days = [day_stats(timeline(changes, runs, a, a + 100), a, a + 100) for a in (0, 100, 200, 300)]
    raw = summarise(timeline(changes, runs, 0, 400))
    got = stitch_days(days)
    assert (got.up, got.down, got.unreachable, got.unknown) == (
        raw.up,
        raw.down,
        raw.unreachable,
        raw.unknown,
    )
    assert (got.outages, got.outage_seconds, got.longest_outage) == (
        raw.outages,
        raw.outage_seconds,
        raw.longest_outage,
    )
    assert (raw.outages, raw.longest_outage) == (2, 170.0)
