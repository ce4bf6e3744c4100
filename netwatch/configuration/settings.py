"""The agent, the contacts and the inheritable settings (``defaults`` and their overrides).

Inheritable settings are read per level into a :class:`Layer` (what that level wrote, with
where it wrote it) and stacked into a :class:`Stacked` from ``defaults`` down to a device,
key by key: a device's ``snmp: {port: 1161}`` keeps every other inherited SNMP setting. Checks
that involve several keys (interval against timeout) run on the stacked result and are reported
at the most specific place that set one of those keys.

>>> eff = Stacked.root().over(Layer(values={"down_after": (5, LOC)}))
>>> eff.values["down_after"][0]
5
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from yaml.nodes import Node, ScalarNode

from netwatch.models import (
    ICMP_GRID,
    SNMP_OID_SETS,
    IcmpSettings,
    InterfaceFilter,
    SnmpSettings,
    longest_ping,
)

from . import readers
from .readers import INVALID, Field, Ranked, Reader, read_fields
from .source import BOOL, Checker, Loc, Problems, join
from .up_checks import parse_up_checks
from .values import format_duration

LOC = Loc("<built-in>", 1, 1, "")

INHERITABLE = (
    "icmp",
    "snmp",
    "down_after",
    "up_after",
    "retry_interval",
    "service_interval",
    "service_timeout",
    "cert_warn_days",
    "up_checks",
)

# --------------------------------------------------------------------------- layers

_VALUE_READERS: dict[str, Reader] = {
    "down_after": readers.positive,
    "up_after": readers.positive,
    "retry_interval": readers.duration,
    "service_interval": readers.duration,
    "service_timeout": readers.duration,
    "cert_warn_days": readers.non_negative,
}
SERVICE_READERS: dict[str, Reader] = {
    "interval": readers.duration,
    "timeout": readers.duration,
    "cert_warn_days": readers.non_negative,
}
_ICMP_READERS: dict[str, Reader] = {
    "interval": readers.duration,
    "count": readers.positive,
    "timeout": readers.duration,
    "spacing": readers.duration_or_zero,
}
_SNMP_READERS: dict[str, Reader] = {
    "interval": readers.duration,
    "timeout": readers.duration,
    "retries": readers.non_negative,
    "version": lambda check, node, path: _snmp_version(check, node, path),
    "port": readers.port,
    "community": lambda check, node, path: check.secret(node, path, inline_ok=True),
    "user": readers.text,
    "auth_protocol": readers.choice("md5", "sha", "sha224", "sha256", "sha384", "sha512"),
    "auth_password": readers.secret,
    "priv_protocol": readers.choice("des", "aes", "aes192", "aes256", "aes192c", "aes256c"),
    "priv_password": readers.secret,
    "context": readers.text,
    "max_repetitions": lambda check, node, path: check.integer(node, path, minimum=1, maximum=100),
    "collect": lambda check, node, path: _collect(check, node, path),
}
_INTERFACE_READERS: dict[str, Reader] = {
    "include": lambda check, node, path: _regexes(check, node, path),
    "exclude": lambda check, node, path: _regexes(check, node, path),
    "admin_up_only": readers.boolean,
}
SNMP_KEYS = (*_SNMP_READERS, "interfaces")


def _snmp_version(check: Checker, node: Node, path: str) -> str | None:
    text = check.text(node, path)
    if text is None:
        return None
    version = text.lower().removeprefix("v")
    if version in ("1", "2c", "3"):
        return version
    check.report(node, path, f"unsupported SNMP version {text!r}; expected 1, 2c or 3")
    return None


def _collect(check: Checker, node: Node, path: str) -> tuple[str, ...] | None:
    names: list[str] = []
    for name, item in check.texts(node, path) or []:
        if name not in SNMP_OID_SETS:
            options = ", ".join(SNMP_OID_SETS)
            check.report(item, path, f"unknown OID set {name!r}; expected some of: {options}")
        elif name not in names:
            names.append(name)
    return tuple(names)


def _regexes(check: Checker, node: Node, path: str) -> tuple[str, ...] | None:
    patterns = check.texts(node, path)
    if patterns is None:
        return None
    good = [text for text, item in patterns if check_regex(check, item, path, text)]
    return tuple(good)


def check_regex(check: Checker, node: Node, path: str, text: str) -> bool:
    try:
        re.compile(text)
    except re.error as exc:
        check.report(node, path, f"invalid regular expression {text!r}: {exc}")
        return False
    return True


@dataclass(frozen=True, slots=True)
class Layer:
    """The inheritable settings written at one place (``defaults``, a site or a device)."""

    values: dict[str, Field] = field(default_factory=dict)
    icmp: dict[str, Field] = field(default_factory=dict)
    icmp_on: bool | None = None  # None: not said here
    snmp: dict[str, Field] = field(default_factory=dict)  # interfaces.* flattened
    snmp_at: Loc | None = None  # where an `snmp:` mapping was written here
    snmp_off: bool = False  # a device's `snmp: false`

    @property
    def empty(self) -> bool:
        return not (self.values or self.icmp or self.icmp_on is not None or self.snmp)


def parse_layer(
    check: Checker, entries: Mapping[str, Node], path: str, *, device: bool = False
) -> Layer:
    """The inheritable keys among ``entries`` (of defaults, a site or a device)."""
    values = read_fields(check, entries, path, _VALUE_READERS, keep_invalid=True)
    if "up_checks" in entries:
        values.update(parse_up_checks(check, entries["up_checks"], join(path, "up_checks")))
    icmp: dict[str, Field] = {}
    icmp_on: bool | None = None
    if "icmp" in entries:
        icmp_on, icmp = _parse_icmp(check, entries["icmp"], join(path, "icmp"))
    snmp: dict[str, Field] = {}
    snmp_at: Loc | None = None
    snmp_off = False
    node = entries.get("snmp")
    if node is not None:
        snmp_path = join(path, "snmp")
        if device and isinstance(node, ScalarNode) and node.tag == BOOL:
            snmp_off = check.boolean(node, snmp_path) is False
            if not snmp_off:
                check.report(node, snmp_path, "write 'snmp: {}' to poll with inherited settings")
        else:
            snmp_at = check.loc(node, snmp_path)
            snmp = _parse_snmp(check, node, snmp_path)
    return Layer(values, icmp, icmp_on, snmp, snmp_at, snmp_off)


def _parse_icmp(check: Checker, node: Node, path: str) -> tuple[bool | None, dict[str, Field]]:
    if isinstance(node, ScalarNode) and node.tag == BOOL:
        return check.boolean(node, path), {}
    entries = check.mapping(node, path, _ICMP_READERS)
    if entries is None:
        return None, {}
    return True, read_fields(check, entries, path, _ICMP_READERS, keep_invalid=True)


def _parse_snmp(check: Checker, node: Node, path: str) -> dict[str, Field]:
    entries = check.mapping(node, path, SNMP_KEYS)
    if entries is None:
        return {}
    fields = read_fields(check, entries, path, _SNMP_READERS, keep_invalid=True)
    if "interfaces" in entries:
        sub_path = join(path, "interfaces")
        sub = check.mapping(entries["interfaces"], sub_path, _INTERFACE_READERS) or {}
        read = read_fields(check, sub, sub_path, _INTERFACE_READERS, keep_invalid=True)
        for key, value in read.items():
            fields[f"interfaces.{key}"] = value
    return fields


# --------------------------------------------------------------------------- stacking


def _stack(base: dict[str, Ranked], top: dict[str, Field], depth: int) -> dict[str, Ranked]:
    if not top:
        return base
    merged = dict(base)
    for key, (value, loc) in top.items():
        merged[key] = (value, loc, depth)
    return merged


@dataclass(frozen=True, slots=True)
class Stacked:
    """Settings in force at one place of the tree: every layer above it stacked key by key."""

    values: dict[str, Ranked]
    icmp: dict[str, Ranked]
    icmp_on: bool
    snmp: dict[str, Ranked]
    snmp_at: tuple[Loc, ...]  # every `snmp:` mapping on the way down, least specific first
    depth: int

    @classmethod
    def root(cls) -> Stacked:
        return cls({}, {}, True, {}, (), 0)

    def over(self, layer: Layer) -> Stacked:
        """These settings with ``layer`` (one level deeper) written over them."""
        depth = self.depth + 1
        return Stacked(
            values=_stack(self.values, layer.values, depth),
            icmp=_stack(self.icmp, layer.icmp, depth),
            icmp_on=self.icmp_on if layer.icmp_on is None else layer.icmp_on,
            snmp=_stack(self.snmp, layer.snmp, depth),
            snmp_at=self.snmp_at if layer.snmp_at is None else (*self.snmp_at, layer.snmp_at),
            depth=depth,
        )

    def value(self, key: str, default: Any) -> Any:
        ranked = self.values.get(key)
        return default if ranked is None or ranked[0] is INVALID else ranked[0]


def most_specific(fields: Mapping[str, Ranked], *keys: str) -> Loc | None:
    """Where the most specific of ``keys`` was set (``None`` if all are defaults)."""
    present = [fields[key] for key in keys if key in fields]
    return max(present, key=lambda ranked: ranked[2])[1] if present else None


def build_icmp(eff: Stacked, problems: Problems) -> IcmpSettings | None:
    """The ICMP settings in force, or ``None`` where ICMP is switched off."""
    if not eff.icmp_on:
        return None
    values, complete = readers.usable(eff.icmp)
    settings = IcmpSettings(**values)
    # The prober's own bound: a ping that outlasts its interval makes every other round skipped.
    needed = longest_ping(settings.count, settings.spacing, settings.timeout)
    if complete and settings.interval < needed:
        loc = most_specific(eff.icmp, "interval", "count", "timeout", "spacing") or LOC
        step = "spacing" if settings.spacing >= ICMP_GRID else format_duration(ICMP_GRID)
        problems.add(
            loc,
            f"ICMP interval {format_duration(settings.interval)} is shorter than the longest "
            f"a ping can take, (count - 1) * {step} + timeout + {format_duration(2 * ICMP_GRID)} "
            f"= {format_duration(needed)}; raise interval or lower count, spacing or timeout",
        )
    return settings


def build_snmp(eff: Stacked, problems: Problems) -> SnmpSettings:
    """The SNMP settings in force for a device that polls SNMP."""
    flat, complete = readers.usable(eff.snmp)
    interfaces = InterfaceFilter(
        **{key[11:]: flat.pop(key) for key in list(flat) if key.startswith("interfaces.")}
    )
    settings = SnmpSettings(**flat, interfaces=interfaces)
    if complete:
        for loc, message in _snmp_problems(settings, eff):
            problems.add(loc, message)
    return settings


def _snmp_problems(s: SnmpSettings, eff: Stacked) -> list[tuple[Loc, str]]:
    fields = eff.snmp
    where = eff.snmp_at[0] if eff.snmp_at else LOC

    def at(*keys: str) -> Loc:
        return most_specific(fields, *keys) or where

    found: list[tuple[Loc, str]] = []
    needed = s.timeout * (s.retries + 1)
    if s.interval < needed:
        found.append(
            (
                at("interval", "timeout", "retries"),
                f"SNMP interval {format_duration(s.interval)} is shorter than "
                f"timeout * (retries + 1) = {format_duration(needed)}; "
                "raise interval or lower timeout or retries",
            )
        )
    if s.version in ("1", "2c"):
        if s.community is None:
            found.append(
                (at("version"), f"SNMP v{s.version} needs a community; set snmp.community")
            )
        return found
    if not s.user:
        found.append((at("version", "user"), "SNMP v3 needs a user; set snmp.user"))
    if s.auth_protocol and s.auth_password is None:
        found.append((at("auth_protocol"), "auth_protocol needs an auth_password"))
    if s.auth_password is not None and not s.auth_protocol:
        found.append((at("auth_password"), "auth_password needs an auth_protocol (e.g. sha)"))
    if s.priv_protocol and not s.auth_protocol:
        found.append(
            (at("priv_protocol"), "priv_protocol needs authentication too: set auth_protocol")
        )
    if s.priv_protocol and s.priv_password is None:
        found.append((at("priv_protocol"), "priv_protocol needs a priv_password"))
    if s.priv_password is not None and not s.priv_protocol:
        found.append((at("priv_password"), "priv_password needs a priv_protocol (e.g. aes)"))
    return found
