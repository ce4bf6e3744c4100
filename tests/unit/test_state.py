"""The state machine: hysteresis per check and each device's own status, on a fake clock."""

from __future__ import annotations

from netwatch.models import (
    Device,
    Failure,
    FailureKind,
    IcmpStats,
    Role,
    Sample,
    SnmpSettings,
    Status,
)
from netwatch.state import StateTracker

FAIL = Failure(FailureKind.TIMEOUT, "no reply")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def device(**kw: object) -> Device:
    return Device(id="r1", address="127.0.0.1", role=Role.ROUTER, site="s", **kw)  # type: ignore[arg-type]


def ok(check: str = "icmp") -> Sample[object]:
    return Sample("r1", check, 0.0, 0.0, None, IcmpStats(3, (0.001, 0.001, 0.002)))


def bad(check: str = "icmp") -> Sample[object]:
    return Sample("r1", check, 0.0, 0.0, FAIL, IcmpStats(3, ()))


def test_first_success_makes_an_unknown_device_up() -> None:
    t = StateTracker(Clock())
    change = t.record(device(), ok())
    assert change is not None
    assert (change.old, change.new) == (Status.UNKNOWN, Status.UP)


def test_device_goes_down_only_after_down_after_consecutive_failures() -> None:
    t, d = StateTracker(Clock()), device(down_after=3)
    t.record(d, ok())
    assert t.record(d, bad()) is None
    assert t.record(d, bad()) is None
    change = t.record(d, bad())
    assert change is not None
    assert change.new is Status.DOWN
    assert change.failure == FAIL


def test_one_success_between_failures_resets_the_count() -> None:
    t, d = StateTracker(Clock()), device(down_after=3)
    t.record(d, ok())
    for sample in (bad(), bad(), ok(), bad(), bad()):
        assert t.record(d, sample) is None
    assert t.devices["r1"].status is Status.UP


def test_down_device_needs_up_after_successes_to_come_back() -> None:
    t, d = StateTracker(Clock()), device(down_after=1, up_after=2)
    t.record(d, ok())
    t.record(d, bad())
    assert t.record(d, ok()) is None
    change = t.record(d, ok())
    assert change is not None
    assert change.new is Status.UP


def test_suspect_is_true_between_first_failure_and_confirmation() -> None:
    t, d = StateTracker(Clock()), device(down_after=2)
    t.record(d, ok())
    t.record(d, bad())
    assert t.check("r1", "icmp").suspect
    t.record(d, bad())
    assert not t.check("r1", "icmp").suspect  # confirmed: back to the normal interval


def test_snmp_up_keeps_a_device_up_when_icmp_is_blocked() -> None:
    t, d = StateTracker(Clock()), device(down_after=1, snmp=SnmpSettings())
    t.record(d, ok("snmp"))
    t.record(d, bad("icmp"))
    assert t.devices["r1"].status is Status.UP
    change = t.record(d, bad("snmp"))
    assert change is not None
    assert change.new is Status.DOWN


def test_service_checks_do_not_decide_reachability() -> None:
    t, d = StateTracker(Clock()), device(down_after=1)
    t.record(d, ok())
    assert t.record(d, bad("service:portal")) is None
    assert t.devices["r1"].status is Status.UP
    assert t.check("r1", "service:portal").status is Status.DOWN


def test_packets_are_counted_across_rounds() -> None:
    t, d = StateTracker(Clock()), device()
    t.record(d, ok())
    t.record(d, bad())
    check = t.check("r1", "icmp")
    assert (check.packets_sent, check.packets_received) == (6, 3)


def test_immediate_mode_decides_on_one_sample() -> None:
    t = StateTracker(Clock(), immediate=True)
    d = device(down_after=3)
    t.record(d, bad())
    assert t.devices["r1"].status is Status.DOWN


def test_status_change_time_comes_from_the_injected_clock() -> None:
    clock = Clock()
    t, d = StateTracker(clock), device(down_after=1)
    t.record(d, ok())
    clock.now = 2000.0
    change = t.record(d, bad())
    assert change is not None
    assert change.at == 2000.0
    assert t.devices["r1"].since == 2000.0


def test_forget_checks_keeps_the_others() -> None:
    t, d = StateTracker(Clock()), device()
    t.record(d, ok("icmp"))
    t.record(d, ok("snmp"))
    t.forget_checks("r1", ["icmp"])
    assert set(t.devices["r1"].checks) == {"icmp"}


def test_a_device_that_fails_ping_too_is_down_for_pings_reason_not_snmps_guess() -> None:
    """SNMP's timeout ("wrong community or agent down?") tips the device down, but ping fails
    too: the change carries ping's reason, so nobody goes looking for a wrong community."""
    t, d = StateTracker(Clock()), device(down_after=1, snmp=SnmpSettings())
    guess = Failure(FailureKind.TIMEOUT, "SNMP r1: no reply within 2s (wrong community?)")
    t.record(d, ok("snmp"))
    t.record(d, bad("icmp"))
    change = t.record(d, Sample("r1", "snmp", 0.0, 0.0, guess, None))
    assert change is not None
    assert change.failure == FAIL
    # Ping answers, SNMP does not: SNMP's reason is the one to read.
    t2 = StateTracker(Clock())
    t2.record(d, ok("icmp"))
    t2.record(d, Sample("r1", "snmp", 0.0, 0.0, guess, None))
    assert t2.devices["r1"].status is Status.UP
