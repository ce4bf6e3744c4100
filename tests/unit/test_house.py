"""The house rules of ``netwatch/``, as a contract (issue 18): a newcomer reads a module in one
sitting, a function on one screen, a class by its few methods, and the package without cycles.

- no module over ``MAX_MODULE_LINES`` lines;
- no function over ``MAX_FUNCTION_LINES`` lines unless its docstring says why, with the words
  "long because" (a flat table, one linear protocol exchange, ...);
- no class over ``MAX_METHODS`` methods;
- no import cycle between netwatch's modules (imports under ``if TYPE_CHECKING:`` aside: they
  never run).

``KNOWN`` lists what still breaks a rule: none since issue 18, and it should stay empty. Like the
layer contract's, it can only shrink: the test fails on a new breach and on an entry that no
longer breaks the rule.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "netwatch"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
MAX_METHODS = 20
# "module", "module:function" or "module:Class" (module relative to netwatch/, with .py). Empty:
# a new entry is a design change to discuss, not a line to add.
KNOWN: set[str] = set()


def modules() -> Iterator[tuple[str, ast.Module, int]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(text), text.count("\n")


def breaches() -> set[str]:
    found = set()
    for name, tree, lines in modules():
        if lines > MAX_MODULE_LINES:
            found.add(name)
        found |= _long_functions(name, tree.body, "")
    return found


def _long_functions(module: str, body: list[ast.stmt], prefix: str) -> set[str]:
    found = set()
    for node in body:
        if isinstance(node, ast.ClassDef):
            methods = [
                n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
            if len(methods) > MAX_METHODS:
                found.add(f"{module}:{prefix}{node.name}")
            found |= _long_functions(module, node.body, f"{prefix}{node.name}.")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            said = "long because" in (ast.get_docstring(node) or "").lower()
            if length > MAX_FUNCTION_LINES and not said:
                found.add(f"{module}:{prefix}{node.name}")
            found |= _long_functions(module, node.body, f"{prefix}{node.name}.")
    return found


def test_modules_functions_and_classes_keep_to_their_size_or_are_known() -> None:
    found = breaches()
    assert sorted(found - KNOWN) == [], "over the house limits (split it, see the docstring)"
    assert sorted(KNOWN - found) == [], "no longer over the limits: remove from KNOWN"


def dotted(name: str) -> tuple[str, bool]:
    """``probes/snmp.py`` -> (``netwatch.probes.snmp``, False); ``probes/__init__.py`` ->
    (``netwatch.probes``, True): the module's name and whether it is a package."""
    parts = ["netwatch", *name.removesuffix(".py").split("/")]
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def imports_of(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The netwatch modules the module ``name`` (as ``dotted`` gives it) imports when it runs
    (not under TYPE_CHECKING)."""
    module, is_package = dotted(name)
    package = module if is_package else module.rpartition(".")[0]
    typing_only = {
        id(sub)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for stmt in node.body
        for sub in ast.walk(stmt)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            found |= {
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            }
    return {m for m in found if m in known and m != module}


def test_no_import_cycle() -> None:
    trees = {name: tree for name, tree, _ in modules()}
    known = {dotted(name)[0] for name in trees}
    graph = {dotted(name)[0]: imports_of(name, tree, known) for name, tree in trees.items()}
    done: set[str] = set()

    def cycle_from(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph[module]):
            found = cycle_from(imported, [*path, module])
            if found:
                return found
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = cycle_from(module, [])
        assert cycle is None, " -> ".join(cycle or [])
