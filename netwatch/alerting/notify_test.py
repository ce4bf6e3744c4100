"""``netwatch notify-test --contact NAME``: one test message through each of a contact's channels.

It sends directly (not through the outbox): the operator wants to see now whether each channel
works, and why not. The CLI prints the returned outcomes.

>>> # for channel, ok, detail in await notify_test(contact, notifiers, settings):
>>> #     print(f"{channel:13} {'OK' if ok else 'FAILED'}  {detail}")
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from netwatch.alerting.model import Alert, Delivery
from netwatch.alerting.notifiers import Notifier
from netwatch.alerting.notifiers._http import redact_url
from netwatch.errors import NotifyError
from netwatch.models import Contact
from netwatch.settings.notify import Channel, NotifySettings, channels_of

_NOT_CONFIGURED = {
    "email": "no notify.smtp section: add the SMTP server and sender",
    "telegram": "no notify.telegram section: add the bot_token",
    "alertmanager": "no notify.alertmanager section: add its urls",
}


def _target(channel: Channel, contact: Contact, settings: NotifySettings) -> str:
    """Where the message went, for the operator (no secrets, no URL paths or queries)."""
    if channel == "email" and settings.smtp:
        return f"{settings.smtp.host}:{settings.smtp.port} for {', '.join(contact.email)}"
    if channel == "telegram":
        return f"telegram chat {contact.telegram_chat_id}"
    if channel == "webhook" and contact.webhook_url:
        return redact_url(contact.webhook_url)
    if channel == "alertmanager" and settings.alertmanager:
        return ", ".join(redact_url(u) for u in settings.alertmanager.urls)
    return channel


def make_test_alert(contact: Contact, now: float) -> Alert:
    """The alert a test message is rendered from; its id is unique per run."""
    return Alert(
        id=f"test:{contact.name}:{now:.0f}",
        state="firing",
        kind="test",
        severity="info",
        subject="netwatch",
        subject_kind="site",
        site="netwatch",
        site_name="netwatch",
        started_at=now,
    )


async def notify_test(
    contact: Contact,
    notifiers: Mapping[Channel, Notifier],
    settings: NotifySettings,
    *,
    per_channel_timeout: float = 60.0,
    clock: Callable[[], float] = time.time,
) -> list[tuple[Channel, bool, str]]:
    """``(channel, ok, detail)`` for every channel of ``contact``, in a fixed order.

    ``settings`` is the notify section the notifiers were built from (named in the details).
    Never raises for a channel's failure; that is the outcome it reports.
    """
    alert = make_test_alert(contact, clock())

    async def one(channel: Channel) -> tuple[Channel, bool, str]:
        notifier = notifiers.get(channel)
        if notifier is None:
            return channel, False, _NOT_CONFIGURED.get(channel, "channel not available")
        started = time.monotonic()
        try:
            async with asyncio.timeout(per_channel_timeout):
                await notifier.send(Delivery(alert, contact.name, channel), contact)
        except NotifyError as exc:
            kind = "temporary" if exc.retryable else "permanent"
            return channel, False, f"{exc} ({kind})"
        except TimeoutError:
            return channel, False, f"no result within {per_channel_timeout:g}s"
        took = time.monotonic() - started
        return channel, True, f"accepted by {_target(channel, contact, settings)} in {took:.1f}s"

    channels = channels_of(contact)
    if not channels:
        return []
    return list(await asyncio.gather(*(one(c) for c in channels)))
