"""The scheduler: runs jobs, records lag and results, never stacks an overrunning poll."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable
from typing import Any

import pytest
from apscheduler.schedulers.base import BaseScheduler
from prometheus_client import CollectorRegistry

from netwatch.models import ICMP_GRID, CheckKind, IcmpSettings
from netwatch.scheduler import GRID, LEAD, Outcome, Scheduler, on_grid


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    got = registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


async def until(done: Callable[[], bool], limit: float) -> None:
    """Wait until ``done()``, checking every 50 ms, for at most ``limit`` seconds."""
    for _ in range(round(limit / 0.05)):
        await asyncio.sleep(0.05)
        if done():
            return


async def run_until(s: Scheduler, done: Callable[[], bool], limit: float) -> None:
    """Start ``s``, wait (bounded) until ``done()``, shut it down."""
    s.start()
    try:
        await until(done, limit)
    finally:
        s.shutdown()


async def test_jobs_run_and_results_are_counted() -> None:
    registry = CollectorRegistry()
    s = Scheduler(registry, max_in_flight=4, rng=random.Random(1))
    runs: list[str] = []

    async def good() -> Outcome:
        runs.append("good")
        return Outcome(ok=True)

    async def failing() -> Outcome:
        runs.append("bad")
        return Outcome(ok=False)

    s.add("a/icmp", CheckKind.ICMP, 0.2, good)
    s.add("b/icmp", CheckKind.ICMP, 0.2, failing)
    await run_until(s, lambda: runs.count("good") >= 2 and runs.count("bad") >= 2, 5)
    assert value(registry, "netwatch_polls_total", check="icmp", result="ok") >= 2
    assert value(registry, "netwatch_polls_total", check="icmp", result="failed") >= 2
    assert value(registry, "netwatch_poll_lag_seconds_count", check="icmp") >= 4


async def test_an_overrunning_poll_is_skipped_not_stacked() -> None:
    registry = CollectorRegistry()
    s = Scheduler(registry, max_in_flight=4, rng=random.Random(1))
    running = 0
    most = 0

    async def slow() -> Outcome:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.5)
        running -= 1
        return Outcome(ok=True)

    s.add("slow/icmp", CheckKind.ICMP, 0.1, slow)
    await run_until(
        s, lambda: value(registry, "netwatch_polls_total", check="icmp", result="skipped") >= 1, 2
    )
    assert most == 1
    assert value(registry, "netwatch_polls_total", check="icmp", result="skipped") >= 1


async def test_a_crashing_poll_is_counted_as_error_and_the_job_keeps_running() -> None:
    registry = CollectorRegistry()
    s = Scheduler(registry, max_in_flight=4, rng=random.Random(1))
    calls = 0

    async def broken() -> Outcome:
        nonlocal calls
        calls += 1
        raise RuntimeError("bug")

    s.add("x/icmp", CheckKind.ICMP, 0.1, broken)
    await run_until(s, lambda: calls >= 2, 3)
    assert calls >= 2
    assert value(registry, "netwatch_polls_total", check="icmp", result="error") >= 2


class FirstAtOnce(random.Random):
    """Puts every job's first run at the start of its interval."""

    def uniform(self, a: float, b: float) -> float:
        return a


async def test_retry_in_pulls_the_next_run_forward() -> None:
    s = Scheduler(CollectorRegistry(), max_in_flight=4, rng=FirstAtOnce())
    runs = 0

    async def failing() -> Outcome:
        nonlocal runs
        runs += 1
        return Outcome(ok=False, retry_in=0.1)

    # Interval 30 s: a second run within 3 s can only come from the retry.
    s.add("r/icmp", CheckKind.ICMP, 30.0, failing)
    await run_until(s, lambda: runs >= 2, 3)
    assert runs >= 2


async def test_a_retry_is_counted_from_the_start_of_the_failed_poll() -> None:
    """Like the interval: an SNMP poll that took its whole timeout is not retried that much
    later again (three such rounds made an SNMP device's confirmation the slowest)."""
    s = Scheduler(CollectorRegistry(), max_in_flight=4, rng=FirstAtOnce())
    starts: list[float] = []

    async def slow_failure() -> Outcome:
        starts.append(time.monotonic())
        await asyncio.sleep(1.0)  # a timeout
        return Outcome(ok=False, retry_in=1.0)

    s.add("r/snmp", CheckKind.SNMP, 30.0, slow_failure)
    await run_until(s, lambda: len(starts) >= 2, 5)
    assert len(starts) >= 2
    # Start to start 1 s (+ the 0.2 s grid); counted from the end it would be 2 s or more.
    assert 0.95 <= starts[1] - starts[0] < 1.7


async def test_pulling_a_running_check_forward_neither_skips_nor_stacks_it() -> None:
    """A device's other check asked "now" while it is already polling (its answer is on the
    way): no second run, and no skip counted (it was one at province scale during a mass cut)."""
    registry = CollectorRegistry()
    s = Scheduler(registry, max_in_flight=4, rng=FirstAtOnce())
    started = asyncio.Event()
    runs = 0

    async def slow() -> Outcome:
        nonlocal runs
        runs += 1
        started.set()
        await asyncio.sleep(0.4)
        return Outcome(ok=True)

    s.add("snmp/snmp", CheckKind.SNMP, 30.0, slow)  # the next regular run is 30 s away
    s.start()
    try:
        async with asyncio.timeout(5):
            await started.wait()
        s.pull_forward("snmp/snmp", 0.0)
        await asyncio.sleep(1.0)  # the poll ends after 0.4 s; a pulled run would follow
        assert runs == 1
        assert value(registry, "netwatch_polls_total", check="snmp", result="skipped") == 0
        s.pull_forward("snmp/snmp", 0.0)  # not running now: it runs at once
        await until(lambda: runs >= 2, 2.0)
    finally:
        s.shutdown()
    assert runs == 2


def _multiple(value: float, step: float, within: float = 1e-9) -> bool:
    return abs(value - round(value / step) * step) < within


def test_the_start_grid_is_made_of_prober_ticks_and_paces_the_default_spacing() -> None:
    """A ping started on the scheduler's grid sends its later echoes on it: one wake-up for both."""
    assert GRID >= ICMP_GRID
    assert _multiple(GRID, ICMP_GRID)
    assert _multiple(IcmpSettings().spacing, GRID)


def test_start_times_are_planned_on_the_event_loops_grid_a_little_early() -> None:
    """on_grid: a grid point of the loop's clock (not the wall clock's), LEAD before it."""
    at = time.time() + 12.345
    planned = on_grid(at).timestamp()
    offset = time.time() - time.monotonic()
    assert at - LEAD <= planned < at + GRID
    assert _multiple(planned + LEAD - offset, GRID, within=1e-4)  # datetimes count microseconds


async def test_wakeups_fall_on_the_event_loops_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every timer the scheduler sets is on the grid, where the ICMP prober's ticks are too."""
    loop = asyncio.get_running_loop()
    timers: list[float] = []
    call_at = loop.call_at

    def recording_call_at(when: float, callback: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        if isinstance(getattr(callback, "__self__", None), BaseScheduler):
            timers.append(when)
        return call_at(when, callback, *args, **kw)

    monkeypatch.setattr(loop, "call_at", recording_call_at)
    s = Scheduler(CollectorRegistry(), max_in_flight=4, rng=random.Random(5))
    starts: list[float] = []

    async def poll() -> Outcome:
        starts.append(loop.time())
        return Outcome(ok=True, retry_in=0.05 if len(starts) == 2 else None)

    for n in range(3):
        s.add(f"d{n}/icmp", CheckKind.ICMP, 0.6, poll)
    await run_until(s, lambda: len(starts) >= 6, 3)
    assert len(starts) >= 6
    assert timers
    assert all(_multiple(when, GRID) for when in timers)
    # Started on those wake-ups (a loop can be late, never early).
    assert all(0 <= t - math.floor(t / GRID + 1e-6) * GRID < GRID / 2 for t in starts)
