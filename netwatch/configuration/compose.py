"""One configuration file read into YAML nodes, and the problem to report when it cannot be.

:func:`compose_file` reads a file within the load's :class:`~.limits.Budget`, scans it
against the limits before anything is built, and composes it with libyaml; what it raises
(a file that is too large, not UTF-8, not YAML, or hostile) becomes one
:class:`~netwatch.errors.Problem` at its position through :func:`read_problem`. A tab in a
line's indentation is named as such rather than in libyaml's words.

>>> import yaml
>>> str(read_problem("a.yaml", yaml.MarkedYAMLError(problem="oops", problem_mark=None)))
'a.yaml:1:1: YAML syntax error: oops'
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import Node

from netwatch.errors import Problem

from .limits import Budget, LimitExceeded, scan

# libyaml does the parsing in C: about ten times faster than the pure-Python composer, which
# matters for a province of several thousand devices.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

TAB_MESSAGE = "tab character in indentation; YAML needs spaces"


def compose_file(path: str, budget: Budget) -> Node | None:
    """The root node of a YAML file (``None`` when empty), within the limits of ``budget``.

    Raises ``OSError``, ``UnicodeDecodeError``, ``yaml.MarkedYAMLError`` or ``LimitExceeded``
    (before anything is composed: see ``limits``).
    """
    with open(path, "rb") as stream:
        data = budget.read(stream)
    text = data.decode("utf-8")
    try:
        scan(text, budget, _LOADER)
        root: Node | None = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        tab = _indentation_tab(text, exc.problem_mark)
        if tab is not None:
            raise TabInIndentation(tab) from exc
        raise
    return root


class TabInIndentation(yaml.MarkedYAMLError):
    """A syntax error caused by a tab in a line's indentation, which YAML forbids; libyaml
    words it as "found character that cannot start any token"."""

    def __init__(self, mark: yaml.Mark) -> None:
        super().__init__(problem=TAB_MESSAGE, problem_mark=mark)


def _indentation_tab(text: str, mark: yaml.Mark | None) -> yaml.Mark | None:
    """Where the tab is in the indentation of the line the parser stopped at, if there is one."""
    if mark is None:
        return None
    lines = text.split("\n")
    if mark.line >= len(lines):
        return None
    line = lines[mark.line]
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    column = indent.find("\t")
    if column < 0:
        return None
    return yaml.Mark("", 0, mark.line, column, None, 0)


def read_problem(path: str, exc: UnicodeDecodeError | yaml.YAMLError | LimitExceeded) -> Problem:
    """What :func:`compose_file` raised (other than ``OSError``) as a Problem at its position."""
    if isinstance(exc, LimitExceeded):  # a broken limit (size, nesting, aliases)
        return Problem(path, exc.line, exc.column, exc.path, exc.message)
    if isinstance(exc, UnicodeDecodeError):
        return Problem(path, 1, 1, "", "the file is not UTF-8 text")
    return _syntax_problem(path, exc)


def _syntax_problem(path: str, exc: yaml.YAMLError) -> Problem:
    """A YAML syntax error as a Problem at the position the parser reports."""
    if isinstance(exc, TabInIndentation) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return Problem(path, mark.line + 1, mark.column + 1, "", TAB_MESSAGE)
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        detail = exc.problem or "invalid YAML"
        if exc.context:
            detail = f"{exc.context}: {detail}"
        return Problem(path, mark.line + 1, mark.column + 1, "", f"YAML syntax error: {detail}")
    return Problem(path, 1, 1, "", f"YAML syntax error: {exc}")
