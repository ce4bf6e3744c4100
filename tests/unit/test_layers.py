"""The layer order of the package, as a contract: a module imports only from its own layer or
the layers below it, so a newcomer can read the package bottom-up and a change low down never
has to know about the daemon or the web pages.

    vocabulary (errors, models, instants, settings, ...)  <  configuration
      <  probes, state, topology  <  alerting, history  <  pipeline  <  exporters, web
      <  daemon, parts, once, demo  <  cli

``KNOWN`` lists the imports that break the order: none since issue 18, and it should stay empty.
The test fails on any import that breaks the order and is not in ``KNOWN``, and on an entry of
``KNOWN`` that no longer exists, so the list can only shrink.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "netwatch"
LAYERS: list[set[str]] = [
    {
        "netwatch",
        "errors",
        "models",
        "i18n",
        "logs",
        "limits",
        "systemd",
        "instants",
        "settings",
        "sqlite_thread",
    },
    {"configuration", "config", "inventory"},
    {"probes", "state", "topology", "polling", "scheduler", "traps", "traps_v3"},
    {"alerting", "history"},
    {"pipeline"},
    {"exporters", "web"},
    {"daemon", "parts", "once", "demo", "onboarding"},
    {"cli", "__main__"},
]
# (importing part, imported part): the order's known exceptions, to be removed. Empty: a new
# one is a design change to discuss, not an entry to add.
KNOWN: set[tuple[str, str]] = set()


def part(module: str) -> str:
    """``netwatch.probes.snmp`` -> ``probes``; the package itself -> ``netwatch``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "netwatch"


def imports() -> set[tuple[str, str, str]]:
    """(importing module, imported module, where) for every import of a netwatch module."""
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        package = module if rel.name == "__init__" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    names = [".".join([*base, *([node.module] if node.module else [])])]
                else:
                    names = [node.module or ""]
            else:
                continue
            for name in names:
                if name == "netwatch" or name.startswith("netwatch."):
                    found.add((module, name, f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"))
    return found


def layer_of(name: str) -> int:
    for level, parts in enumerate(LAYERS):
        if name in parts:
            return level
    raise AssertionError(f"netwatch/{name} is in no layer: add it to LAYERS in {__file__}")


def test_every_import_goes_down_the_layers_or_is_a_known_exception() -> None:
    broken = sorted(
        f"{where}: {importer} imports {imported}"
        for importer, imported, where in imports()
        if layer_of(part(importer)) < layer_of(part(imported))
        and (part(importer), part(imported)) not in KNOWN
    )
    assert broken == [], "\n".join(broken)


def test_every_known_exception_still_exists() -> None:
    """Fixed ones must leave ``KNOWN``, so the list cannot hide a new break later."""
    seen = {(part(a), part(b)) for a, b, _ in imports()}
    assert seen >= KNOWN, f"no longer imported, remove from KNOWN: {sorted(KNOWN - seen)}"


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {part(m) for m, _, _ in imports()} | {p.stem for p in PACKAGE.glob("*.py")}
    parts |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    parts.discard("__init__")
    for name in sorted(parts):
        layer_of(name)
