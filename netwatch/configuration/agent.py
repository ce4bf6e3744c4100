"""The ``agent`` section and the ``contacts``.

>>> import yaml
>>> from .source import Problems, Secrets
>>> check = Checker("x.yaml", Problems(), Secrets({}))
>>> parse_agent(check, yaml.compose("{language: en, listen: '[::1]:9431'}"), "agent").listen
'[::1]:9431'
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from typing import Any

from yaml.nodes import Node, ScalarNode

from netwatch.errors import ConfigError
from netwatch.models import AgentSettings, Contact

from . import readers
from .profiles import load_profiles
from .readers import Reader, read_fields
from .source import STR, Checker, join
from .values import check_email, check_label_name, check_url, parse_listen


def check_timezone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as Asia/Ho_Chi_Minh"
        ) from None


_AGENT_READERS: dict[str, Reader] = {
    "listen": readers.checked(parse_listen),
    "data_dir": readers.text,
    "language": readers.choice("vi", "en"),
    "timezone": readers.checked(check_timezone),
    "api_token": readers.secret,
    "log_format": readers.choice("auto", "text", "plain", "json"),
    "log_level": readers.choice("debug", "info", "warning", "error"),
    "max_in_flight": readers.positive,
    "snmp_workers": lambda check, node, path: _snmp_workers(check, node, path),
    "web_max_connections": lambda check, node, path: check.integer(node, path, minimum=16),
    "web_header_timeout": lambda check, node, path: _header_timeout(check, node, path),
}
AGENT_KEYS = (*_AGENT_READERS, "hierarchy", "web_basic_auth", "tls_cert", "tls_key", "profiles")


def _snmp_workers(check: Checker, node: Node, path: str) -> int | None:
    """``auto`` (left out: the default) or how many SNMP worker processes, 0 for none."""
    if isinstance(node, ScalarNode) and node.tag == STR and node.value.strip() == "auto":
        return None
    if not (isinstance(node, ScalarNode) and node.value.strip().lstrip("-").isdigit()):
        check.wrong_type(node, path, "a whole number or 'auto'")
        return None
    return check.integer(node, path, minimum=0, maximum=64)


def _header_timeout(check: Checker, node: Node, path: str) -> float | None:
    """How long a request header may take: 1 s to 5 min (a longer one lets slow clients hold
    the server's connections again)."""
    seconds = check.duration(node, path)
    if seconds is not None and not 1 <= seconds <= 300:
        check.report(node, path, "must be between 1s and 5m")
        return None
    return seconds


def parse_agent(check: Checker, node: Node | None, path: str) -> AgentSettings:
    """The ``agent`` section; invalid entries keep their defaults (and are reported)."""
    entries = {} if node is None else check.mapping(node, path, AGENT_KEYS)
    if not entries:
        return AgentSettings()
    read = read_fields(check, entries, path, _AGENT_READERS)
    fields = {key: value for key, (value, _) in read.items()}
    if "hierarchy" in entries:
        hierarchy = _parse_hierarchy(check, entries["hierarchy"], join(path, "hierarchy"))
        if hierarchy:
            fields["hierarchy"] = hierarchy
    fields.update(_parse_web(check, entries, path))
    if "profiles" in entries:
        fields["profiles"] = _parse_profiles(check, entries["profiles"], join(path, "profiles"))
    return AgentSettings(**fields)


def _parse_profiles(check: Checker, node: Node, path: str) -> str | None:
    """``profiles: FILE``: device profiles (netwatch/configuration/profiles.yaml's format) added to
    the built-in ones; the file is checked now, and its problems reported with the rest."""
    full = check.local_file(node, path)
    if full is None:
        return None
    try:
        load_profiles(full)
    except ConfigError as exc:
        for problem in exc.problems:
            check.report(node, path, str(problem))
        return None
    return full


def _parse_web(check: Checker, entries: Mapping[str, Node], path: str) -> dict[str, Any]:
    """``web_basic_auth: {user, password}`` and ``tls_cert``/``tls_key`` (both or neither;
    files relative to the config file, checked readable now)."""
    out: dict[str, Any] = {}
    auth = entries.get("web_basic_auth")
    if auth is not None:
        auth_path = join(path, "web_basic_auth")
        sub = check.mapping(auth, auth_path, ("user", "password"), required=("user", "password"))
        if sub and "user" in sub and "password" in sub:
            out["web_user"] = readers.text(check, sub["user"], join(auth_path, "user"))
            out["web_password"] = check.secret(sub["password"], join(auth_path, "password"))
    for key in ("tls_cert", "tls_key"):
        if key in entries:
            out[key] = check.local_file(entries[key], join(path, key))
    if ("tls_cert" in entries) != ("tls_key" in entries):
        key = "tls_cert" if "tls_cert" in entries else "tls_key"
        check.report(entries[key], join(path, key), "tls_cert and tls_key go together")
    return out


def _parse_hierarchy(check: Checker, node: Node, path: str) -> tuple[str, ...] | None:
    items = check.texts(node, path)
    if items is None:
        return None
    if not items:
        check.report(node, path, "the hierarchy needs at least one level")
        return None
    levels: list[str] = []
    for name, item in items:
        if check.valid(item, path, name, check_label_name) is None:
            continue
        if name in levels:
            check.report(item, path, f"level '{name}' is listed twice")
            continue
        levels.append(name)
    return tuple(levels)


# --------------------------------------------------------------------------- contacts

CONTACT_KEYS = ("email", "telegram", "webhook", "alertmanager")


def parse_contact(check: Checker, name: str, node: Node, path: str) -> Contact | None:
    """One entry of ``contacts``; ``None`` when it cannot be used."""
    entries = check.mapping(node, path, CONTACT_KEYS)
    if entries is None:
        return None
    emails: list[str] = []
    if "email" in entries:
        for address, item in check.texts(entries["email"], join(path, "email")) or []:
            if check.valid(item, join(path, "email"), address, check_email) is not None:
                emails.append(address)
    chat_id = _sub_field(check, entries, path, "telegram", "chat_id", readers.text)
    webhook_url = _sub_field(check, entries, path, "webhook", "url", _url)
    webhook_secret = _sub_field(
        check, entries, path, "webhook", "secret", readers.secret, optional=True
    )
    alertmanager = entries.get("alertmanager")
    to_alertmanager = bool(alertmanager and check.boolean(alertmanager, join(path, "alertmanager")))
    if not entries:
        check.report(
            node, path, "contact has no channel: add email, telegram, webhook or alertmanager"
        )
    return Contact(
        name=name,
        email=tuple(emails),
        telegram_chat_id=chat_id,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        alertmanager=to_alertmanager,
    )


_url = readers.checked(check_url)


def _sub_field(
    check: Checker,
    entries: Mapping[str, Node],
    path: str,
    section: str,
    key: str,
    reader: Reader,
    *,
    optional: bool = False,
) -> Any:
    """``section.key`` of a contact, e.g. ``telegram.chat_id``."""
    node = entries.get(section)
    if node is None:
        return None
    section_path = join(path, section)
    keys = {"telegram": ("chat_id",), "webhook": ("url", "secret")}[section]
    sub = check.mapping(node, section_path, keys, required=() if optional else (key,))
    if not sub or key not in sub:
        return None
    return reader(check, sub[key], join(section_path, key))
