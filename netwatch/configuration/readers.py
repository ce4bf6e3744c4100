"""Small typed readers of YAML values, shared by the parts of the configuration.

A reader takes ``(check, node, path)`` and returns the value, or ``None`` after reporting a
problem; :func:`read_fields` applies a table of them to a mapping's entries.

>>> import yaml
>>> from .source import Problems, Secrets
>>> check = Checker("x.yaml", Problems(), Secrets({}))
>>> fields = read_fields(check, {"t": yaml.compose("30s")}, "icmp", {"t": duration})
>>> fields["t"][0], fields["t"][1].path
(30.0, 'icmp.t')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from yaml.nodes import Node

from .source import Checker, Loc, join

# A value read from the file and where it was written; Ranked adds how deep in the
# defaults -> site -> ... -> device chain it was written (deeper = more specific).
Field = tuple[Any, Loc]
Ranked = tuple[Any, Loc, int]
Reader = Callable[[Checker, Node, str], Any]


def duration(check: Checker, node: Node, path: str) -> float | None:
    return check.duration(node, path)


def duration_or_zero(check: Checker, node: Node, path: str) -> float | None:
    return check.duration(node, path, allow_zero=True)


def positive(check: Checker, node: Node, path: str) -> int | None:
    return check.integer(node, path, minimum=1)


def non_negative(check: Checker, node: Node, path: str) -> int | None:
    return check.integer(node, path, minimum=0)


def port(check: Checker, node: Node, path: str) -> int | None:
    return check.integer(node, path, minimum=1, maximum=65535)


def text(check: Checker, node: Node, path: str) -> str | None:
    return check.text(node, path)


def boolean(check: Checker, node: Node, path: str) -> bool | None:
    return check.boolean(node, path)


def choice(*options: str) -> Reader:
    return lambda check, node, path: check.choice(node, path, options)


def secret(check: Checker, node: Node, path: str) -> Any:
    return check.secret(node, path)


class _Invalid:
    """Stands for a setting that was written but could not be read (already reported)."""

    def __repr__(self) -> str:
        return "INVALID"


# Kept in layers so a broken setting still overrides what it would inherit, and so checks
# that combine it with other keys are skipped instead of reporting a consequence of it.
INVALID: Any = _Invalid()


def read_fields(
    check: Checker,
    entries: Mapping[str, Node],
    path: str,
    readers: Mapping[str, Reader],
    *,
    keep_invalid: bool = False,
) -> dict[str, Field]:
    """Each entry read by its reader; entries that fail (already reported) are left out, or
    kept as ``INVALID`` with ``keep_invalid``."""
    fields: dict[str, Field] = {}
    for key, node in entries.items():
        reader = readers.get(key)
        if reader is None:
            continue
        key_path = join(path, key)
        value = reader(check, node, key_path)
        if value is not None or keep_invalid:
            fields[key] = (INVALID if value is None else value, check.loc(node, key_path))
    return fields


def usable(fields: Mapping[str, Ranked]) -> tuple[dict[str, Any], bool]:
    """The readable values of ``fields``, and whether all of them were readable."""
    values = {key: value for key, (value, _, _) in fields.items() if value is not INVALID}
    return values, len(values) == len(fields)


def checked(validate: Callable[[str], Any]) -> Reader:
    """A reader of a string that ``validate`` accepts (it raises ``ValueError`` otherwise)."""

    def read(check: Checker, node: Node, path: str) -> str | None:
        text = check.text(node, path)
        return None if text is None else check.valid(node, path, text, validate)

    return read
