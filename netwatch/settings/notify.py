"""Server-side settings of the notification channels (the top-level ``notify:`` key).

Per-contact addresses (e-mail, chat id, webhook URL) live on ``models.Contact``; what is shared
by every contact of a channel (the SMTP relay, the bot token, the Alertmanager URLs) lives here.
``config.py`` builds these; a channel whose settings are ``None`` is not available.

>>> smtp = SmtpSettings(host="mail.example.gov.vn", sender="netwatch@example.gov.vn")
>>> s = NotifySettings(smtp=smtp)
>>> s.smtp.port, s.smtp.security, s.language
(587, 'starttls', 'vi')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from netwatch.models import DEFAULT_TIMEZONE, Contact, Secret

Channel = Literal["email", "telegram", "webhook", "alertmanager", "log"]
SmtpSecurity = Literal["starttls", "tls", "none"]


def channels_of(contact: Contact) -> tuple[Channel, ...]:
    """The channels configured on ``contact``, in a fixed order.

    >>> channels_of(Contact("it-nk", email=("it@ninhkieu.example.gov.vn",), telegram_chat_id="-1"))
    ('email', 'telegram')
    """
    found: list[Channel] = []
    if contact.email:
        found.append("email")
    if contact.telegram_chat_id:
        found.append("telegram")
    if contact.webhook_url:
        found.append("webhook")
    if contact.alertmanager:
        found.append("alertmanager")
    return tuple(found)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """An SMTP relay. ``tls`` is TLS from the first byte (port 465); ``starttls`` upgrades (587).

    ``ca_file`` replaces the system trust store, e.g. for the province's internal CA.
    """

    host: str
    sender: str  # the From: header, e.g. "netwatch <netwatch@example.gov.vn>"
    port: int = 587
    security: SmtpSecurity = "starttls"
    user: str | None = None
    password: Secret | None = None
    timeout: float = 30.0
    ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    """A Telegram bot; ``api_base`` is configurable for a local Bot API server (and for tests)."""

    bot_token: Secret
    api_base: str = "https://api.telegram.org"
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class AlertmanagerSettings:
    """Prometheus Alertmanager instances (every one gets every alert, as Prometheus does).

    Firing alerts are re-posted every ``resend_interval`` seconds with ``endsAt`` three
    intervals ahead, so an alert expires by itself if netwatch dies.
    """

    urls: tuple[str, ...]
    resend_interval: float = 60.0
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """Everything notifiers share. ``external_url`` is the status page base used in links."""

    smtp: SmtpSettings | None = None
    telegram: TelegramSettings | None = None
    alertmanager: AlertmanagerSettings | None = None
    webhook_timeout: float = 10.0
    external_url: str = ""
    language: Literal["vi", "en"] = "vi"
    timezone: str = DEFAULT_TIMEZONE
