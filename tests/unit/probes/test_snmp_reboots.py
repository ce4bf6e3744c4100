"""RebootDetector: reboots counted, the 497-day sysUpTime wrap and jitter are not."""

from __future__ import annotations

import pytest

from netwatch.probes.snmp_data import SystemInfo
from netwatch.probes.snmp_reboots import (
    TIMETICKS_WRAP_SECONDS,
    RebootDetector,
    Verdict,
    clock_verdict,
)

W = TIMETICKS_WRAP_SECONDS
DAY = 86_400.0


def info(uptime: float | None, engine: int | None = None, hr: float | None = None) -> SystemInfo:
    return SystemInfo("r1", "router", "1.3.6.1.4.1.9", uptime, engine, hr)


def test_first_sample_sets_the_baseline_only() -> None:
    """A small uptime on the first sample is not a reboot: we did not see the one before."""
    d = RebootDetector()
    assert d.observe("r1", 1000.0, info(3.0)) is None
    assert d.reboots("r1") == 0


def test_uptime_counting_on_is_no_reboot() -> None:
    """Uptime advancing with the wall clock, poll after poll, counts nothing."""
    d = RebootDetector()
    for i in range(10):
        assert d.observe("r1", 1000.0 + 60 * i, info(5 * DAY + 60 * i + 0.3 * (i % 2))) is None
    assert d.reboots("r1") == 0


def test_reboot_is_counted() -> None:
    """Uptime back to 30 s one minute after 5 days of uptime is one reboot."""
    d = RebootDetector()
    d.observe("r1", 1000.0, info(5 * DAY))
    reboot = d.observe("r1", 1060.0, info(30.0))
    assert reboot is not None
    assert (reboot.device, reboot.clock, reboot.uptime_seconds) == ("r1", "sysUpTime", 30.0)
    assert reboot.previous_uptime_seconds == 5 * DAY
    assert not reboot.after_wrap
    assert d.observe("r1", 1120.0, info(90.0)) is None
    assert d.reboots("r1") == 1


def test_wrap_is_not_a_reboot() -> None:
    """sysUpTime going from 497 days to 50 s in 60 s is exactly the 2^32 wrap."""
    d = RebootDetector()
    d.observe("r1", 1000.0, info(W - 10))
    assert d.observe("r1", 1060.0, info(50.0)) is None
    assert d.observe("r1", 1120.0, info(110.0)) is None
    assert d.reboots("r1") == 0


def test_wrap_seen_after_a_day_unreachable_is_not_a_reboot() -> None:
    """A wrap during a long outage still matches previous + elapsed - 2^32/100."""
    d = RebootDetector()
    d.observe("r1", 0.0, info(W - 1000))
    assert d.observe("r1", DAY, info(DAY - 1000 + 2.0)) is None
    assert d.reboots("r1") == 0


def test_reboot_right_after_the_wrap_is_a_reboot() -> None:
    """Uptime 20 s where the wrap predicts 50 s: it wrapped, then rebooted."""
    d = RebootDetector()
    d.observe("r1", 1000.0, info(W - 10))
    reboot = d.observe("r1", 1060.0, info(20.0))
    assert reboot is not None
    assert d.reboots("r1") == 1


def test_reboot_looking_like_a_wrap_is_told_apart_by_engine_time() -> None:
    """sysUpTime fits the wrap, but snmpEngineTime started again: a reboot after the wrap."""
    d = RebootDetector()
    d.observe("r1", 1000.0, info(W - 10, engine=int(W - 10)))
    reboot = d.observe("r1", 1060.0, info(50.0, engine=49))
    assert reboot is not None
    assert reboot.after_wrap
    assert reboot.clock == "sysUpTime"


def test_wrap_confirmed_by_engine_time_is_not_a_reboot() -> None:
    """sysUpTime wrapped while snmpEngineTime counted on: no reboot."""
    d = RebootDetector()
    d.observe("r1", 1000.0, info(W - 10, engine=int(W - 10)))
    assert d.observe("r1", 1060.0, info(50.0, engine=int(W + 50))) is None
    assert d.reboots("r1") == 0


def test_jitter_back_is_not_a_reboot() -> None:
    """Uptime a second lower than the last one (a delayed reply) is no reboot."""
    d = RebootDetector()
    d.observe("r1", 1000.0, info(5 * DAY))
    assert d.observe("r1", 1060.0, info(5 * DAY - 1.0)) is None
    assert d.observe("r1", 1062.0, info(5 * DAY + 0.5)) is None
    assert d.reboots("r1") == 0


def test_jitter_on_a_freshly_booted_device_is_not_a_reboot() -> None:
    """Small uptimes a little off the wall clock: still the same boot."""
    d = RebootDetector()
    d.observe("r1", 1000.0, info(3.0))
    assert d.observe("r1", 1002.0, info(2.5)) is None
    assert d.reboots("r1") == 0


def test_reboot_during_a_long_outage_is_counted_though_uptime_grew() -> None:
    """1000 s before a day without answers, 5000 s after: it booted during the outage."""
    d = RebootDetector()
    d.observe("r1", 0.0, info(1000.0))
    assert d.observe("r1", DAY, info(5000.0)) is not None
    assert d.reboots("r1") == 1


def test_agent_restart_is_not_a_host_reboot() -> None:
    """snmpd restarted (sysUpTime 5 s) while hrSystemUptime counted on: no reboot."""
    d = RebootDetector()
    d.observe("srv", 1000.0, info(DAY, hr=30 * DAY))
    assert d.observe("srv", 1060.0, info(5.0, hr=30 * DAY + 60)) is None
    assert d.reboots("srv") == 0


def test_host_reboot_is_seen_in_hr_system_uptime() -> None:
    """hrSystemUptime back to 40 s is a reboot of the host."""
    d = RebootDetector()
    d.observe("srv", 1000.0, info(DAY, hr=30 * DAY))
    reboot = d.observe("srv", 1060.0, info(20.0, hr=40.0))
    assert reboot is not None
    assert reboot.clock == "hrSystemUptime"


def test_a_stuck_clock_is_ignored() -> None:
    """hrSystemUptime always 0 (a broken agent) neither decides nor hides a reboot."""
    d = RebootDetector()
    d.observe("r1", 1000.0, info(5 * DAY, hr=0.0))
    assert d.observe("r1", 1060.0, info(5 * DAY + 60, hr=0.0)) is None
    reboot = d.observe("r1", 1120.0, info(20.0, hr=0.0))
    assert reboot is not None
    assert reboot.clock == "sysUpTime"
    assert d.reboots("r1") == 1


def test_samples_without_uptime_or_out_of_order_are_ignored() -> None:
    """No system data, no uptime, or a sample older than the last: nothing changes."""
    d = RebootDetector()
    d.observe("r1", 1000.0, info(5 * DAY))
    assert d.observe("r1", 1060.0, None) is None
    assert d.observe("r1", 1060.0, info(None)) is None
    assert d.observe("r1", 900.0, info(1.0)) is None
    assert d.observe("r1", 1120.0, info(5 * DAY + 120)) is None
    assert d.reboots("r1") == 0


def test_forget_drops_the_count_and_the_baseline() -> None:
    """A forgotten device starts again from a baseline and zero reboots."""
    d = RebootDetector()
    d.observe("r1", 0.0, info(DAY))
    d.observe("r1", 60.0, info(1.0))
    d.observe("r2", 0.0, info(DAY))
    d.forget(["r1"])
    assert d.reboots("r1") == 0
    assert d.observe("r1", 120.0, info(0.5)) is None
    assert d.reboots("r2") == 0


@pytest.mark.parametrize(
    ("previous", "current", "elapsed", "expected"),
    [
        (100.0, 160.0, 60.0, Verdict.CONTINUED),
        (100.0, 99.0, 60.0, Verdict.CONTINUED),
        (W - 5, 55.0, 60.0, Verdict.WRAPPED),
        (W - 5, 10.0, 60.0, Verdict.RESTARTED),
        (DAY, 10.0, 60.0, Verdict.RESTARTED),
        (None, 10.0, 60.0, None),
        (10.0, None, 60.0, None),
        (0.0, 0.0, 60.0, None),
        (100.0, 100.0, 1.0, Verdict.CONTINUED),
    ],
)
def test_clock_verdict(
    previous: float | None, current: float | None, elapsed: float, expected: Verdict | None
) -> None:
    """The one-clock rule on its own."""
    assert clock_verdict(previous, current, elapsed, W) is expected
