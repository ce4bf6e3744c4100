"""Limits that keep loading a configuration linear in the size of its files.

YAML can say a lot in a few bytes: aliases of aliases (``&a`` … ``[*a, *a, *a]``) and merge
keys (``<<: *a``) expand exponentially in what the checker has to read (a "billion laughs"),
an alias inside the value it names (``&a [*a]``) never ends, and deep nesting makes the
checker's recursion overflow. :func:`scan` walks the parser's event stream once, keeping only
a stack of open collections and the size of each anchor, and refuses a file before it is
composed into nodes:

- more than :data:`MAX_FILE_BYTES` in one file or :data:`MAX_TOTAL_BYTES` in all files of a
  load, or more than :data:`MAX_NODES` values in all of them;
- values nested deeper than :data:`MAX_DEPTH`, counting what aliases bring in;
- an alias used inside the value it refers to;
- aliases that, at any point in the file, have repeated more values than :data:`ALIAS_FACTOR`
  times the file's own values so far (at least :data:`ALIAS_FLOOR`, at most
  :data:`MAX_ALIAS_NODES`). An anchor comes before its aliases, so a file that reuses an
  anchor sensibly stays far below: 5,000 devices each with ``snmp: *std`` add a few values
  per device for the device's own few.

Each refusal is a :class:`LimitExceeded` at the 1-based line and column of the alias or value
that broke the limit.

>>> scan("a: &x [1, 2]\\nb: [*x, *x]\\n", Budget())
(7, 6)
>>> try:
...     scan("a: &x [*x]\\n", Budget())
... except LimitExceeded as exc:
...     print(exc.line, exc.column, exc.message)
1 8 alias *x is inside the value anchored &x at line 1, column 4: a value cannot contain itself
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import yaml
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_TOTAL_BYTES = 50 * 1024 * 1024
MAX_SECRET_BYTES = 64 * 1024
# About 300 bytes of memory per composed node: a million is ~300 MB, and 20 times what a
# 5,000-device province needs.
MAX_NODES = 1_000_000
MAX_DEPTH = 100
ALIAS_FACTOR = 10
ALIAS_FLOOR = 10_000
MAX_ALIAS_NODES = 1_000_000

# An anchor whose collection is still open: an alias to it would make the value contain itself.
_OPEN = (-1, -1)
_MAX_PATH_SHOWN = 60


class LimitExceeded(Exception):
    """A file breaks one of the limits; ``line`` and ``column`` are 1-based, ``path`` is the
    YAML path of the value ("" for the whole file)."""

    def __init__(self, line: int, column: int, message: str, path: str = "") -> None:
        super().__init__(f"{line}:{column}: {message}")
        self.line = line
        self.column = column
        self.message = message
        self.path = path


@dataclass
class Budget:
    """What one load (the main file and every include) may still read."""

    total_bytes: int = field(default_factory=lambda: MAX_TOTAL_BYTES)
    nodes: int = field(default_factory=lambda: MAX_NODES)

    def read(self, stream: BinaryIO) -> bytes:
        """The content of an open file, counted; raises when it passes a limit.

        A regular file is measured before it is read; anything else (a pipe, ``/dev/zero``)
        is read no further than the limit."""
        self.check_size(os.fstat(stream.fileno()).st_size)
        data = stream.read(MAX_FILE_BYTES + 1)
        self.check_size(len(data))
        self.total_bytes -= len(data)
        return data

    def check_size(self, size: int) -> None:
        """Raises when a file of ``size`` bytes would pass a limit."""
        if size > MAX_FILE_BYTES:
            raise LimitExceeded(
                1,
                1,
                f"the file is larger than the {_mib(MAX_FILE_BYTES)} allowed for "
                "one configuration file; split it into files joined with 'include:'",
            )
        if size > self.total_bytes:
            raise LimitExceeded(
                1,
                1,
                f"with this file ({size:,} bytes) the configuration files together pass the "
                f"{_mib(MAX_TOTAL_BYTES)} allowed for a configuration",
            )


class _Open:
    """A collection whose end the scan has not reached yet."""

    __slots__ = ("anchor", "children", "depth", "key", "mapping", "path", "size")

    def __init__(self, anchor: str | None, path: str, mapping: bool) -> None:
        self.anchor = anchor
        self.path = path
        self.mapping = mapping
        self.size = 1  # values in it, itself included, aliases expanded
        self.depth = 0  # depth of its deepest child
        self.children = 0  # keys and values read so far
        self.key = ""  # the last key of a mapping

    def child_path(self) -> str:
        """The YAML path of the next value in it, as the checker writes it."""
        if not self.mapping:
            return f"{self.path}[{self.children}]"
        if self.children % 2 == 0 or self.key == "<<":
            return self.path  # a key, or what `<<` merges into this mapping
        return f"{self.path}.{self.key}" if self.path else self.key

    def add(self, size: int, depth: int, key: str) -> None:
        if self.mapping and self.children % 2 == 0:
            self.key = key
        self.children += 1
        self.size += size
        self.depth = max(self.depth, depth)


def scan(text: str, budget: Budget, loader: Any = None) -> tuple[int, int]:
    """Checks ``text`` against the limits without composing it; returns its own values and the
    values its aliases add. Raises ``LimitExceeded`` or the parser's ``yaml.YAMLError``."""
    loader = loader or getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    own = 0
    added = 0
    stack: list[_Open] = []
    # Per anchor: (values it expands to, its depth), or _OPEN while its collection is read.
    anchors: dict[str, tuple[int, int]] = {}
    event: Any  # compared by exact type below, which is quicker than isinstance
    for event in yaml.parse(text, Loader=loader):
        kind = type(event)
        if kind is ScalarEvent:  # most events: kept cheap, the path is built only on error
            own += 1
            if own > budget.nodes:
                raise _too_many_values(event, stack)
            if event.anchor is not None:
                anchors[event.anchor] = (1, 1)
            if stack:
                stack[-1].add(1, 1, event.value)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            own += 1
            if own > budget.nodes:
                raise _too_many_values(event, stack)
            path = stack[-1].child_path() if stack else ""
            if len(stack) >= MAX_DEPTH:
                raise _at(
                    event.start_mark, path, f"values nested more than {MAX_DEPTH} levels deep"
                )
            if event.anchor is not None:
                anchors[event.anchor] = _OPEN
            stack.append(_Open(event.anchor, path, kind is MappingStartEvent))
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            done = stack.pop()
            if done.anchor is not None:
                anchors[done.anchor] = (done.size, done.depth + 1)
            if stack:
                stack[-1].add(done.size, done.depth + 1, "")
        elif kind is AliasEvent:
            path = stack[-1].child_path() if stack else ""
            added += _alias(event, str(event.anchor), anchors, stack, path, text, own, added)
    budget.nodes -= own
    return own, added


def _too_many_values(event: Any, stack: list[_Open]) -> LimitExceeded:
    return _at(
        event.start_mark,
        stack[-1].child_path() if stack else "",
        f"the configuration holds more than {MAX_NODES:,} values in all; "
        "that is far more than any network needs",
    )


def _alias(
    event: AliasEvent,
    name: str,
    anchors: dict[str, tuple[int, int]],
    stack: list[_Open],
    path: str,
    text: str,
    own: int,
    added: int,
) -> int:
    """The values that an alias repeats; raises when it breaks a limit."""
    found = anchors.get(name)
    if found is None:
        return 0  # the composer reports the undefined alias
    if found == _OPEN:
        raise _self_reference(name, event.start_mark, path, text)
    size, depth = found
    if len(stack) + depth > MAX_DEPTH:
        raise _at(
            event.start_mark, path, f"alias *{name} nests values more than {MAX_DEPTH} levels deep"
        )
    allowed = min(max(ALIAS_FACTOR * own, ALIAS_FLOOR), MAX_ALIAS_NODES)
    if added + size > allowed:
        raise _at(
            event.start_mark,
            path,
            f"alias *{name} brings the values that aliases repeat to {added + size:,}, more "
            f"than the {allowed:,} allowed after {own:,} values of the file's own (an alias "
            "or merge-key bomb?); write the values out or use fewer aliases",
        )
    if stack:
        stack[-1].add(size, depth, "")
    return size


def _at(mark: Any, path: str, message: str) -> LimitExceeded:
    if len(path) > _MAX_PATH_SHOWN:  # a hundred levels of [0] say nothing more than ten
        path = path[:_MAX_PATH_SHOWN] + "…"
    return LimitExceeded(mark.line + 1, mark.column + 1, message, path)


def _self_reference(name: str, mark: Any, path: str, text: str) -> LimitExceeded:
    lines = text.split("\n", mark.line + 1)[: mark.line + 1]
    lines[-1] = lines[-1][: mark.column]
    anchored = _anchor_position("\n".join(lines), name)
    return _at(
        mark,
        path,
        f"alias *{name} is inside the value anchored &{name}{anchored}: "
        "a value cannot contain itself",
    )


def _anchor_position(text: str, name: str) -> str:
    """Where ``&name`` was last written in ``text``, the file up to the alias."""
    at = text.rfind(f"&{name}")
    if at < 0:
        return ""
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    return f" at line {line}, column {column}"


def _mib(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB"
