"""``up_checks``: which of a device's checks decide that it is up, per role.

Written as a list (``up_checks: [snmp]``, for every role) or as a mapping from role to list
(``up_checks: {server: [icmp, snmp], workstation: [icmp]}``). It is inherited like the other
settings, role by role: a mapping on a site changes only the roles it names, a list changes all
of them. Each role's choice is kept in the layer as ``up_checks.<role>`` so the usual stacking
(defaults -> site -> device) applies unchanged.

Only ``icmp`` and ``snmp`` may decide: a service failing means the application is down, not the
machine. A device whose (explicit) ``up_checks`` names only checks it does not have could never
be up, so it is an error.

>>> import yaml
>>> from .source import Checker, Problems, Secrets
>>> check = Checker("x.yaml", Problems(), Secrets({}))
>>> read = parse_up_checks(check, yaml.compose("{server: [snmp]}"), "up_checks")
>>> read["up_checks.server"][0], "up_checks.router" in read
(('snmp',), False)
"""

from __future__ import annotations

from collections.abc import Mapping

from yaml.nodes import MappingNode, Node, SequenceNode

from netwatch.models import UP_CHECKS, Role

from .readers import INVALID, Field, Ranked
from .source import Checker, Loc, Problems, join

CHOICES = ("icmp", "snmp")
ROLES = tuple(role.value for role in Role)
PREFIX = "up_checks."


def parse_up_checks(check: Checker, node: Node, path: str) -> dict[str, Field]:
    """``up_checks.<role>`` -> the checks, for every role the value covers.

    A value that cannot be read is kept as ``INVALID`` for the roles it covers, so it still
    overrides what is inherited and no consequence of it is reported at the devices.
    """
    if not isinstance(node, MappingNode):
        checks = _checks(check, node, path)
        return {PREFIX + role: (checks or INVALID, check.loc(node, path)) for role in ROLES}
    entries = check.mapping(node, path, ROLES)
    if entries is None:  # pragma: no cover - a MappingNode always reads as a mapping
        return {}
    if not entries:
        check.report(node, path, "up_checks needs a list, or a mapping of role to list")
    fields: dict[str, Field] = {}
    for role, value_node in entries.items():
        role_path = join(path, role)
        checks = _checks(check, value_node, role_path)
        fields[PREFIX + role] = (checks or INVALID, check.loc(value_node, role_path))
    return fields


def _checks(check: Checker, node: Node, path: str) -> tuple[str, ...] | None:
    items = check.texts(node, path)
    if items is None:
        return None
    names: list[str] = []
    good = True
    for name, item in items:
        if name.lower() not in CHOICES:
            good = False
            check.report(
                item,
                path,
                f"unknown check {name!r} in up_checks; expected icmp or snmp "
                "(a service failing does not make the machine down)",
            )
        elif name.lower() not in names:
            names.append(name.lower())
    if not items:
        # A list of non-strings was already reported item by item.
        if not (isinstance(node, SequenceNode) and node.value):
            check.report(node, path, "up_checks needs at least one of: icmp, snmp")
        return None
    return tuple(names) if good else None


def resolve_up_checks(
    values: Mapping[str, Ranked], role: Role, has: set[str], problems: Problems, device: Loc
) -> tuple[str, ...]:
    """The up checks of a device of ``role`` that has the checks in ``has``.

    ``values`` are the device's stacked settings; ``device`` is where the device is written.
    Reports the device when an ``up_checks`` written on it or above it names none of its checks.
    A device with neither ICMP nor SNMP is exempt: nothing could decide for it, and switching
    both off is how a device is left unwatched.
    """
    ranked = values.get(PREFIX + role.value)
    if ranked is None or ranked[0] is INVALID:
        return UP_CHECKS
    checks: tuple[str, ...] = ranked[0]
    loc = ranked[1]
    if has and not has.intersection(checks):
        written = "[" + ", ".join(checks) + "]"
        own = "[" + ", ".join(c for c in CHOICES if c in has) + "]"
        fixes = " or ".join(_FIX[c] for c in checks)
        if loc.path.startswith(device.path + "."):
            problems.add(
                loc,
                f"up_checks {written} names no check this device has (it has {own}); "
                f"{fixes}, or write up_checks: {own}",
            )
        else:
            problems.add(
                device,
                f"up_checks {written} for role {role.value} (from {loc.path} at {loc.where()}) "
                f"names no check this device has (it has {own}); {fixes}, "
                f"or set up_checks: {own} on the device",
            )
    return checks


_FIX = {"snmp": "give it 'snmp: {}'", "icmp": "remove its 'icmp: false'"}
