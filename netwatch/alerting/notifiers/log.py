"""The log channel: one line per notification, for sites without mail or a bot, and for demos.

>>> import asyncio; from netwatch.settings.notify import NotifySettings
>>> LogNotifier(NotifySettings()).channel
'log'
"""

from __future__ import annotations

import logging

from netwatch.alerting.messages import render
from netwatch.alerting.model import Delivery
from netwatch.models import Contact
from netwatch.settings.notify import Channel, NotifySettings

log = logging.getLogger("netwatch.notify")


class LogNotifier:
    """Logs the subject line at WARNING for a firing alert, INFO otherwise."""

    channel: Channel = "log"

    def __init__(self, settings: NotifySettings) -> None:
        self._settings = settings

    async def send(self, delivery: Delivery, contact: Contact) -> None:
        s = self._settings
        alert = delivery.alert
        msg = render(alert, s.language, s.timezone, s.external_url, channel=self.channel)
        level = logging.WARNING if alert.is_firing and alert.kind != "test" else logging.INFO
        log.log(level, "notify %s [%s] to contact %s: %s", alert.id, alert.state, contact.name,
                msg.subject)  # fmt: skip
