"""A generic webhook: ``POST`` of a JSON document describing the alert to the contact's URL.

With a ``webhook.secret`` on the contact, the header ``X-Netwatch-Signature: sha256=<hex>`` is
the HMAC-SHA256 of the exact body bytes, so the receiver can check who sent it::

    hmac.compare_digest(header, "sha256=" + hmac.new(secret, body, "sha256").hexdigest())

Retry policy: network errors, 408, 425, 429 and 5xx are retryable; any other 4xx and a redirect
(POST bodies are not re-sent across redirects; configure the final URL) are final.

>>> payload(_example(), "https://nw.example.gov.vn", "vi", "UTC")["status"]
'firing'
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime

import aiohttp

from netwatch.alerting.messages import link, render
from netwatch.alerting.model import Alert, Delivery
from netwatch.alerting.notifiers._http import redact_url, retryable_status
from netwatch.errors import NotifyError
from netwatch.models import Contact
from netwatch.settings.notify import Channel, NotifySettings

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Netwatch-Signature"
PAYLOAD_VERSION = 1


def iso(ts: float | None) -> str | None:
    """Epoch seconds as RFC 3339 UTC (``2023-11-14T22:13:20Z``), or None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def payload(alert: Alert, status_url: str, lang: str, tz: str) -> dict[str, object]:
    """The JSON document (version 1); new fields may be added, none removed or renamed."""
    msg = render(alert, lang, tz, status_url, channel="webhook")
    return {
        "version": PAYLOAD_VERSION,
        "id": alert.id,
        "status": alert.state,
        "kind": alert.kind,
        "severity": alert.severity,
        "device": alert.subject if alert.subject_kind == "device" else "",
        "device_name": alert.device_name,
        "service": alert.service,
        "site": alert.site,
        "site_name": alert.site_name,
        "subject": alert.subject,
        "subject_kind": alert.subject_kind,
        "summary": msg.subject,
        "text": msg.text,
        "detail": alert.detail,
        "affected_sites": list(alert.affected_sites),
        "affected_devices": list(alert.affected_devices),
        "started_at": iso(alert.started_at),
        "resolved_at": iso(alert.resolved_at),
        "escalated": alert.escalated,
        "repeat": alert.repeat,
        "ended": alert.ended,
        "digest_only": alert.digest_only,
        "items": list(alert.items),
        "labels": dict(alert.labels),
        "url": link(alert, status_url),
    }


def sign(body: bytes, secret: str) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    """Posts :func:`payload` to ``contact.webhook_url``."""

    channel: Channel = "webhook"

    def __init__(self, settings: NotifySettings, session: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._session = session

    async def send(self, delivery: Delivery, contact: Contact) -> None:
        if not contact.webhook_url:
            raise NotifyError(f"contact {contact.name} has no webhook url", retryable=False)
        s = self._settings
        doc = payload(delivery.alert, s.external_url, s.language, s.timezone)
        body = json.dumps(doc, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if contact.webhook_secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, contact.webhook_secret.reveal())
        where = f"webhook {redact_url(contact.webhook_url)} (contact {contact.name})"
        timeout = aiohttp.ClientTimeout(total=s.webhook_timeout)
        try:
            async with self._session.post(
                contact.webhook_url, data=body, headers=headers, timeout=timeout,
                allow_redirects=False,
            ) as resp:  # fmt: skip
                status = resp.status
                reason = resp.reason or ""
        except TimeoutError:
            raise NotifyError(f"{where}: no answer within {s.webhook_timeout:g}s") from None
        except aiohttp.ClientConnectorError as exc:
            raise NotifyError(
                f"{where}: cannot connect: {exc.os_error.strerror or exc.os_error}"
            ) from None  # aiohttp's text holds the full URL, which may hold a token
        except aiohttp.ClientError as exc:
            raise NotifyError(f"{where}: {type(exc).__name__}") from None
        if 200 <= status < 300:
            log.debug("webhook %s sent for contact %s", delivery.alert.id, contact.name)
            return
        raise NotifyError(f"{where}: HTTP {status} {reason}".rstrip(),
                          retryable=retryable_status(status))  # fmt: skip


def _example() -> Alert:
    return Alert(id="x", state="firing", kind="down", severity="critical", subject="r1",
                 subject_kind="device", site="s", site_name="S")  # fmt: skip
