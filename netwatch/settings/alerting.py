"""Alerting settings, maintenance windows and silences: frozen values the engine reads.

Times are epoch seconds (floats) except where a person writes a wall-clock time: maintenance
windows and the digest hour are local to the agent's time zone (``agent.timezone``, default
Asia/Ho_Chi_Minh), computed with ``zoneinfo`` so a zone with daylight saving time works too.

>>> from datetime import datetime, timedelta
>>> tz = ZoneInfo("Asia/Ho_Chi_Minh")
>>> w = MaintenanceWindow.recurring("sun", "ninh-kieu", "22:00", timedelta(hours=2), weekday=6)
>>> w.active(datetime(2026, 3, 1, 23, 30, tzinfo=tz).timestamp())   # a Sunday
True
>>> AlertSettings().severity_of("district", "router", gateway=True)
('critical', False)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from netwatch.instants import LATEST, MAX_DURATION, check_epoch, check_instant
from netwatch.models import DEFAULT_TIMEZONE

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")  # the most urgent first

# Keys are "role", "level/role", or the pseudo-role "gateway" (a device that is a site's link
# to its parent), with or without a level; the most specific key wins (see severity_of).
DEFAULT_SEVERITY: Mapping[str, Severity] = {
    "province/server": "critical",
    "province/router": "critical",
    "province/firewall": "critical",
    "province/switch": "critical",
    "district/gateway": "critical",
    "district/router": "critical",
    "district/firewall": "critical",
    "gateway": "warning",
    "router": "warning",
    "firewall": "warning",
    "switch": "warning",
    "server": "warning",
    "other": "warning",
    "workstation": "warning",
    "ups": "warning",
}

Recurrence = Literal["none", "daily", "weekly"]
RECURRENCES: tuple[Recurrence, ...] = ("none", "daily", "weekly")


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """How alerts are timed, graded and linked. Durations in seconds.

    ``hold``: how long a device's alert may wait for a failing-but-unconfirmed parent to settle
    (about twice a parent's ``down_after x retry_interval``). ``recheck_timeout``: how long a
    device cut off behind a recovered parent may stay unannounced without being polled.
    ``digest_roles``: roles whose failures go only into the daily per-site digest.

    >>> AlertSettings(flap_threshold=6).flap_window
    600.0
    """

    repeat_interval: float = 4 * 3600.0
    escalate_after: float = 30 * 60.0
    escalate: tuple[Severity, ...] = ("critical",)  # the severities that escalate
    flap_window: float = 10 * 60.0
    flap_threshold: int = 4
    hold: float = 60.0
    recheck_timeout: float = 300.0
    digest_time: str = "08:00"
    digest_roles: tuple[str, ...] = ("workstation",)
    severity_by_role: Mapping[str, Severity] = field(default_factory=lambda: dict(DEFAULT_SEVERITY))
    external_url: str = ""

    def severity_of(self, level: str, role: str, *, gateway: bool) -> tuple[Severity, bool]:
        """The severity of a device's failure, and whether it goes to the digest only."""
        keys = [f"{level}/{role}", role]
        if gateway:
            keys = [f"{level}/gateway", keys[0], "gateway", role]
        table = self.severity_by_role
        severity: Severity = next((table[k] for k in keys if k in table), "warning")
        return severity, role in self.digest_roles

    def next_digest(self, now: float, timezone: str) -> float:
        """The first digest time strictly after ``now``."""
        tz = ZoneInfo(timezone)
        at = parse_clock(self.digest_time)
        day = datetime.fromtimestamp(now, tz).date()
        for offset in range(3):
            candidate = _local(day + timedelta(days=offset), at, tz)
            if candidate > now:
                return candidate
        raise AssertionError("unreachable: a day later is always after now")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """Planned work on a device or site (a site covers everything below it).

    ``start`` is an aware datetime; a recurring window repeats at the same local time every day
    (``daily``) or every week on ``start``'s local weekday (``weekly``) from ``start`` on.

    >>> tz = ZoneInfo("Asia/Ho_Chi_Minh")
    >>> w = MaintenanceWindow("fw", "core-fw", datetime(2026, 3, 14, 21, tzinfo=tz),
    ...                       timedelta(hours=3), reason="firmware upgrade")
    >>> w.active(datetime(2026, 3, 14, 23, 59, tzinfo=tz).timestamp())
    True
    """

    id: str
    target: str  # device or site id
    start: datetime
    duration: timedelta
    recurrence: Recurrence = "none"
    reason: str = ""
    timezone: str = DEFAULT_TIMEZONE

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError(f"maintenance window {self.id}: start must carry a time zone")
        if self.duration <= timedelta(0):
            raise ValueError(f"maintenance window {self.id}: duration must be positive")
        # Checked here, so no window the API, the config or a saved file makes can later
        # overflow in active(): every start and end has a timestamp (see instants.LATEST).
        if self.duration.total_seconds() > MAX_DURATION:
            raise ValueError(f"maintenance window {self.id}: duration must be at most 10 years")
        start = check_instant(self.start, f"maintenance window {self.id}: start")
        if start + self.duration.total_seconds() >= LATEST:
            raise ValueError(f"maintenance window {self.id}: must end before 9999-01-01 (UTC)")

    @classmethod
    def recurring(
        cls,
        window_id: str,
        target: str,
        at: str,
        duration: timedelta,
        *,
        weekday: int | None = None,
        reason: str = "",
        timezone: str = DEFAULT_TIMEZONE,
        since: date = date(2000, 1, 3),
    ) -> MaintenanceWindow:
        """``every <weekday> at HH:MM`` (Monday = 0), or every day when ``weekday`` is None."""
        tz = ZoneInfo(timezone)
        day = since
        if weekday is not None:
            day += timedelta(days=(weekday - since.weekday()) % 7)
        start = datetime.combine(day, parse_clock(at), tzinfo=tz)
        recurrence: Recurrence = "daily" if weekday is None else "weekly"
        return cls(window_id, target, start, duration, recurrence, reason, timezone)

    def active(self, now: float) -> bool:
        return any(s <= now < e for s, e in self._occurrences(now))

    def over(self, now: float) -> bool:
        """A one-off window that has ended (a recurring one never is)."""
        return (
            self.recurrence == "none"
            and self.start.timestamp() + self.duration.total_seconds() <= now
        )

    def next_change(self, now: float) -> float:
        """A time after ``now`` by which ``active`` may have changed (a start or an end)."""
        edges = [t for occ in self._occurrences(now) for t in occ if t > now]
        return min(edges, default=now + 86400.0)

    def _occurrences(self, now: float) -> Iterator[tuple[float, float]]:
        """Occurrences that may contain ``now``, and the next one after it."""
        span = self.duration.total_seconds()
        first = self.start.timestamp()
        if self.recurrence == "none":
            yield first, first + span
            return
        tz = ZoneInfo(self.timezone)
        local_start = self.start.astimezone(tz)
        period = 1 if self.recurrence == "daily" else 7
        today = datetime.fromtimestamp(now, tz).date()
        day = today - timedelta(days=(today - local_start.date()).days % period)
        # Enough earlier occurrences to cover a window longer than its period, plus the next.
        back = int(span // (period * 86400)) + 1
        for k in range(-back, 2):
            occ_day = day + timedelta(days=k * period)
            start = _local(occ_day, local_start.timetz().replace(tzinfo=None), tz)
            if start >= first:
                yield start, start + span


@dataclass(frozen=True, slots=True)
class Silence:
    """No messages for alerts about these devices or sites (a site: it and everything below)
    until ``until``; the alerts are still recorded.

    >>> Silence("s1", until=1.7e9, devices=("an-binh-rtr",), by="lan", comment="line works")
    ... # doctest: +ELLIPSIS
    Silence(id='s1', ...)
    """

    id: str
    until: float
    devices: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    by: str = ""
    comment: str = ""
    created_at: float = 0.0

    def __post_init__(self) -> None:
        check_epoch(self.until, f"silence {self.id}: until")
        check_epoch(self.created_at, f"silence {self.id}: created_at")

    def matches(self, device: str | None, site_chain: tuple[str, ...], now: float) -> bool:
        if now >= self.until:
            return False
        if device is not None and device in self.devices:
            return True
        return any(s in self.sites for s in site_chain)


def parse_recurrence(value: object) -> Recurrence:
    """``"none"``, ``"daily"`` or ``"weekly"`` as a :data:`Recurrence`; ValueError otherwise."""
    for known in RECURRENCES:
        if value == known:
            return known
    raise ValueError(f"recurrence must be none, daily or weekly, not {value!r}")


def parse_clock(text: str) -> time:
    """``"22:00"`` → ``time(22, 0)``; raises ValueError for anything else."""
    hours, sep, minutes = text.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"expected a local time like 22:00, got {text!r}")
    return time(int(hours), int(minutes))


def _local(day: date, at: time, tz: ZoneInfo) -> float:
    return datetime.combine(day, at, tzinfo=tz).timestamp()
