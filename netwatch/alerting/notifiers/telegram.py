"""Telegram through a bot: ``POST {api_base}/bot<token>/sendMessage`` with chat_id and text.

The bot token sits in the URL path, so every error text is built here from what is known to be
clean (status, Telegram's ``description``, the exception class) and library exceptions are not
chained: aiohttp puts the full request URL, token included, in its messages and tracebacks.

Retry policy: network errors, 429 and 5xx are retryable, and so is 401 (a wrong token is fixed
by a reload; the outbox keeps the messages meanwhile); 400 (chat not found, bad text) and 403
(the bot was blocked or removed from the group) are final for that message.

>>> from netwatch.models import Secret
>>> n = TelegramNotifier(TelegramSettings(bot_token=Secret("env:TG", "123:abc")),
...                      NotifySettings(), session=None)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from netwatch.alerting.messages import render
from netwatch.alerting.model import Delivery
from netwatch.alerting.notifiers._http import redact_url, retryable_status
from netwatch.errors import NotifyError
from netwatch.models import Contact
from netwatch.settings.notify import Channel, NotifySettings, TelegramSettings

log = logging.getLogger(__name__)
MAX_TELEGRAM_TEXT = 4096  # Bot API limit; our texts are far shorter


class TelegramNotifier:
    """Sends the plain-text message (no parse_mode: nothing to escape) to the contact's chat."""

    channel: Channel = "telegram"

    def __init__(
        self, telegram: TelegramSettings, settings: NotifySettings, session: aiohttp.ClientSession
    ) -> None:
        self._telegram = telegram
        self._settings = settings
        self._session = session

    @property
    def target(self) -> str:
        return f"telegram {redact_url(self._telegram.api_base)}"

    def _scrub(self, text: str) -> str:
        token = self._telegram.bot_token.reveal()
        return text.replace(token, "<token>") if token else text

    async def send(self, delivery: Delivery, contact: Contact) -> None:
        if not contact.telegram_chat_id:
            raise NotifyError(f"contact {contact.name} has no telegram chat_id", retryable=False)
        s = self._settings
        msg = render(delivery.alert, s.language, s.timezone, s.external_url, channel=self.channel)
        body = {
            "chat_id": contact.telegram_chat_id,
            "text": msg.text[:MAX_TELEGRAM_TEXT],
            "disable_web_page_preview": True,
        }
        base = self._telegram.api_base.rstrip("/")
        url = f"{base}/bot{self._telegram.bot_token.reveal()}/sendMessage"
        where = f"{self.target} chat {contact.telegram_chat_id}"
        timeout = aiohttp.ClientTimeout(total=self._telegram.timeout)
        failure: str
        try:
            async with self._session.post(url, json=body, timeout=timeout) as resp:
                status = resp.status
                answer: Any = await resp.json(content_type=None) if status != 204 else {}
        except TimeoutError:
            failure = f"{where}: no answer within {self._telegram.timeout:g}s"
        except aiohttp.ClientError as exc:
            failure = f"{where}: {type(exc).__name__}: {self._scrub(_os_reason(exc))}"
        except ValueError:
            failure = f"{where}: answer is not JSON"
        else:
            if 200 <= status < 300 and isinstance(answer, dict) and answer.get("ok", True):
                log.debug("telegram message %s sent to contact %s", delivery.alert.id, contact.name)
                return
            description = answer.get("description", "") if isinstance(answer, dict) else ""
            detail = self._scrub(str(description))[:200]
            hint = " (check notify.telegram.bot_token)" if status in (401, 404) else ""
            raise NotifyError(
                f"{where}: HTTP {status} {detail}{hint}".rstrip(),
                retryable=retryable_status(status) or status in (401, 404),
            ) from None  # no chaining: the aiohttp objects carry the token
        raise NotifyError(failure) from None


def _os_reason(exc: aiohttp.ClientError) -> str:
    """A short reason without the request URL where aiohttp lets us get at one."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status} {exc.message}"
    return str(exc)
