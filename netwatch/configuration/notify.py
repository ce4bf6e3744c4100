"""The ``notify`` section: what every contact of a channel shares (SMTP relay, bot, Alertmanager).

It becomes :class:`~netwatch.settings.notify.NotifySettings`. Passwords and bot tokens
are secrets, written ``{env: NAME}`` or ``{file: PATH}``; an inline one is an error that says
how to write it. ``language`` and ``timezone`` default to the agent's.

Whether each contact's channels have their server settings is checked once every file (and so
every contact) has been read (:func:`contact_problems`).

>>> import yaml
>>> from .source import Problems, Secrets
>>> check = Checker("x.yaml", Problems(), Secrets({}))
>>> node = yaml.compose("{smtp: {host: mail.example.gov.vn, from: netwatch@example.gov.vn}}")
>>> notify = parse_notify(check, node, "notify", AgentSettings())
>>> notify.settings.smtp.port, notify.settings.language
(587, 'vi')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from yaml.nodes import Node

from netwatch.models import AgentSettings, Contact
from netwatch.settings.notify import (
    AlertmanagerSettings,
    Channel,
    NotifySettings,
    SmtpSettings,
    TelegramSettings,
    channels_of,
)

from . import readers
from .agent import check_timezone
from .readers import Field, Reader, read_fields
from .source import Checker, Loc, Problems, join
from .values import check_address, check_email, check_url

_TOP_READERS: dict[str, Reader] = {
    "external_url": readers.checked(check_url),
    "language": readers.choice("vi", "en"),
    "timezone": readers.checked(check_timezone),
    "webhook_timeout": readers.duration,
}
_SMTP_READERS: dict[str, Reader] = {
    "host": readers.checked(check_address),
    "port": readers.port,
    "security": readers.choice("starttls", "tls", "none"),
    "user": readers.text,
    "password": readers.secret,
    "from": lambda check, node, path: _sender(check, node, path),
    "timeout": readers.duration,
    "ca_file": lambda check, node, path: check.local_file(node, path),
}
_TELEGRAM_READERS: dict[str, Reader] = {
    "bot_token": readers.secret,
    "api_base": readers.checked(check_url),
    "timeout": readers.duration,
}
_ALERTMANAGER_READERS: dict[str, Reader] = {
    "urls": lambda check, node, path: _urls(check, node, path),
    "resend_interval": readers.duration,
    "timeout": readers.duration,
}
CHANNELS = ("smtp", "telegram", "alertmanager")
NOTIFY_KEYS = (*_TOP_READERS, *CHANNELS)
# The usual port of each kind of SMTP connection, when none is given.
_SMTP_PORTS = {"starttls": 587, "tls": 465, "none": 25}


@dataclass(frozen=True, slots=True)
class Notify:
    """The settings, and which channel sections were written (even if they had mistakes)."""

    settings: NotifySettings
    written: frozenset[str] = field(default_factory=frozenset)


def parse_notify(check: Checker, node: Node | None, path: str, agent: AgentSettings) -> Notify:
    """The ``notify`` section (``None``: not written); unusable channels are left out."""
    base: dict[str, Any] = {"language": agent.language, "timezone": agent.timezone}
    if node is None:
        return Notify(NotifySettings(**base))
    entries = check.mapping(node, path, NOTIFY_KEYS) or {}
    fields: dict[str, Any] = base | {
        key: value for key, (value, _) in read_fields(check, entries, path, _TOP_READERS).items()
    }
    builders = {"smtp": _smtp, "telegram": _telegram, "alertmanager": _alertmanager}
    for name in CHANNELS:
        if name in entries:
            fields[name] = builders[name](check, entries[name], join(path, name))
    return Notify(NotifySettings(**fields), frozenset(k for k in CHANNELS if k in entries))


def _smtp(check: Checker, node: Node, path: str) -> SmtpSettings | None:
    entries = check.mapping(node, path, _SMTP_READERS, required=("host", "from"))
    if entries is None:
        return None
    read = read_fields(check, entries, path, _SMTP_READERS)
    # These depend only on what is written, so they are reported even beside other mistakes.
    if ("user" in entries) != ("password" in entries):
        given, missing = ("user", "password") if "user" in entries else ("password", "user")
        check.report(entries[given], join(path, given), f"SMTP {given} needs a {missing} too")
    security = read["security"][0] if "security" in read else "starttls"
    if "password" in entries and security == "none":
        check.problems.add(
            read["security"][1],
            "with security: none the SMTP password would cross the network in clear; "
            "use starttls or tls",
        )
    values = _complete(read, entries, ("host", "from"))
    if (
        values is None
        or ("user" in values) != ("password" in values)
        or ("password" in values and security == "none")
    ):
        return None
    values["sender"] = values.pop("from")
    values["security"] = security
    values.setdefault("port", _SMTP_PORTS[security])
    return SmtpSettings(**values)


def _telegram(check: Checker, node: Node, path: str) -> TelegramSettings | None:
    values = _section(check, node, path, _TELEGRAM_READERS, ("bot_token",))
    return None if values is None else TelegramSettings(**values)


def _alertmanager(check: Checker, node: Node, path: str) -> AlertmanagerSettings | None:
    values = _section(check, node, path, _ALERTMANAGER_READERS, ("urls",))
    return None if values is None else AlertmanagerSettings(**values)


def _section(
    check: Checker,
    node: Node,
    path: str,
    section_readers: Mapping[str, Reader],
    required: tuple[str, ...],
) -> dict[str, Any] | None:
    """A channel's settings, or ``None`` when any is missing or wrong (already reported)."""
    entries = check.mapping(node, path, section_readers, required=required)
    if entries is None:
        return None
    return _complete(read_fields(check, entries, path, section_readers), entries, required)


def _complete(
    read: Mapping[str, Field], entries: Mapping[str, Node], required: tuple[str, ...]
) -> dict[str, Any] | None:
    """The values read, if every entry was readable and every required one is there."""
    if len(read) < len(entries) or any(key not in read for key in required):
        return None
    return {key: value for key, (value, _) in read.items()}


def _sender(check: Checker, node: Node, path: str) -> str | None:
    """``netwatch@example.gov.vn`` or ``"netwatch <netwatch@example.gov.vn>"``."""
    text = check.text(node, path)
    if text is None:
        return None
    _, address = parseaddr(text)
    try:
        check_email(address)
    except ValueError:
        check.report(
            node,
            path,
            f"invalid sender {text!r}; write an address like netwatch@example.gov.vn "
            'or "netwatch <netwatch@example.gov.vn>"',
        )
        return None
    return text


def _urls(check: Checker, node: Node, path: str) -> tuple[str, ...] | None:
    items = check.texts(node, path)
    if items is None:
        return None
    if not items:
        check.report(node, path, "list at least one Alertmanager URL, e.g. http://127.0.0.1:9093")
        return None
    urls = [url for url, item in items if check.valid(item, path, url, check_url) is not None]
    return tuple(urls) if len(urls) == len(items) else None


def contact_problems(
    contacts: Mapping[str, Contact],
    notify: Notify,
    channel_at: Mapping[str, Loc],
    problems: Problems,
) -> None:
    """Reports each contact channel whose server settings are missing from ``notify``.

    ``channel_at`` maps ``contacts.NAME.CHANNEL`` to where it is written. A channel whose
    section was written but could not be read is skipped: its own problems are already
    reported, and "needs a notify.smtp section" would mislead.
    """
    for line in _missing_servers(contacts, notify.settings):
        path, _, message = line.partition(": ")
        channel = path.rpartition(".")[2]
        if _SECTION_OF.get(channel, channel) in notify.written:
            continue
        problems.add(channel_at.get(path, Loc("<contacts>", 1, 1, path)), message)


_SECTION_OF = {"email": "smtp"}
# The channels that need server settings, and what to write for them.
_NEEDS: Mapping[Channel, str] = {
    "email": "a notify.smtp section (SMTP server and sender)",
    "telegram": "a notify.telegram section (bot_token)",
    "alertmanager": "a notify.alertmanager section (urls)",
}


def _missing_servers(contacts: Mapping[str, Contact], settings: NotifySettings) -> list[str]:
    """``yaml.path: message`` for every contact channel that lacks its server settings.

    >>> _missing_servers({"it-nk": Contact("it-nk", email=("a@b",))}, NotifySettings())
    ['contacts.it-nk.email: needs a notify.smtp section (SMTP server and sender)']
    """
    present = {
        name for name in _NEEDS if getattr(settings, _SECTION_OF.get(name, name)) is not None
    }
    out = []
    for name, contact in contacts.items():
        for channel in channels_of(contact):
            if channel in _NEEDS and channel not in present:
                out.append(f"contacts.{name}.{channel}: needs {_NEEDS[channel]}")
    return out
