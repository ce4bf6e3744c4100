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
- aliases that expand to more values than :data:`ALIAS_FACTOR` times the file's own values
  (at least :data:`ALIAS_FLOOR`, at most :data:`MAX_ALIAS_NODES`).

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

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    ScalarEvent,
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


class LimitExceeded(Exception):
    """A file breaks one of the limits; ``line`` and ``column`` are 1-based."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(f"{line}:{column}: {message}")
        self.line = line
        self.column = column
        self.message = message


@dataclass
class Budget:
    """What one load (the main file and every include) may still read."""

    total_bytes: int = MAX_TOTAL_BYTES
    nodes: int = MAX_NODES

    def take_bytes(self, size: int) -> None:
        """Counts a file of ``size`` bytes; raises when it passes a limit."""
        self.check_size(size)
        self.total_bytes -= size

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


def scan(text: str, budget: Budget, loader: Any = None) -> tuple[int, int]:
    """Checks ``text`` against the limits without composing it; returns its own values and the
    values its aliases add. Raises ``LimitExceeded`` or the parser's ``yaml.YAMLError``."""
    loader = loader or getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    own = 0
    added = 0
    # Per open collection: [its anchor or None, values in it so far, its deepest child].
    stack: list[list[Any]] = []
    # Per anchor: (values it expands to, its depth), or _OPEN while its collection is read.
    anchors: dict[str, tuple[int, int]] = {}
    uses: list[tuple[int, Any, str]] = []  # (values added so far, mark, anchor) per alias
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, ScalarEvent | CollectionStartEvent):
            own += 1
            if own > budget.nodes:
                raise _at(
                    event.start_mark,
                    f"the configuration holds more than {MAX_NODES:,} values in all; "
                    "that is far more than any network needs",
                )
        if isinstance(event, ScalarEvent):
            if event.anchor is not None:
                anchors[event.anchor] = (1, 1)
            _add(stack, 1, 1)
        elif isinstance(event, CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise _at(event.start_mark, f"values nested more than {MAX_DEPTH} levels deep")
            if event.anchor is not None:
                anchors[event.anchor] = _OPEN
            stack.append([event.anchor, 1, 0])
        elif isinstance(event, CollectionEndEvent):
            anchor, size, child_depth = stack.pop()
            if anchor is not None:
                anchors[anchor] = (size, child_depth + 1)
            _add(stack, size, child_depth + 1)
        elif isinstance(event, AliasEvent):
            name = str(event.anchor)
            found = anchors.get(name)
            if found is None:
                continue  # the composer reports the undefined alias
            if found == _OPEN:
                raise _self_reference(name, event.start_mark, text)
            size, depth = found
            if len(stack) + depth > MAX_DEPTH:
                raise _at(
                    event.start_mark,
                    f"alias *{name} nests values more than {MAX_DEPTH} levels deep",
                )
            added += size
            uses.append((added, event.start_mark, name))
            if added > MAX_ALIAS_NODES:
                raise _at(
                    event.start_mark,
                    f"alias *{name} brings the values that aliases repeat to more than "
                    f"{MAX_ALIAS_NODES:,} (an alias or merge-key bomb?); write the values out "
                    "or reuse fewer aliases of aliases",
                )
            _add(stack, size, depth)
    allowed = max(ALIAS_FACTOR * own, ALIAS_FLOOR)
    if added > allowed:
        # The alias that passed the limit, now that the file's own size is known.
        added_then, mark, name = next(use for use in uses if use[0] > allowed)
        raise _too_many(name, mark, added_then, allowed, own)
    budget.nodes -= own
    return own, added


def _add(stack: list[list[Any]], size: int, depth: int) -> None:
    if stack:
        parent = stack[-1]
        parent[1] += size
        parent[2] = max(parent[2], depth)


def _at(mark: Any, message: str) -> LimitExceeded:
    return LimitExceeded(mark.line + 1, mark.column + 1, message)


def _self_reference(name: str, mark: Any, text: str) -> LimitExceeded:
    lines = text.split("\n", mark.line + 1)[: mark.line + 1]
    lines[-1] = lines[-1][: mark.column]
    anchored = _anchor_position("\n".join(lines), name)
    return _at(
        mark,
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


def _too_many(name: str, mark: Any, added: int, allowed: int, own: int) -> LimitExceeded:
    return _at(
        mark,
        f"alias *{name} brings the values that aliases repeat to {added:,}, more than the "
        f"{allowed:,} allowed for a file of {own:,} values (an alias or merge-key bomb?); "
        "write the values out or reuse fewer aliases of aliases",
    )


def _mib(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB"
