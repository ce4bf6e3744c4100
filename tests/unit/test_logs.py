"""The repeat filter: a storm of one log line is cut to a few lines a minute and summarised."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from netwatch.logs import RepeatFilter, setup_logging


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(
    msg: str, *args: object, name: str = "netwatch.x", level: int = logging.ERROR
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_the_first_identical_lines_pass_then_the_rest_are_dropped_within_the_interval() -> None:
    f = RepeatFilter(burst=3, interval=60.0, clock=FakeClock())
    passed = [f.filter(record("cannot open %s", "socket")) for _ in range(10)]
    assert passed == [True] * 3 + [False] * 7


def test_events_of_one_template_pass_until_the_much_higher_template_bound() -> None:
    # One line per device going down is an event each, not a storm: all 40 are logged.
    f = RepeatFilter(burst=3, template_burst=50, interval=60.0, clock=FakeClock())
    assert all(f.filter(record("device %s is down", f"xa-{i}")) for i in range(40))
    passed = [f.filter(record("device %s is down", f"pc-{i}")) for i in range(20)]
    assert passed == [True] * 10 + [False] * 10


def test_the_last_line_let_through_says_more_are_dropped() -> None:
    f = RepeatFilter(burst=2, interval=60.0, clock=FakeClock())
    first, second = record("x %d", 1), record("x %d", 1)
    assert f.filter(first)
    assert f.filter(second)
    assert first.getMessage() == "x 1"
    assert (
        second.getMessage()
        == "x 1 (2 lines like this: more are not logged for up to 60 s, only counted)"
    )


def test_after_the_interval_the_next_line_passes_and_counts_the_dropped_ones() -> None:
    clock = FakeClock()
    f = RepeatFilter(burst=2, interval=60.0, clock=clock)
    for _ in range(7):
        f.filter(record("x %d", 1))
    clock.now += 59.9
    assert not f.filter(record("x %d", 1))  # still inside the interval: dropped (6 so far)
    clock.now += 0.1
    later = record("x %d", 1)
    assert f.filter(later)
    assert later.getMessage() == "x 1 (… repeated 6 times, not logged, in the 60 s before)"
    assert later.args is None
    # The count starts again: a new burst passes, without a summary.
    again = record("x %d", 1)
    assert f.filter(again)
    assert (
        again.getMessage()
        == "x 1 (2 lines like this: more are not logged for up to 60 s, only counted)"
    )


def test_lines_differ_by_logger_level_and_text() -> None:
    f = RepeatFilter(burst=1, template_burst=3, interval=60.0, clock=FakeClock())
    assert f.filter(record("a %s", 1))
    assert not f.filter(record("a %s", 1))  # the same text: alike
    assert f.filter(record("a %s", 2))  # other arguments: another event of the template
    assert f.filter(record("b %s", 1))
    assert f.filter(record("a %s", 1, name="netwatch.y"))
    assert f.filter(record("a %s", 1, level=logging.WARNING))


def test_memory_stays_bounded_with_endless_distinct_lines() -> None:
    clock = FakeClock()
    f = RepeatFilter(burst=1, interval=60.0, clock=clock)
    for i in range(5 * RepeatFilter.MAX_KEYS):
        clock.now += 0.001
        assert f.filter(record(f"line {i}"))
    assert len(f._seen) <= RepeatFilter.MAX_KEYS


@pytest.fixture
def root_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("root_restored")
def test_setup_logging_installs_the_filter_for_every_logger() -> None:
    out = io.StringIO()
    setup_logging("plain", "info", stream=out)
    log = logging.getLogger("netwatch.storm")
    for _ in range(500):
        log.error("accept failed: %s", "Too many open files")
    lines = out.getvalue().splitlines()
    assert len(lines) == 10
    assert "more are not logged" in lines[-1]
