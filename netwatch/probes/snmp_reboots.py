"""Counts device reboots from successive SNMP uptimes, without mistaking the 497-day wrap.

sysUpTime is a TimeTicks (hundredths of a second in 32 bits): it goes back to 0 every 2^32 / 100
seconds (~497 days) on a device that never rebooted. So "the uptime went back" alone is not a
reboot. A device rebooted since the previous sample when its uptime is shorter than the wall time
that passed since then *and* the uptime is not what a wrap would give (``previous + elapsed -
2^32/100``). When a wrap and a reboot would both explain the values (a reboot right after the
wrap), the other clocks of the agent decide: snmpEngineTime (seconds, never wraps in practice)
or hrSystemUptime. A Linux host's hrSystemUptime is the host's own uptime, while sysUpTime is
only the agent's: when it is present it is trusted first, so restarting snmpd is not a reboot.

Pure: no I/O; the caller passes the poll time of each successful sample.

>>> from netwatch.probes.snmp_data import SystemInfo
>>> d = RebootDetector()
>>> d.observe("r1", 1000.0, SystemInfo("r1", "", "", sys_uptime_seconds=86400.0)) is None
True
>>> d.observe("r1", 1060.0, SystemInfo("r1", "", "", sys_uptime_seconds=30.0)).clock
'sysUpTime'
>>> d.reboots("r1")
1
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Final

from netwatch.probes.snmp_data import SystemInfo

log = logging.getLogger(__name__)

TIMETICKS_WRAP_SECONDS: Final = 2**32 / 100  # 497 days, 2 h 27 min 52.96 s
ENGINE_TIME_WRAP_SECONDS: Final = 2**31  # snmpEngineTime restarts at 2^31 - 1 (RFC 3414)
TOLERANCE_SECONDS: Final = 5.0  # poll start vs. when the agent read its clock, retries
DRIFT: Final = 0.01  # cheap devices' clocks run up to 1 % off the wall clock


class Verdict(Enum):
    """What one clock did between two samples."""

    CONTINUED = "continued"  # counted on, as the wall clock did
    WRAPPED = "wrapped"  # went back by exactly its wrap (or a reboot that looks the same)
    RESTARTED = "restarted"  # started again from 0 after the previous sample


@dataclass(frozen=True, slots=True)
class Reboot:
    """A reboot seen at ``at``: the clock that showed it and its value before and after."""

    device: str
    at: float
    clock: str  # "hrSystemUptime", "sysUpTime" or "snmpEngineTime"
    uptime_seconds: float
    previous_uptime_seconds: float
    after_wrap: bool = False  # the clock had wrapped too; another clock told the reboot apart


@dataclass(frozen=True, slots=True)
class _Seen:
    at: float
    sys_uptime: float | None
    hr_uptime: float | None
    engine_time: float | None


def clock_verdict(
    previous: float | None,
    current: float | None,
    elapsed: float,
    wrap: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> Verdict | None:
    """How a clock moved in ``elapsed`` wall seconds; ``None`` if a value is missing.

    Restarted means both: the clock is behind where it should be by more than the tolerance,
    and it is shorter than the time since the previous sample (so it started after it). A
    clock going back a little (a reply read a moment earlier than the last one) continued. A
    clock that did not move while the wall clock did (some agents answer a constant 0) says
    nothing: ``None``.
    """
    if previous is None or current is None:
        return None
    slack = tolerance + DRIFT * elapsed
    if current == previous and elapsed > slack:
        return None
    expected = previous + elapsed
    if current >= expected - slack or current >= elapsed + slack:
        return Verdict.CONTINUED
    wrapped = expected - wrap
    if wrapped >= -slack and abs(current - wrapped) <= slack:
        return Verdict.WRAPPED
    return Verdict.RESTARTED


class RebootDetector:
    """Counts reboots per device from each successful SNMP sample's ``SystemInfo``.

    Feed every successful sample, in poll order, with the wall time the poll started
    (``Sample.at``). The first sample of a device only sets the baseline: a reboot before
    netwatch started is not counted. ``forget`` drops devices removed from the config.
    """

    def __init__(self, tolerance: float = TOLERANCE_SECONDS) -> None:
        self._tolerance = tolerance
        self._seen: dict[str, _Seen] = {}
        self._reboots: dict[str, int] = {}

    def reboots(self, device_id: str) -> int:
        """Reboots counted since netwatch started (exported as a ``_total`` counter)."""
        return self._reboots.get(device_id, 0)

    def forget(self, device_ids: Iterable[str]) -> None:
        for device_id in device_ids:
            self._seen.pop(device_id, None)
            self._reboots.pop(device_id, None)

    def observe(self, device_id: str, at: float, system: SystemInfo | None) -> Reboot | None:
        """Compare with the previous sample of the device; return the reboot, if one happened."""
        if system is None:
            return None
        engine = system.engine_time_seconds
        seen = _Seen(
            at,
            system.sys_uptime_seconds,
            system.hr_system_uptime_seconds,
            None if engine is None else float(engine),
        )
        if seen.sys_uptime is None and seen.hr_uptime is None and seen.engine_time is None:
            return None
        previous = self._seen.get(device_id)
        if previous is not None and at < previous.at:
            return None  # an older sample arriving late says nothing new
        self._seen[device_id] = seen
        if previous is None:
            return None
        reboot = self._compare(device_id, previous, seen)
        if reboot is not None:
            self._reboots[device_id] = self._reboots.get(device_id, 0) + 1
            log.info(
                "snmp %s: rebooted (%s %.0fs -> %.0fs)",
                device_id, reboot.clock, reboot.previous_uptime_seconds, reboot.uptime_seconds,
            )  # fmt: skip
        return reboot

    def _compare(self, device_id: str, old: _Seen, new: _Seen) -> Reboot | None:
        elapsed = new.at - old.at
        tol = self._tolerance
        clocks = (
            ("hrSystemUptime", old.hr_uptime, new.hr_uptime, TIMETICKS_WRAP_SECONDS),
            ("sysUpTime", old.sys_uptime, new.sys_uptime, TIMETICKS_WRAP_SECONDS),
            ("snmpEngineTime", old.engine_time, new.engine_time, ENGINE_TIME_WRAP_SECONDS),
        )
        present = [
            (name, before, after, verdict)
            for name, before, after, wrap in clocks
            if before is not None
            and after is not None
            and (verdict := clock_verdict(before, after, elapsed, wrap, tol)) is not None
        ]
        if not present:
            return None
        # The first clock present decides; a wrap is checked against the others.
        name, before, after, verdict = present[0]
        if verdict is Verdict.CONTINUED:
            return None
        if verdict is Verdict.WRAPPED:
            if not any(v is Verdict.RESTARTED for _n, _b, _a, v in present[1:]):
                log.info("snmp %s: %s wrapped after 497 days (not a reboot)", device_id, name)
                return None
            return Reboot(device_id, new.at, name, after, before, after_wrap=True)
        return Reboot(device_id, new.at, name, after, before)
