"""Per-check hysteresis and each device's own status. Pure: no I/O, the clock is injected.

A check changes state only after ``down_after`` consecutive failures or ``up_after``
consecutive successes, so one lost packet on a lossy line changes nothing. A device's own status
comes from its reachability checks (``device.up_checks``, by default ICMP and SNMP): it is up
while any of them is up, down when all that have an opinion are down, unknown before any has
one. Service checks have their own state but do not decide whether the device is reachable.

>>> from netwatch.models import Device, Role, Sample
>>> t = StateTracker(clock=lambda: 100.0)
>>> dev = Device(id="r1", address="127.0.0.1", role=Role.ROUTER, site="s", down_after=2)
>>> t.record(dev, Sample("r1", "icmp", 0.0, 0.0)).new
<Status.UP: 'up'>
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from netwatch.models import Device, Failure, Sample, Status

REACHABILITY_CHECKS = ("icmp", "snmp")


@dataclass(slots=True)
class CheckState:
    """What we know about one check of one device."""

    status: Status = Status.UNKNOWN
    failures: int = 0  # consecutive
    successes: int = 0  # consecutive
    last: Sample[object] | None = None
    last_ok: Sample[object] | None = None  # the last good sample, for values that go stale
    since: float = 0.0
    streak_at: float = 0.0  # when the current run of failures (or of successes) began
    # Cumulative ICMP packet counters (exported as _total counters).
    packets_sent: int = 0
    packets_received: int = 0
    # Failed polls by reason (FailureKind value), exported as e.g. netwatch_snmp_failures_total.
    failure_counts: dict[str, int] = field(default_factory=dict)

    @property
    def suspect(self) -> bool:
        """Failing, but not yet confirmed down: worth a quicker retry."""
        return self.failures > 0 and self.status is not Status.DOWN


@dataclass(slots=True)
class DeviceState:
    status: Status = Status.UNKNOWN
    since: float = 0.0
    checks: dict[str, CheckState] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Change:
    """A device's own status changed (up/down/unknown) because of a check's sample."""

    device: str
    old: Status
    new: Status
    at: float
    check: str
    failure: Failure | None
    # When it really began: the first failed (or good) poll of the run that decided it. The
    # history dates outages from here, so a report is right to within one polling interval.
    began: float = 0.0


class StateTracker:
    """Holds the state of every device; ``record`` feeds it one sample at a time.

    ``immediate=True`` (used by ``netwatch once``) decides on a single sample.
    """

    def __init__(self, clock: Callable[[], float] = time.time, *, immediate: bool = False) -> None:
        self._clock = clock
        self._immediate = immediate
        self.devices: dict[str, DeviceState] = {}

    def device(self, device_id: str) -> DeviceState:
        state = self.devices.get(device_id)
        if state is None:
            state = self.devices[device_id] = DeviceState(since=self._clock())
        return state

    def check(self, device_id: str, check: str) -> CheckState:
        checks = self.device(device_id).checks
        state = checks.get(check)
        if state is None:
            state = checks[check] = CheckState(since=self._clock())
        return state

    def forget(self, device_ids: Iterable[str]) -> None:
        """Drop removed devices (on reload)."""
        for device_id in device_ids:
            self.devices.pop(device_id, None)

    def forget_checks(self, device_id: str, keep: Iterable[str]) -> None:
        """Drop the checks a device no longer has (on reload), keeping the others' history."""
        state = self.devices.get(device_id)
        if state is not None:
            wanted = set(keep)
            for name in [c for c in state.checks if c not in wanted]:
                del state.checks[name]

    def record(self, device: Device, sample: Sample[object]) -> Change | None:
        """Apply one sample; return the device's status change, if this sample caused one."""
        now = self._clock()
        check = self.check(device.id, sample.check)
        check.last = sample
        self._count_packets(check, sample)
        down_after = 1 if self._immediate else device.down_after
        up_after = 1 if self._immediate else device.up_after
        if sample.ok:
            check.last_ok = sample
            if check.successes == 0:
                check.streak_at = sample.at
            check.successes += 1
            check.failures = 0
            # From unknown, one success is enough: there is no outage to confirm the end of.
            if check.status is not Status.UP and (
                check.status is Status.UNKNOWN or check.successes >= up_after
            ):
                check.status, check.since = Status.UP, now
        else:
            reason = sample.failure.kind.value if sample.failure else "unknown"
            check.failure_counts[reason] = check.failure_counts.get(reason, 0) + 1
            if check.failures == 0:
                check.streak_at = sample.at
            check.failures += 1
            check.successes = 0
            if check.status is not Status.DOWN and check.failures >= down_after:
                check.status, check.since = Status.DOWN, now
        if sample.check not in device.up_checks:
            return None
        return self._update_device(device, sample, now)

    def _update_device(self, device: Device, sample: Sample[object], now: float) -> Change | None:
        device_id = device.id
        state = self.devices[device_id]
        opinions = [
            c.status
            for name, c in state.checks.items()
            if name in device.up_checks and c.status is not Status.UNKNOWN
        ]
        if not opinions:
            new = Status.UNKNOWN
        elif Status.UP in opinions:
            new = Status.UP
        else:
            new = Status.DOWN
        if new is state.status:
            return None
        old, state.status, state.since = state.status, new, now
        began = min(state.checks[sample.check].streak_at, now)
        failure = sample.failure
        ping = state.checks.get("icmp")
        if new is Status.DOWN and ping is not None and ping.status is Status.DOWN and ping.last:
            # Ping fails too: the device is out of reach, whatever the last check guessed
            # (an SNMP timeout's "wrong community?" would send the officer the wrong way).
            failure = ping.last.failure or failure
        return Change(device_id, old, new, now, sample.check, failure, began)

    @staticmethod
    def _count_packets(check: CheckState, sample: Sample[object]) -> None:
        data = sample.data
        sent = getattr(data, "sent", None)
        received = getattr(data, "received", None)
        if isinstance(sent, int) and isinstance(received, int):
            check.packets_sent += sent
            check.packets_received += received
