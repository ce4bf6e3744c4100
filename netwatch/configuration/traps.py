"""The ``traps`` section: the SNMP trap receiver (see ``netwatch.traps``).

Left out, there is no receiver. Written, it needs at least one community, each a secret
(``{env: NAME}`` or ``{file: PATH}``); ``listen`` defaults to ``0.0.0.0:162``.

>>> import yaml
>>> from .source import Problems, Secrets
>>> check = Checker("x.yaml", Problems(), Secrets({"C": "s3cret"}))
>>> node = yaml.compose("{listen: '127.0.0.1:1162', communities: [{env: C}]}")
>>> parse_traps(check, node, "traps").listen
'127.0.0.1:1162'
"""

from __future__ import annotations

from yaml.nodes import Node

from netwatch.models import Secret, TrapSettings

from . import readers
from .source import Checker, index, join
from .values import parse_listen

TRAP_KEYS = ("listen", "communities")


def parse_traps(check: Checker, node: Node, path: str) -> TrapSettings | None:
    """The section, or ``None`` when it cannot be used (its problems are reported)."""
    entries = check.mapping(node, path, TRAP_KEYS, required=("communities",))
    if entries is None:
        return None
    listen: str | None = TrapSettings().listen
    if "listen" in entries:
        listen = readers.checked(parse_listen)(check, entries["listen"], join(path, "listen"))
    if "communities" not in entries:
        return None
    communities_path = join(path, "communities")
    items = check.sequence(entries["communities"], communities_path)
    if items is None:
        return None
    if not items:
        check.report(entries["communities"], communities_path, "list at least one community")
        return None
    communities: list[Secret] = []
    for n, item in enumerate(items):
        secret = check.secret(item, index(communities_path, n))
        if secret is not None:
            communities.append(secret)
    if len(communities) != len(items) or listen is None:
        return None
    return TrapSettings(listen=listen, communities=tuple(communities))
