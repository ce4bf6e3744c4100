"""The scheduler: runs jobs, records lag and results, never stacks an overrunning poll."""

from __future__ import annotations

import asyncio
import random

from prometheus_client import CollectorRegistry

from netwatch.scheduler import Outcome, Scheduler


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    got = registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


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

    s.add("a/icmp", "icmp", 0.2, good)
    s.add("b/icmp", "icmp", 0.2, failing)
    s.start()
    try:
        for _ in range(100):  # bounded: 5 s at most
            await asyncio.sleep(0.05)
            if runs.count("good") >= 2 and runs.count("bad") >= 2:
                break
    finally:
        s.shutdown()
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

    s.add("slow/icmp", "icmp", 0.1, slow)
    s.start()
    try:
        for _ in range(40):
            await asyncio.sleep(0.05)
            if value(registry, "netwatch_polls_total", check="icmp", result="skipped") >= 1:
                break
    finally:
        s.shutdown()
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

    s.add("x/icmp", "icmp", 0.1, broken)
    s.start()
    try:
        for _ in range(60):
            await asyncio.sleep(0.05)
            if calls >= 2:
                break
    finally:
        s.shutdown()
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
    s.add("r/icmp", "icmp", 30.0, failing)
    s.start()
    try:
        for _ in range(60):
            await asyncio.sleep(0.05)
            if runs >= 2:
                break
    finally:
        s.shutdown()
    assert runs >= 2
