"""The ``alerting`` section (timing, grading and digest of alerts) and the ``maintenance`` list.

``alerting`` becomes :class:`~netwatch.settings.alerting.AlertSettings`; its ``severity`` table
is merged over the built-in one, so a province lists only what it grades differently. Keys of
that table are a role, the pseudo-role ``gateway`` (a site's link to its parent), or either of
them after a level: ``commune/gateway``.

``maintenance`` windows are read here into drafts; their targets (a site or device id, possibly
from an included file) are checked once every file has been read (:func:`resolve_windows`).
Times are local to ``agent.timezone``.

>>> import yaml
>>> from .source import Problems, Secrets
>>> check = Checker("x.yaml", Problems(), Secrets({}))
>>> node = yaml.compose("{hold: 2m, severity: {commune/gateway: critical}}")
>>> s = parse_alerting(check, node, "alerting", ("province", "district", "commune"))
>>> s.hold, s.severity_of("commune", "router", gateway=True)
(120.0, ('critical', False))
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from yaml.nodes import Node

from netwatch.settings.alerting import (
    DEFAULT_SEVERITY,
    SEVERITIES,
    AlertSettings,
    MaintenanceWindow,
)

from . import readers
from .readers import Reader, read_fields
from .source import Checker, Loc, Problems, index, join
from .up_checks import ROLES
from .values import check_url

_READERS: dict[str, Reader] = {
    "repeat_interval": readers.duration,
    "escalate_after": readers.duration,
    "flap_window": readers.duration,
    "flap_threshold": lambda check, node, path: check.integer(node, path, minimum=2),
    "hold": readers.duration_or_zero,
    "recheck_timeout": readers.duration,
    "digest_time": lambda check, node, path: _clock(check, node, path),
    "external_url": readers.checked(check_url),
}
ALERTING_KEYS = (*_READERS, "digest_roles", "severity", "escalate")


def parse_alerting(
    check: Checker, node: Node, path: str, hierarchy: tuple[str, ...]
) -> AlertSettings:
    """The ``alerting`` section; entries that cannot be read keep their defaults (reported)."""
    entries = check.mapping(node, path, ALERTING_KEYS) or {}
    fields: dict[str, Any] = {
        key: value for key, (value, _) in read_fields(check, entries, path, _READERS).items()
    }
    if "digest_roles" in entries:
        roles = _roles(check, entries["digest_roles"], join(path, "digest_roles"))
        if roles is not None:
            fields["digest_roles"] = roles
    if "escalate" in entries:
        escalate = _severities(check, entries["escalate"], join(path, "escalate"))
        if escalate is not None:
            fields["escalate"] = escalate
    if "severity" in entries:
        table = _severity(check, entries["severity"], join(path, "severity"), hierarchy)
        fields["severity_by_role"] = {**DEFAULT_SEVERITY, **table}
    return AlertSettings(**fields)


def _clock(check: Checker, node: Node, path: str) -> str | None:
    """A local time of day, ``HH:MM``."""
    text = check.text(node, path)
    if text is None:
        return None
    return None if parse_time(check, node, path, text) is None else text


def parse_time(check: Checker, node: Node, path: str, text: str) -> time | None:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        check.report(node, path, f"expected a local time like 22:00, got {text!r}")
        return None
    return time(int(match[1]), int(match[2]))


def _severities(check: Checker, node: Node, path: str) -> tuple[str, ...] | None:
    items = check.texts(node, path)
    if items is None:
        return None
    found: list[str] = []
    for name, item in items:
        if name not in SEVERITIES:
            check.report(item, path, f"unknown severity {name!r}; expected some of: "
                         f"{', '.join(SEVERITIES)}")  # fmt: skip
        elif name not in found:
            found.append(name)
    return tuple(found)


def _roles(check: Checker, node: Node, path: str) -> tuple[str, ...] | None:
    items = check.texts(node, path)
    if items is None:
        return None
    roles: list[str] = []
    for name, item in items:
        if name not in ROLES:
            check.report(item, path, f"unknown role {name!r}; expected some of: {', '.join(ROLES)}")
        elif name not in roles:
            roles.append(name)
    return tuple(roles)


def _severity(check: Checker, node: Node, path: str, hierarchy: tuple[str, ...]) -> dict[str, str]:
    table: dict[str, str] = {}
    for key, value_node in (check.mapping(node, path, None) or {}).items():
        key_path = join(path, key)
        severity = check.choice(value_node, key_path, SEVERITIES)
        level, _, role = key.rpartition("/")
        if role not in (*ROLES, "gateway"):
            check.report(
                value_node,
                key_path,
                f"unknown role {role!r}; a severity key is ROLE, gateway, LEVEL/ROLE or "
                f"LEVEL/gateway with ROLE one of: {', '.join(ROLES)}",
            )
        elif level and level not in hierarchy:
            check.report(
                value_node,
                key_path,
                f"level '{level}' is not in agent.hierarchy ({', '.join(hierarchy)})",
            )
        elif severity is not None:
            table[key] = severity
    return table


# --------------------------------------------------------------------------- maintenance

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WINDOW_KEYS = ("id", "target", "start", "every", "at", "duration", "reason")
_START = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?")


@dataclass(frozen=True, slots=True)
class WindowDraft:
    """A maintenance window as read; its target is checked once every id is known."""

    window: MaintenanceWindow
    target_node: Node
    path: str
    check: Checker


def parse_maintenance(check: Checker, node: Node, path: str, timezone: str) -> list[WindowDraft]:
    """The ``maintenance`` list; duplicate ids and unusable windows are reported and left out."""
    drafts: list[WindowDraft] = []
    first_at: dict[str, Loc] = {}
    for i, item in enumerate(check.sequence(node, path) or []):
        item_path = index(path, i)
        draft = _window(check, item, item_path, timezone)
        if draft is None:
            continue
        window_id = draft.window.id
        if window_id in first_at:
            where = first_at[window_id]
            check.report(
                item,
                join(item_path, "id"),
                f"duplicate maintenance window id '{window_id}' "
                f"(first at line {where.line}, column {where.column})",
            )
            continue
        first_at[window_id] = check.loc(item, item_path)
        drafts.append(draft)
    return drafts


def _window(check: Checker, node: Node, path: str, timezone: str) -> WindowDraft | None:
    entries = check.mapping(node, path, WINDOW_KEYS, required=("id", "target", "duration"))
    if entries is None:
        return None
    window_id = target = duration = None
    if "id" in entries:
        window_id = check.ident(entries["id"], join(path, "id"))
    if "target" in entries:
        target = check.text(entries["target"], join(path, "target"))
    if "duration" in entries:
        duration = check.duration(entries["duration"], join(path, "duration"))
    reason = ""
    if "reason" in entries:
        reason = check.text(entries["reason"], join(path, "reason")) or ""
    when = _when(check, node, entries, path, timezone)
    if window_id is None or target is None or duration is None or when is None:
        return None
    span = timedelta(seconds=duration)
    if isinstance(when, datetime):
        try:
            window = MaintenanceWindow(window_id, target, when, span, reason=reason,
                                       timezone=timezone)  # fmt: skip
        except ValueError as exc:  # a start in year 1, an end after 9998, a 20-year span
            check.report(entries["start"], join(path, "start"), str(exc))
            return None
    else:
        at, every = when
        weekday = None if every == "day" else WEEKDAYS.index(every)
        if span >= timedelta(days=1 if weekday is None else 7):
            check.report(
                entries["duration"],
                join(path, "duration"),
                f"duration {entries['duration'].value} fills the whole repeat period of "
                f"'every: {every}': the target would never leave maintenance",
            )
            return None
        window = MaintenanceWindow.recurring(
            window_id, target, at, span, weekday=weekday, reason=reason, timezone=timezone
        )
    return WindowDraft(window, entries["target"], path, check)


# A one-off window's start, or a recurring window's ("22:00", "sunday" | ... | "day").
When = datetime | tuple[str, str]


def _when(
    check: Checker, node: Node, entries: Mapping[str, Node], path: str, timezone: str
) -> When | None:
    """When a window happens: once (``start``) or again and again (``every`` + ``at``)."""
    once, recurring = "start" in entries, "every" in entries or "at" in entries
    if once and recurring:
        key = "every" if "every" in entries else "at"
        check.report(
            entries[key],
            join(path, key),
            "a window is either one-off (start) or recurring (every + at), not both",
        )
        return None
    if once:
        return _start(check, entries["start"], join(path, "start"), timezone)
    if not recurring:
        check.report(
            node,
            path,
            "a maintenance window needs 'start' (one-off, e.g. \"2026-12-06 22:00\") "
            "or 'every' and 'at' (recurring, e.g. every: sunday, at: \"22:00\")",
        )
        return None
    for key in ("every", "at"):
        if key not in entries:
            check.report(node, path, f"a recurring window needs both 'every' and 'at'; add '{key}'")
            return None
    every = check.choice(entries["every"], join(path, "every"), (*WEEKDAYS, "day"))
    at_text = check.text(entries["at"], join(path, "at"))
    at = None if at_text is None else parse_time(check, entries["at"], join(path, "at"), at_text)
    if every is None or at is None:
        return None
    return at.strftime("%H:%M"), every


def _start(check: Checker, node: Node, path: str, timezone: str) -> datetime | None:
    text = check.text(node, path)
    if text is None:
        return None
    match = _START.fullmatch(text.strip())
    if match is None:
        check.report(
            node,
            path,
            f'expected a local date and time like "2026-12-06 22:00", got {text!r} '
            f"(read in agent.timezone, {timezone}; write no offset)",
        )
        return None
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups(default="0"))
        naive = datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        check.report(node, path, f"invalid date or time {text!r}: {exc}")
        return None
    return naive.replace(tzinfo=ZoneInfo(timezone))


def resolve_windows(
    drafts: list[WindowDraft],
    sites: Collection[str],
    devices: Collection[str],
    problems: Problems,
    unknown: Callable[[str, str, Mapping[str, object]], str],
) -> tuple[MaintenanceWindow, ...]:
    """The windows whose target is a known site or device; the others are reported.

    ``unknown(what, name, known)`` words the message (with a did-you-mean).
    """
    windows = []
    for draft in drafts:
        target = draft.window.target
        if target in sites or target in devices:
            windows.append(draft.window)
            continue
        known = dict.fromkeys([*sites, *devices])
        problems.add(
            draft.check.loc(draft.target_node, join(draft.path, "target")),
            unknown("site or device", target, known),
        )
    return tuple(windows)
