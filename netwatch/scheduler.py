"""When each check runs. The only module that imports APScheduler.

One job per (device, check), first run at a random offset within its interval so thousands of
targets never fire together, then every ``interval``. Start times sit on a 200 ms grid (``GRID``)
of the event loop's clock: the polls due in one slot start on one wake-up of the event loop,
which on a small VM costs more CPU than an echo request (20,000 targets every 30 s are ~670 polls
a second, at most 5 wake-ups instead of hundreds). The ICMP prober's ticks are every 100 ms on
the same clock, and a ping started on a tick of this grid sends its later requests (0.2 s apart
by default) on later ticks of this grid: one wake-up serves both. The grid is in loop time, not
wall-clock time, because the two clocks differ by an arbitrary fraction of a second: on the
wall clock, the scheduler's wake-ups fell between the prober's and doubled them.

A semaphore bounds the polls in flight; a poll still running when its next turn comes is skipped
and counted, never stacked (``max_instances=1``). After a failed poll the job can be pulled
forward (``retry_in``, counted from that poll's start) so a dead device is confirmed quickly.
Other code may pull a check forward too (``pull_forward``); that does nothing to a check already
running: its answer is on the way, and a pulled run would only be skipped by APScheduler.

>>> from prometheus_client import CollectorRegistry
>>> s = Scheduler(CollectorRegistry(), max_in_flight=10)  # doctest: +SKIP
>>> s.add("r1/icmp", CheckKind.ICMP, 30.0, poll_r1)      # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import CollectorRegistry, Counter, Histogram

from netwatch.models import CheckKind

log = logging.getLogger(__name__)

# Seconds: every start time is a multiple of this on the event loop's clock (time.monotonic).
# Twice the ICMP prober's grid and a divisor of its default spacing (see the module docstring);
# tests/unit/test_scheduler.py holds the three in step.
GRID = 0.2
# Start times are planned this much before their grid point, so that APScheduler, which counts
# in wall-clock datetimes to the microsecond, never finds a job a few microseconds short of due
# when the loop wakes on the grid point (it would wait a whole grid step more).
LEAD = 0.001


def on_grid(at: float) -> datetime:
    """The wall-clock time, ``LEAD`` early, of the first grid point of the event loop's clock
    at or after the epoch time ``at``."""
    offset = time.time() - time.monotonic()
    point = math.ceil((at - offset) / GRID) * GRID
    return datetime.fromtimestamp(point + offset - LEAD, UTC)


class _GridScheduler(AsyncIOScheduler):  # type: ignore[misc]  # APScheduler is untyped
    """An ``AsyncIOScheduler`` whose wake-ups fall on ``GRID`` points of the loop's clock.

    Start times are planned on that grid already (:func:`on_grid`); rounding the timer as well
    keeps the wake-ups there after a step of the wall clock, and the timer runs the due jobs
    itself instead of going through ``wakeup()``, which would hop through the loop's self-pipe
    (a write, a read and one more loop pass every tick).
    """

    def _start_timer(self, wait_seconds: float | None) -> None:
        self._stop_timer()
        if wait_seconds is not None:
            loop = self._eventloop
            when = math.ceil((loop.time() + wait_seconds) / GRID) * GRID
            self._timeout = loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._stop_timer()
        self._start_timer(self._process_jobs())


LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a poll function tells the scheduler: how it went and whether to retry early."""

    ok: bool
    retry_in: float | None = None


PollFunc = Callable[[], Awaitable[Outcome]]


class Scheduler:
    """Runs poll functions on their intervals; exports lag and poll counts to ``registry``."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        max_in_flight: int,
        rng: random.Random | None = None,
    ) -> None:
        self._rng = rng or random.Random()
        self._limit = asyncio.Semaphore(max_in_flight)
        self._kinds: dict[str, CheckKind] = {}  # job key -> check kind, for labels
        self._intervals: dict[str, float] = {}
        self._planned: dict[str, float] = {}  # job key -> planned start (epoch seconds)
        self._running: set[str] = set()  # job keys whose poll has started and not ended
        self._last_run = time.monotonic()
        self._aps = _GridScheduler(timezone=UTC)
        self._aps.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        self._aps.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self.lag = Histogram(
            "netwatch_poll_lag_seconds",
            "Actual start of a poll minus its planned start.",
            ["check"],
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.polls = Counter(
            "netwatch_polls",
            "Polls by check kind and result (ok, failed, skipped, error).",
            ["check", "result"],
            registry=registry,
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._aps.start()

    def shutdown(self) -> None:
        """Stop starting polls; polls already running are left to their own timeouts."""
        if self._aps.running:
            self._aps.shutdown(wait=False)

    def progressing(self, stall: float = 30.0) -> bool:
        """True while polling moves: no due poll has waited ``stall`` seconds to start, and a
        poll started within the longest interval (plus ``stall``). The watchdog pings only then.
        """
        now = time.time()
        if any(now - planned > stall for planned in self._planned.values()):
            return False
        longest = max(self._intervals.values(), default=0.0)
        return time.monotonic() - self._last_run < longest + stall

    # ------------------------------------------------------------------ jobs

    def add(self, key: str, kind: CheckKind, interval: float, func: PollFunc) -> None:
        """Schedule ``func`` every ``interval`` seconds, first at a random point within it."""
        first = on_grid(time.time() + self._rng.uniform(0, interval))
        self._kinds[key] = kind
        self._intervals[key] = interval
        self._aps.add_job(
            self._run,
            IntervalTrigger(seconds=interval, start_date=first),
            next_run_time=first,  # as planned, even if start() comes later than add()
            args=(key, kind, func),
            id=key,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(interval)),
        )

    def remove(self, key: str) -> None:
        self._kinds.pop(key, None)
        self._intervals.pop(key, None)
        self._planned.pop(key, None)
        self._running.discard(key)
        if self._aps.get_job(key) is not None:
            self._aps.remove_job(key)

    def keys(self) -> set[str]:
        return set(self._kinds)

    def pull_forward(self, key: str, delay: float) -> None:
        """Run the check in ``delay`` seconds unless it is due sooner anyway or is running now
        (then its answer is on the way; a run pulled meanwhile would be skipped and counted)."""
        if key not in self._running:
            self._move(key, delay)

    def _move(self, key: str, delay: float) -> None:
        job = self._aps.get_job(key)
        if job is None:
            return
        at = on_grid(time.time() + delay)
        if job.next_run_time is None or at < job.next_run_time:
            job.modify(next_run_time=at)

    # ------------------------------------------------------------------ running

    async def _run(self, key: str, kind: CheckKind, func: PollFunc) -> None:
        self._running.add(key)
        try:
            await self._run_one(key, kind, func)
        except asyncio.CancelledError:
            # Shutdown cancels polls still running; APScheduler would log each as a crash.
            log.debug("poll %s cancelled at shutdown", key)
        finally:
            self._running.discard(key)

    async def _run_one(self, key: str, kind: CheckKind, func: PollFunc) -> None:
        async with self._limit:
            started = time.time()
            self._last_run = time.monotonic()
            planned = self._planned.pop(key, started)
            self.lag.labels(kind).observe(max(0.0, started - planned))
            try:
                outcome = await func()
            except Exception:
                # A bug, not a network failure (probes return those as data): log and go on.
                log.exception("poll %s failed with an internal error", key)
                self.polls.labels(kind, "error").inc()
                return
        self.polls.labels(kind, "ok" if outcome.ok else "failed").inc()
        if outcome.retry_in is not None:
            # Start to start, as the interval is: a poll that took 4 s to time out is retried
            # 10 s after it began, not 14 s (three such rounds confirmed an SNMP device 12 s
            # later than its ICMP check, the tail of the alert latency).
            self._move(key, max(0.0, started + outcome.retry_in - time.time()))

    def _on_submitted(self, event: JobEvent) -> None:
        assert isinstance(event, JobSubmissionEvent)
        if event.scheduled_run_times:
            self._planned[event.job_id] = event.scheduled_run_times[-1].timestamp()

    def _on_skipped(self, event: JobEvent) -> None:
        kind = self._kinds.get(event.job_id)
        if kind is not None:
            self.polls.labels(kind, "skipped").inc()
