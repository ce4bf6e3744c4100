"""The ``traps`` section: the SNMP trap receiver (see ``netwatch.traps``).

Left out, there is no receiver. Written, it needs at least one community or SNMPv3 user;
each community and password is a secret (``{env: NAME}`` or ``{file: PATH}``); ``listen``
defaults to ``0.0.0.0:162``. A user (``users:``) has a ``name`` and the protocol and password
keys of a device's ``snmp`` settings, read and checked by the same readers.

>>> import yaml
>>> from .source import Problems, Secrets
>>> check = Checker("x.yaml", Problems(), Secrets({"C": "s3cret"}))
>>> node = yaml.compose("{listen: '127.0.0.1:1162', communities: [{env: C}]}")
>>> parse_traps(check, node, "traps").listen
'127.0.0.1:1162'
"""

from __future__ import annotations

from yaml.nodes import Node

from netwatch.models import Secret, TrapSettings, TrapUser

from . import readers
from .settings import _SNMP_READERS
from .source import Checker, index, join
from .values import parse_listen

TRAP_KEYS = ("listen", "communities", "users")
USER_KEYS = ("name", "auth_protocol", "auth_password", "priv_protocol", "priv_password")


def parse_traps(check: Checker, node: Node, path: str) -> TrapSettings | None:
    """The section, or ``None`` when it cannot be used (its problems are reported)."""
    entries = check.mapping(node, path, TRAP_KEYS)
    if entries is None:
        return None
    listen: str | None = TrapSettings().listen
    if "listen" in entries:
        listen = readers.checked(parse_listen)(check, entries["listen"], join(path, "listen"))
    if "communities" not in entries and "users" not in entries:
        check.report(node, path, "list at least one community or SNMPv3 user (users:)")
        return None
    ok = True
    communities: list[Secret] = []
    if "communities" in entries:
        communities_path = join(path, "communities")
        items = check.sequence(entries["communities"], communities_path)
        if items is None:
            return None
        if not items and "users" not in entries:
            check.report(entries["communities"], communities_path, "list at least one community")
            return None
        for n, item in enumerate(items):
            secret = check.secret(item, index(communities_path, n))
            if secret is not None:
                communities.append(secret)
        ok = len(communities) == len(items)
    users: list[TrapUser] = []
    if "users" in entries:
        users_path = join(path, "users")
        items = check.sequence(entries["users"], users_path) or []
        for n, item in enumerate(items):
            user = _user(check, item, index(users_path, n))
            if user is None:
                ok = False
            elif any(u.name == user.name for u in users):
                check.report(item, index(users_path, n), f"user {user.name!r} listed twice")
                ok = False
            else:
                users.append(user)
    if not ok or listen is None:
        return None
    return TrapSettings(listen=listen, communities=tuple(communities), users=tuple(users))


def _user(check: Checker, node: Node, path: str) -> TrapUser | None:
    """One ``users`` item; the protocol/password pairing checked as for a device."""
    entries = check.mapping(node, path, USER_KEYS, required=("name",))
    if entries is None or "name" not in entries:
        return None
    name = readers.text(check, entries["name"], join(path, "name"))
    values: dict[str, object] = {}
    for key in USER_KEYS[1:]:
        if key in entries:
            values[key] = _SNMP_READERS[key](check, entries[key], join(path, key))
    if None in values.values():  # each bad value reported by its reader
        return None
    problems = [
        (k, f"{k} needs {other}")
        for k, other in (
            ("auth_protocol", "an auth_password"),
            ("auth_password", "an auth_protocol (e.g. sha256)"),
            ("priv_protocol", "a priv_password"),
            ("priv_password", "a priv_protocol (e.g. aes)"),
        )
        if k in values and _pair(k) not in values
    ]
    if "priv_protocol" in values and "auth_protocol" not in values:
        problems.append(("priv_protocol", "priv_protocol needs authentication: set auth_protocol"))
    for key, message in problems:
        check.report(entries[key], join(path, key), message)
    if problems or not name:
        return None
    return TrapUser(
        name=name,
        auth_protocol=_str(values.get("auth_protocol")),
        auth_password=_secret(values.get("auth_password")),
        priv_protocol=_str(values.get("priv_protocol")),
        priv_password=_secret(values.get("priv_password")),
    )


def _pair(key: str) -> str:
    kind, what = key.split("_")
    return f"{kind}_{'password' if what == 'protocol' else 'protocol'}"


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _secret(value: object) -> Secret | None:
    return value if isinstance(value, Secret) else None
