"""Device profiles: which vendor OIDs give a device's health, chosen by its sysObjectID.

The profiles are data (``profiles.yaml`` next to this module, plus the operator's own file
named by ``agent.profiles``), loaded once at startup and checked here: a bad file is a
:class:`~netwatch.errors.ConfigError` listing every problem with file, line and column.

A profile names the OIDs (numeric) of CPU load, memory, temperatures, fans, power supplies
and UPS state. An OID whose last arc is ``0`` is a scalar (read with one GET); any other is
a table column: its rows are found by one walk, then only the rows that matter are read with
the same GET on later polls (see :mod:`netwatch.probes.health`). A device gets the profile
whose ``match`` prefix of its sysObjectID is the longest; nothing matches: ``default``.
A profile's ``include`` adds the sources of other profiles after its own, and for CPU and
memory the first source that answers wins, so a vendor source listed before host-resources
is the one used.

>>> profiles = load_profiles()
>>> profiles.match("1.3.6.1.4.1.9.1.634").name
'cisco'
>>> profiles.match("1.3.6.1.4.1.99999.1").name
'default'
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from netwatch.errors import ConfigError, Problem

Oid = tuple[int, ...]

BUILTIN: Final = Path(__file__).with_name("profiles.yaml")
KINDS: Final = ("cpu", "memory", "temperature", "fan", "psu")
# UPS fields: name -> what the value becomes after ``scale`` (see health.UpsStatus).
UPS_FIELDS: Final = (
    "on_battery",  # boolean: ``true`` lists the raw values meaning "on battery"
    "seconds_on_battery",
    "charge",  # percent
    "runtime",  # seconds
    "battery_status",  # ``map`` of raw value -> normal | low | depleted | fault | unknown
    "replace_battery",  # boolean
    "battery_temperature",  # celsius
    "output_source",  # ``map`` of raw value -> a name (normal, battery, bypass...)
)
_SOURCE_KEYS: Final = (
    "value", "used", "free", "total", "percent", "buffers", "cached", "name", "label", "scale",
    "bytes", "ok", "absent", "skip_zero", "where", "entity_sensor", "comment",
)  # fmt: skip
_WHERE_KEYS: Final = ("column", "in", "nonzero", "match", "index")
_PROFILE_KEYS: Final = ("match", "include", "ups", "comment", *KINDS)
_UPS_KEYS: Final = ("oid", "scale", "true", "map")


@dataclass(frozen=True, slots=True)
class RowFilter:
    """Which rows of a table a source keeps (all conditions must hold)."""

    column: Oid | None = None  # the column the conditions below read (default: the value)
    values: tuple[int, ...] = ()  # its value is one of these
    nonzero: bool = False  # its value is not 0
    pattern: str | None = None  # its text matches this regex (search)
    index: tuple[int, ...] = ()  # the row index starts with these arcs


@dataclass(frozen=True, slots=True)
class Source:
    """One place a health value is read from; see profiles.yaml for the meaning of each key."""

    kind: str
    value: Oid | None = None
    used: Oid | None = None
    free: Oid | None = None
    total: Oid | None = None
    percent: Oid | None = None
    buffers: Oid | None = None  # memory: also free (Linux buffers and page cache)
    cached: Oid | None = None
    name: Oid | None = None
    label: str | None = None
    scale: float = 1.0
    bytes: float = 1.0
    ok: tuple[int, ...] = ()
    absent: tuple[int, ...] = ()
    skip_zero: bool = False
    where: RowFilter | None = None
    entity_sensor: int | None = None  # ENTITY-SENSOR-MIB entPhySensorType to read

    @property
    def live(self) -> tuple[tuple[str, Oid], ...]:
        """The value columns read on every poll, by role."""
        pairs = (
            ("value", self.value), ("used", self.used), ("free", self.free),
            ("total", self.total), ("percent", self.percent),
            ("buffers", self.buffers), ("cached", self.cached),
        )  # fmt: skip
        return tuple((role, oid) for role, oid in pairs if oid is not None)

    @property
    def scalar(self) -> bool:
        """Every OID is a scalar instance (``.0``): read with a GET, never walked."""
        return self.entity_sensor is None and all(oid[-1] == 0 for _role, oid in self.live)


@dataclass(frozen=True, slots=True)
class UpsField:
    oid: Oid
    scale: float = 1.0
    true: tuple[int, ...] = ()
    states: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Profile:
    """The health sources of one device family (includes resolved, own sources first)."""

    name: str
    match: tuple[Oid, ...]
    sources: tuple[Source, ...] = ()
    ups: Mapping[str, UpsField] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.sources and not self.ups


@dataclass(frozen=True, slots=True)
class ProfileSet:
    """Every profile, and the choice of one by sysObjectID."""

    profiles: Mapping[str, Profile]

    def match(self, sys_object_id: str) -> Profile:
        return _match(self, sys_object_id.strip().lstrip("."))

    def __hash__(self) -> int:
        return id(self)


@functools.lru_cache(maxsize=4096)
def _match(profiles: ProfileSet, sys_object_id: str) -> Profile:
    try:
        oid = tuple(int(arc) for arc in sys_object_id.split(".")) if sys_object_id else ()
    except ValueError:
        oid = ()
    best: Profile | None = None
    best_len = 0
    for profile in profiles.profiles.values():
        for prefix in profile.match:
            if oid[: len(prefix)] == prefix and len(prefix) > best_len:
                best, best_len = profile, len(prefix)
    return best or profiles.profiles.get("default") or Profile("default", ())


# --------------------------------------------------------------------------- loading


def load_profiles(extra: str | Path | None = None) -> ProfileSet:
    """The built-in profiles, with those of ``extra`` added (a profile of the same name in
    ``extra`` replaces the built-in one). Raises ``ConfigError`` with every problem found."""
    raw: dict[str, tuple[str, MappingNode]] = {}
    problems: list[Problem] = []
    for path in (BUILTIN, *([Path(extra)] if extra is not None else [])):
        _read(path, raw, problems)
    if problems:
        raise ConfigError(problems)
    parser = _Parser(raw)
    result = {name: parser.profile(name) for name in raw}
    if parser.problems:
        raise ConfigError(parser.problems)
    _match.cache_clear()
    return ProfileSet(result)


def _read(path: Path, raw: dict[str, tuple[str, MappingNode]], problems: list[Problem]) -> None:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(name, 1, 1, "", f"cannot read the profiles file: {exc}"))
        return
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        why = getattr(exc, "problem", None) or str(exc)
        problems.append(Problem(name, line, col, "", f"not valid YAML: {why}"))
        return
    if root is None:
        return
    profiles = _get(root, "profiles") if isinstance(root, MappingNode) else None
    if not isinstance(root, MappingNode) or profiles is None:
        problems.append(_problem(name, root, "", "expected a mapping with a 'profiles' key"))
        return
    if not isinstance(profiles, MappingNode):
        problems.append(_problem(name, profiles, "profiles", "expected a mapping of profiles"))
        return
    for key, node in profiles.value:
        if not isinstance(node, MappingNode):
            problems.append(_problem(name, node, f"profiles.{key.value}", "expected a mapping"))
            continue
        raw[str(key.value)] = (name, node)


def _get(node: MappingNode, key: str) -> Node | None:
    for k, v in node.value:
        if isinstance(k, ScalarNode) and k.value == key:
            found: Node = v
            return found
    return None


def _problem(file: str, node: Node, path: str, message: str) -> Problem:
    return Problem(file, node.start_mark.line + 1, node.start_mark.column + 1, path, message)


class _Parser:
    def __init__(self, raw: Mapping[str, tuple[str, MappingNode]]) -> None:
        self.raw = raw
        self.problems: list[Problem] = []
        self._file = ""
        self._done: dict[str, Profile] = {}
        self._stack: list[str] = []

    def report(self, node: Node, path: str, message: str) -> None:
        self.problems.append(_problem(self._file, node, path, message))

    def profile(self, name: str) -> Profile:
        if name in self._done:
            return self._done[name]
        file, node = self.raw[name]
        outer = self._file
        self._file = file
        self._stack.append(name)
        path = f"profiles.{name}"
        entries = self.mapping(node, path, _PROFILE_KEYS)
        match = tuple(
            oid
            for oid in (
                self.oid(item, f"{path}.match[{i}]", allow_zero=True)
                for i, item in enumerate(self.sequence(entries.get("match"), f"{path}.match"))
            )
            if oid is not None
        )
        sources: list[Source] = []
        for kind in KINDS:
            items = self.sequence(entries.get(kind), f"{path}.{kind}")
            for i, item in enumerate(items):
                source = self.source(kind, item, f"{path}.{kind}[{i}]")
                if source is not None:
                    sources.append(source)
        ups = self.ups(entries["ups"], f"{path}.ups") if "ups" in entries else {}
        for i, item in enumerate(self.sequence(entries.get("include"), f"{path}.include")):
            other = str(item.value) if isinstance(item, ScalarNode) else ""
            where = f"{path}.include[{i}]"
            if other not in self.raw:
                self.report(item, where, f"no profile named {other!r}")
            elif other in self._stack:
                self.report(item, where, f"profile {other!r} includes itself")
            else:
                included = self.profile(other)
                self._file = file
                sources.extend(included.sources)
                ups = {**included.ups, **ups}
        self._stack.pop()
        self._file = outer
        profile = self._done[name] = Profile(name, match, tuple(sources), ups)
        return profile

    def source(self, kind: str, node: Node, path: str) -> Source | None:
        entries = self.mapping(node, path, _SOURCE_KEYS)
        if not entries:
            return None
        fields: dict[str, object] = {"kind": kind}
        for key in ("value", "used", "free", "total", "percent", "buffers", "cached", "name"):
            if key in entries:
                fields[key] = self.oid(entries[key], f"{path}.{key}")
        for key in ("scale", "bytes"):
            if key in entries:
                fields[key] = self.number(entries[key], f"{path}.{key}")
        for key in ("ok", "absent"):
            if key in entries:
                fields[key] = self.integers(entries[key], f"{path}.{key}")
        if "label" in entries:
            fields["label"] = self.text(entries["label"], f"{path}.label")
        if "skip_zero" in entries:
            fields["skip_zero"] = self.boolean(entries["skip_zero"], f"{path}.skip_zero")
        if "entity_sensor" in entries:
            number = self.number(entries["entity_sensor"], f"{path}.entity_sensor")
            fields["entity_sensor"] = int(number) if number is not None else None
        if "where" in entries:
            fields["where"] = self.where(entries["where"], f"{path}.where")
        if any(value is None for value in fields.values()):
            return None  # reported already
        source = Source(**fields)  # type: ignore[arg-type]
        self.check_source(source, node, path)
        return source

    def check_source(self, source: Source, node: Node, path: str) -> None:
        kind = source.kind
        if source.entity_sensor is not None:
            if source.live:
                self.report(node, path, "entity_sensor reads its own columns: no value/used/...")
            return
        if kind == "memory":
            roles = {role for role, _oid in source.live}
            if (
                "value" in roles
                or (roles & {"buffers", "cached"} and "free" not in roles)
                or not ("percent" in roles or len(roles & {"used", "free", "total"}) >= 2)
            ):
                self.report(node, path, "memory needs percent, or two of used/free/total")
        elif source.value is None or len(source.live) != 1:
            self.report(node, path, f"{kind} needs 'value' (and none of used/free/total/percent)")
        if kind in ("fan", "psu") and not source.ok:
            self.report(node, path, f"{kind} needs 'ok': the status values that mean OK")
        if source.scalar and source.name is not None:
            self.report(node, path, "a scalar source is named by 'label', not a 'name' column")

    def where(self, node: Node, path: str) -> RowFilter | None:
        entries = self.mapping(node, path, _WHERE_KEYS)
        column = self.oid(entries["column"], f"{path}.column") if "column" in entries else None
        values = self.integers(entries["in"], f"{path}.in") if "in" in entries else ()
        nonzero = (
            self.boolean(entries["nonzero"], f"{path}.nonzero") if "nonzero" in entries else False
        )
        pattern = self.text(entries["match"], f"{path}.match") if "match" in entries else None
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                self.report(entries["match"], f"{path}.match", f"not a valid regex: {exc}")
                return None
        index = (
            self.oid(entries["index"], f"{path}.index", allow_zero=True)
            if "index" in entries
            else ()
        )
        if values is None or nonzero is None or index is None:
            return None
        return RowFilter(column, values, nonzero, pattern, index)

    def ups(self, node: Node, path: str) -> dict[str, UpsField]:
        result: dict[str, UpsField] = {}
        for key, spec in self.mapping(node, path, UPS_FIELDS).items():
            where = f"{path}.{key}"
            entries = self.mapping(spec, where, _UPS_KEYS)
            if "oid" not in entries:
                self.report(spec, where, "needs 'oid'")
                continue
            oid = self.oid(entries["oid"], f"{where}.oid")
            scale = self.number(entries["scale"], f"{where}.scale") if "scale" in entries else 1.0
            true = self.integers(entries["true"], f"{where}.true") if "true" in entries else ()
            states = self.states(entries["map"], f"{where}.map") if "map" in entries else {}
            if oid is None or scale is None or true is None or states is None:
                continue
            if oid[-1] != 0:
                self.report(entries["oid"], f"{where}.oid", "a UPS value is a scalar (ends in .0)")
                continue
            if key in ("on_battery", "replace_battery") and not true:
                self.report(spec, where, "needs 'true': the raw values that mean yes")
                continue
            if key in ("battery_status", "output_source") and not states:
                self.report(spec, where, "needs 'map': raw value -> state name")
                continue
            result[key] = UpsField(oid, scale, true, states)
        return result

    # ------------------------------------------------------------------ scalars

    def mapping(self, node: Node | None, path: str, keys: Iterable[str]) -> dict[str, Node]:
        if node is None:
            return {}
        if not isinstance(node, MappingNode):
            self.report(node, path, "expected a mapping")
            return {}
        allowed = tuple(keys)
        result: dict[str, Node] = {}
        for key, value in node.value:
            name = str(key.value)
            if name not in allowed:
                self.report(
                    key, f"{path}.{name}", f"unknown key (expected one of {', '.join(allowed)})"
                )
                continue
            result[name] = value
        return result

    def sequence(self, node: Node | None, path: str) -> list[Node]:
        if node is None:
            return []
        if not isinstance(node, SequenceNode):
            self.report(node, path, "expected a list")
            return []
        return list(node.value)

    def oid(self, node: Node, path: str, *, allow_zero: bool = False) -> Oid | None:
        text = str(node.value).strip().lstrip(".") if isinstance(node, ScalarNode) else ""
        if not re.fullmatch(r"\d+(\.\d+)*" if allow_zero else r"\d+(\.\d+)+", text):
            self.report(node, path, "expected a numeric OID such as 1.3.6.1.4.1.9.9.109")
            return None
        oid = tuple(int(arc) for arc in text.split("."))
        if not allow_zero and len(oid) < 4:
            self.report(node, path, "OID too short")
            return None
        return oid

    def number(self, node: Node, path: str) -> float | None:
        try:
            if isinstance(node, ScalarNode) and node.tag.endswith((":int", ":float")):
                return float(node.value)
        except ValueError:
            pass
        self.report(node, path, "expected a number")
        return None

    def integers(self, node: Node, path: str) -> tuple[int, ...] | None:
        items = self.sequence(node, path) if isinstance(node, SequenceNode) else [node]
        result = []
        for item in items:
            if not (isinstance(item, ScalarNode) and item.tag.endswith(":int")):
                self.report(item, path, "expected whole numbers")
                return None
            result.append(int(item.value, 0))
        return tuple(result)

    def boolean(self, node: Node, path: str) -> bool | None:
        if isinstance(node, ScalarNode) and node.tag.endswith(":bool"):
            return node.value.lower() in ("true", "yes", "on")
        self.report(node, path, "expected true or false")
        return None

    def text(self, node: Node, path: str) -> str | None:
        if isinstance(node, ScalarNode) and node.tag.endswith(":str") and node.value:
            return str(node.value)
        self.report(node, path, "expected text")
        return None

    def states(self, node: Node, path: str) -> dict[int, str] | None:
        if not isinstance(node, MappingNode):
            self.report(node, path, "expected a mapping of raw value -> state name")
            return None
        result: dict[int, str] = {}
        for key, value in node.value:
            if not (isinstance(key, ScalarNode) and key.tag.endswith(":int")):
                self.report(key, path, "state values are whole numbers")
                return None
            name = value.value if isinstance(value, ScalarNode) else None
            if not (isinstance(name, str) and value.tag.endswith(":str")) or not re.fullmatch(
                r"[a-z_]+", name
            ):
                self.report(value, f"{path}.{key.value}", "state names are lower_case words")
                return None
            result[int(key.value)] = name
        return result
