"""YAML files as nodes that remember where they came from, and typed reads of those nodes.

The loader composes each file with libyaml (``CSafeLoader``) into ``yaml`` nodes, which keep
their start mark; nothing is turned into a plain dict, so every value can be traced back to its
``FILE:LINE:COL`` and YAML path. A :class:`Checker` reads one file's nodes into typed values; on
a mistake it records a :class:`~netwatch.errors.Problem` and returns ``None`` so the caller can
skip just what depends on that value and carry on.

>>> import yaml
>>> problems = Problems()
>>> node = yaml.compose("port: eighty\\n")
>>> check = Checker("a.yaml", problems, Secrets({}))
>>> entries = check.mapping(node, "", ("port",))
>>> check.integer(entries["port"], "port") is None, str(problems.items[0])
(True, "a.yaml:1:7: port: expected a whole number, got 'eighty'")
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from netwatch.errors import Problem, SecretError
from netwatch.models import Secret

from .limits import MAX_SECRET_BYTES
from .values import (
    DURATION_RANGE,
    MAX_COUNT,
    MAX_NUMBER_CHARS,
    check_id,
    parse_duration,
    shown,
)

_CONSTRUCTOR = SafeConstructor()

_TAG = "tag:yaml.org,2002:"
NULL, BOOL, INT, FLOAT, STR, MERGE = (
    _TAG + name for name in ("null", "bool", "int", "float", "str", "merge")
)
_INT_TEXT = re.compile(r"[+-]?\d+")
_MAX_SHOWN = 100


@dataclass(frozen=True, slots=True)
class Loc:
    """Where a value is: file, 1-based line and column, and its YAML path."""

    file: str
    line: int
    column: int
    path: str

    def where(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Problems:
    """Every problem found so far, each reported once."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self._seen: set[Problem] = set()

    def add(self, loc: Loc, message: str) -> None:
        self.record(Problem(loc.file, loc.line, loc.column, loc.path, message))

    def record(self, problem: Problem) -> None:
        # Settings inherited by thousands of devices would repeat one problem thousands of times.
        if problem not in self._seen:
            self._seen.add(problem)
            self.items.append(problem)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def describe(node: Node) -> str:
    """What a node holds, for 'expected X, got Y' messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == NULL:
        return "nothing"
    text = repr(node.value)
    if len(text) > _MAX_SHOWN:  # a megabyte of text in the wrong place is not echoed back
        return f"{text[: _MAX_SHOWN - 20]}… ({len(node.value):,} characters)"
    return text


SECRET_SOURCES = ("env", "file", "credential")
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"  # set by systemd for a unit with LoadCredential=
_CREDENTIAL_NAME = re.compile(r"[A-Za-z0-9_.@-]+")


class Secrets:
    """Reads ``{env: NAME}``, ``{file: PATH}`` and ``{credential: NAME}`` secrets; each file is
    read once.

    A credential is systemd's way to hand a service a secret: ``LoadCredential=NAME:PATH`` in
    the unit makes systemd (as root) copy PATH to ``$CREDENTIALS_DIRECTORY/NAME``, readable by
    the service alone, so the secret file itself can stay root-only.

    With ``read=False`` nothing is read and every secret is empty: for commands that never use
    one (``report``), so a planner's shell need not hold the agent's secrets."""

    def __init__(self, environ: Mapping[str, str], *, read: bool = True) -> None:
        self._environ = environ
        self._read_them = read
        self._files: dict[str, str | SecretError] = {}

    def env(self, name: str) -> Secret:
        if not self._read_them:
            return Secret(f"env:{name}", "")
        value = self._environ.get(name)
        if value is None:
            raise SecretError(f"environment variable {name} is not set; export it before starting")
        if not value:
            raise SecretError(f"environment variable {name} is empty")
        return Secret(f"env:{name}", value)

    def file(self, path: str) -> Secret:
        if not self._read_them:
            return Secret(f"file:{path}", "")
        cached = self._files.get(path)
        if cached is None:
            cached = self._files[path] = self._read(path)
        if isinstance(cached, SecretError):
            raise cached
        return Secret(f"file:{path}", cached)

    def credential(self, name: str) -> Secret:
        if not _CREDENTIAL_NAME.fullmatch(name) or name in (".", ".."):
            raise SecretError(
                f"invalid credential name {shown(name)!r}: letters, digits, '.', '_', '-' and '@'"
            )
        if not self._read_them:
            return Secret(f"credential:{name}", "")
        directory = self._environ.get(CREDENTIALS_ENV)
        if not directory:
            raise SecretError(
                f"credential {name}: ${CREDENTIALS_ENV} is not set; run netwatch under its "
                f"systemd unit with LoadCredential={name}:PATH, or set {CREDENTIALS_ENV} to the "
                "directory that holds the file"
            )
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            raise SecretError(
                f"credential {name} not found in ${CREDENTIALS_ENV} ({directory}); add "
                f"LoadCredential={name}:PATH to the unit"
            )
        secret = self.file(path)
        return Secret(f"credential:{name}", secret.reveal())

    @staticmethod
    def _read(path: str) -> str | SecretError:
        try:
            with open(path, "rb") as stream:
                # A secret is a line; a path to a huge file (or /dev/zero) is a mistake.
                data = stream.read(MAX_SECRET_BYTES + 1)
            text = data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
            return SecretError(f"cannot read secret file {path}: {reason}")
        if len(data) > MAX_SECRET_BYTES:
            return SecretError(f"secret file {path} is larger than {MAX_SECRET_BYTES // 1024} KiB")
        # Editors and `echo` add one newline; anything else is part of the secret.
        text = text.removesuffix("\n").removesuffix("\r")
        if not text:
            return SecretError(f"secret file {path} is empty")
        return text


class Checker:
    """Typed reads of the nodes of one YAML file; each mistake is recorded, never raised."""

    def __init__(self, file: str, problems: Problems, secrets: Secrets) -> None:
        self.file = file
        self.problems = problems
        self.secrets = secrets
        self.base_dir = os.path.dirname(file)

    # ------------------------------------------------------------------ locations

    def loc(self, node: Node, path: str) -> Loc:
        mark = node.start_mark
        return Loc(self.file, mark.line + 1, mark.column + 1, path)

    def report(self, node: Node, path: str, message: str) -> None:
        self.problems.add(self.loc(node, path), message)

    def wrong_type(self, node: Node, path: str, expected: str) -> None:
        self.report(node, path, f"expected {expected}, got {describe(node)}")

    # ------------------------------------------------------------------ containers

    def mapping(
        self,
        node: Node,
        path: str,
        allowed: Collection[str] | None,
        *,
        required: Sequence[str] = (),
    ) -> dict[str, Node] | None:
        """The known entries of a mapping; unknown, duplicate and missing keys are reported.

        ``allowed=None`` accepts any key (HTTP headers). An empty value (``snmp:``) reads as
        an empty mapping.
        """
        if node.tag == NULL:
            entries: dict[str, tuple[Node, Node]] = {}
        elif isinstance(node, MappingNode):
            entries = self._entries(node, path)
        else:
            self.wrong_type(node, path, "a mapping")
            return None
        result: dict[str, Node] = {}
        suggested: set[str] = set()
        for key, (key_node, value_node) in entries.items():
            if allowed is None or key in allowed:
                result[key] = value_node
            else:
                message, suggestion = unknown_key(key, allowed)
                self.report(key_node, join(path, key), message)
                suggested.add(suggestion)
        for key in required:
            # A misspelt required key is reported once, as the misspelling.
            if key not in result and key not in suggested:
                self.report(node, path, f"missing required key '{key}'")
        return result

    def _entries(self, node: MappingNode, path: str) -> dict[str, tuple[Node, Node]]:
        explicit: dict[str, tuple[Node, Node]] = {}
        merged: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE:
                # `<<: *anchor` copies keys the mapping does not set itself.
                for source in self._merge_sources(value_node, path):
                    for key, entry in self._entries(source, path).items():
                        merged.setdefault(key, entry)
                continue
            if not isinstance(key_node, ScalarNode):
                self.report(key_node, path, "a key must be a plain word, not a list or mapping")
                continue
            key = str(key_node.value)
            first = explicit.get(key)
            if first is not None:
                mark = first[0].start_mark
                where = f"line {mark.line + 1}, column {mark.column + 1}"
                self.report(key_node, join(path, key), f"duplicate key '{key}' (first at {where})")
                continue
            explicit[key] = (key_node, value_node)
        return {**merged, **explicit}

    def _merge_sources(self, node: Node, path: str) -> list[MappingNode]:
        items = node.value if isinstance(node, SequenceNode) else [node]
        sources = [item for item in items if isinstance(item, MappingNode)]
        if len(sources) != len(items):
            self.report(node, path, "'<<' must merge a mapping or a list of mappings")
        return sources

    def sequence(self, node: Node, path: str) -> list[Node] | None:
        """The items of a list; an empty value reads as an empty list."""
        if node.tag == NULL:
            return []
        if not isinstance(node, SequenceNode):
            self.wrong_type(node, path, "a list")
            return None
        items: list[Node] = node.value
        return items

    # ------------------------------------------------------------------ scalars

    def text(self, node: Node, path: str) -> str | None:
        """A scalar as written: `chat_id: -100123` and `version: 3` read as their text."""
        if isinstance(node, ScalarNode) and node.tag != NULL:
            return str(node.value)
        self.wrong_type(node, path, "a string")
        return None

    def texts(self, node: Node, path: str) -> list[tuple[str, Node]] | None:
        """A list of strings; a single string counts as a list of one."""
        if isinstance(node, ScalarNode) and node.tag != NULL:
            return [(str(node.value), node)]
        items = self.sequence(node, path)
        if items is None:
            return None
        result = []
        for i, item in enumerate(items):
            value = self.text(item, index(path, i))
            if value is not None:
                result.append((value, item))
        return result

    def integer(
        self, node: Node, path: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        """A whole number within ``minimum`` and ``maximum`` (at most ``MAX_COUNT`` when no
        maximum is given: every count is bounded)."""
        value: int | None = None
        if isinstance(node, ScalarNode) and node.tag in (INT, STR):
            text = str(node.value).strip()
            if node.tag == INT or _INT_TEXT.fullmatch(text):
                if len(text) > MAX_NUMBER_CHARS:
                    # Not converted: Python refuses over 4,300 digits, and it is wrong anyway.
                    ceiling = MAX_COUNT if maximum is None else maximum
                    self.report(
                        node, path, f"number {shown(text)} is out of range: at most {ceiling}"
                    )
                    return None
                value = int(_CONSTRUCTOR.construct_yaml_int(node)) if node.tag == INT else int(text)
        if value is None:
            self.wrong_type(node, path, "a whole number")
            return None
        return self._in_range(node, path, value, minimum, maximum)

    def _in_range(
        self, node: Node, path: str, value: int, minimum: int | None, maximum: int | None
    ) -> int | None:
        if minimum is not None and maximum is not None and not minimum <= value <= maximum:
            self.report(node, path, f"must be from {minimum} to {maximum}, got {value}")
            return None
        if minimum is not None and value < minimum:
            self.report(node, path, f"must be at least {minimum}, got {value}")
            return None
        ceiling = MAX_COUNT if maximum is None else maximum
        if value > ceiling:
            self.report(node, path, f"must be at most {ceiling}, got {value}")
            return None
        return value

    def boolean(self, node: Node, path: str) -> bool | None:
        if isinstance(node, ScalarNode) and node.tag == BOOL:
            return bool(_CONSTRUCTOR.construct_yaml_bool(node))
        self.wrong_type(node, path, "true or false")
        return None

    def duration(self, node: Node, path: str, *, allow_zero: bool = False) -> float | None:
        """Seconds from ``30s``, ``5m``, ``500ms`` or a plain number of seconds."""
        if not isinstance(node, ScalarNode) or node.tag in (NULL, BOOL):
            self.wrong_type(node, path, "a duration such as 30s, 5m or 1h")
            return None
        raw: str | int | float = node.value
        if node.tag in (INT, FLOAT) and len(node.value) > MAX_NUMBER_CHARS:
            self.report(
                node, path, f"duration {shown(node.value)} is out of range: {DURATION_RANGE}"
            )
            return None
        if node.tag == INT:
            raw = int(_CONSTRUCTOR.construct_yaml_int(node))
        elif node.tag == FLOAT:
            raw = float(_CONSTRUCTOR.construct_yaml_float(node))
        try:
            seconds = parse_duration(raw)
        except ValueError as exc:
            self.report(node, path, str(exc))
            return None
        if seconds == 0 and not allow_zero:
            self.report(node, path, "must be longer than 0")
            return None
        return seconds

    def choice(self, node: Node, path: str, options: Sequence[str]) -> str | None:
        """One of ``options``, compared without regard to case."""
        value = self.text(node, path)
        if value is None:
            return None
        if value.lower() in options:
            return value.lower()
        self.report(node, path, f"invalid value {value!r}; expected one of: {', '.join(options)}")
        return None

    def ident(self, node: Node, path: str) -> str | None:
        value = self.text(node, path)
        return None if value is None else self.valid(node, path, value, check_id)

    def valid(self, node: Node, path: str, value: str, check: Any) -> str | None:
        """``value`` if ``check(value)`` accepts it, else the check's message as a problem."""
        try:
            check(value)
        except ValueError as exc:
            self.report(node, path, str(exc))
            return None
        return value

    def local_file(self, node: Node, path: str) -> str | None:
        """A path to a readable file (e.g. a CA bundle), relative to this config file.

        Checked now so a typo fails at load time, not at the first TLS handshake.
        """
        text = self.text(node, path)
        if text is None:
            return None
        full = os.path.normpath(os.path.join(self.base_dir, text))
        if not os.path.isfile(full) or not os.access(full, os.R_OK):
            self.report(node, path, f"cannot read file {full}: no such readable file")
            return None
        return full

    # ------------------------------------------------------------------ secrets

    def secret(self, node: Node, path: str, *, inline_ok: bool = False) -> Secret | None:
        """``{env: NAME}``, ``{file: PATH}`` (relative to this file) or ``{credential: NAME}``
        (systemd's ``LoadCredential=``); a problem names the variable or file, never a value."""
        if isinstance(node, ScalarNode) and node.tag != NULL and inline_ok:
            return Secret("inline", str(node.value))
        if not isinstance(node, MappingNode):
            # Never echo the value: it may be the very secret written inline by mistake.
            if isinstance(node, ScalarNode) and node.tag != NULL:
                message = "write this secret as {env: NAME} or {file: PATH}, never inline"
            else:
                kind = "a list" if isinstance(node, SequenceNode) else "nothing"
                message = f"expected {{env: NAME}} or {{file: PATH}}, got {kind}"
            self.report(node, path, message)
            return None
        entries = self.mapping(node, path, SECRET_SOURCES)
        if entries is None:
            return None
        if len(entries) != 1:
            self.report(node, path, "a secret needs exactly one of 'env', 'file' or 'credential'")
            return None
        kind, value_node = next(iter(entries.items()))
        name = self.text(value_node, join(path, kind))
        if name is None:
            return None
        try:
            if kind == "env":
                return self.secrets.env(name)
            if kind == "credential":
                return self.secrets.credential(name)
            return self.secrets.file(os.path.normpath(os.path.join(self.base_dir, name)))
        except SecretError as exc:
            self.report(value_node, join(path, kind), str(exc))
            return None


def unknown_key(key: str, allowed: Collection[str]) -> tuple[str, str]:
    """The message for an unknown key, and the known key it most likely meant ("" if none)."""
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    if close:
        return f"unknown key '{key}'; did you mean '{close[0]}'?", close[0]
    return f"unknown key '{key}'; expected one of: {', '.join(sorted(allowed))}", ""
