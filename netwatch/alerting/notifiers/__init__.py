"""Notification channels, chosen by name from :data:`REGISTRY`.

A notifier sends one :class:`~netwatch.alerting.model.Delivery` to one contact and either returns
(the channel accepted it) or raises :class:`~netwatch.errors.NotifyError` whose ``retryable``
tells the outbox whether to try again. Notifiers never retry themselves; the outbox does.

>>> sorted(REGISTRY)
['alertmanager', 'email', 'log', 'telegram', 'webhook']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final, Protocol

import aiohttp

from netwatch.alerting.model import Delivery
from netwatch.alerting.notifiers.alertmanager import AlertmanagerNotifier
from netwatch.alerting.notifiers.log import LogNotifier
from netwatch.alerting.notifiers.smtp import SmtpNotifier
from netwatch.alerting.notifiers.telegram import TelegramNotifier
from netwatch.alerting.notifiers.webhook import WebhookNotifier
from netwatch.models import Contact
from netwatch.settings.notify import Channel, NotifySettings


class Notifier(Protocol):
    """One channel. ``send`` returns when the channel accepted the message."""

    @property
    def channel(self) -> Channel: ...

    async def send(self, delivery: Delivery, contact: Contact) -> None: ...


# A factory gets the shared settings and HTTP session; it returns None when the channel's
# server settings are missing (e.g. e-mail without notify.smtp).
Factory = Callable[[NotifySettings, aiohttp.ClientSession], Notifier | None]


def _email(s: NotifySettings, _: aiohttp.ClientSession) -> Notifier | None:
    return SmtpNotifier(s.smtp, s) if s.smtp else None


def _telegram(s: NotifySettings, session: aiohttp.ClientSession) -> Notifier | None:
    return TelegramNotifier(s.telegram, s, session) if s.telegram else None


def _alertmanager(s: NotifySettings, session: aiohttp.ClientSession) -> Notifier | None:
    return AlertmanagerNotifier(s.alertmanager, s, session) if s.alertmanager else None


REGISTRY: Final[Mapping[Channel, Factory]] = {
    "email": _email,
    "telegram": _telegram,
    "webhook": lambda s, session: WebhookNotifier(s, session),
    "alertmanager": _alertmanager,
    "log": lambda s, _: LogNotifier(s),
}


def build_notifiers(
    settings: NotifySettings, session: aiohttp.ClientSession
) -> dict[Channel, Notifier]:
    """Every channel whose server settings are present; ``session`` is owned by the caller."""
    built = {name: factory(settings, session) for name, factory in REGISTRY.items()}
    return {name: n for name, n in built.items() if n is not None}


__all__ = [
    "REGISTRY",
    "AlertmanagerNotifier",
    "Factory",
    "LogNotifier",
    "Notifier",
    "SmtpNotifier",
    "TelegramNotifier",
    "WebhookNotifier",
    "build_notifiers",
]
