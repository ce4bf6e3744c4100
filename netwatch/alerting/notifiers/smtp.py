"""E-mail through an SMTP relay (STARTTLS, TLS or plain; optional AUTH).

``smtplib`` is blocking, so each message is sent in a worker thread with its own connection:
notifications are rare and a fresh connection never finds a half-dead pooled one.

Retry policy: whatever may succeed later without changing the message is retryable — the
relay unreachable, a TLS failure, a 4xx reply, and **authentication failures**. A wrong password
is a configuration error, but it hits every message of the channel alike; retrying keeps them
in the outbox (up to a day) until an operator fixes the password and reloads, instead of
discarding every alert in the meantime. A 5xx rejection of the sender, of every recipient or of
the message itself will never succeed and is not retryable.

>>> n = SmtpNotifier(SmtpSettings(host="127.0.0.1", port=25, security="none",
...                               sender="netwatch@example.gov.vn"), NotifySettings())
>>> n.channel
'email'
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import smtplib
import ssl
import time
from dataclasses import replace
from email.header import Header
from email.message import Message
from email.mime.text import MIMEText
from email.utils import formatdate

from netwatch.alerting.messages import render
from netwatch.alerting.model import Alert, Delivery
from netwatch.errors import NotifyError
from netwatch.models import Contact
from netwatch.settings.notify import Channel, NotifySettings, SmtpSettings

log = logging.getLogger(__name__)


def message_id(alert: Alert, sender: str) -> str:
    """A Message-ID stable for (alert, state): a re-sent copy after a crash is the same mail.

    Mail clients drop a second copy with the same id, which turns the outbox's at-least-once
    delivery into exactly-once for the reader.
    """
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "netwatch.invalid"
    tag = "esc" if alert.escalated else ""
    digest = hashlib.sha256(f"{alert.id}|{alert.state}|{tag}".encode()).hexdigest()[:32]
    return f"<netwatch.{digest}@{domain}>"


class SmtpNotifier:
    """Sends one mail per delivery to every address of the contact."""

    channel: Channel = "email"

    def __init__(self, smtp: SmtpSettings, settings: NotifySettings) -> None:
        self._smtp = smtp
        self._settings = settings

    @property
    def target(self) -> str:
        return f"smtp {self._smtp.host}:{self._smtp.port}"

    def build(self, delivery: Delivery, contact: Contact) -> Message:
        """The mail for ``delivery``; the subject is UTF-8 (RFC 2047-encoded on the wire).

        Built with ``MIMEText`` and ``Header`` rather than ``EmailMessage``: Python 3.11's default
        policy drops the space where it folds a long non-ASCII subject between encoded words
        ("HuyệnChâu Thành"); ``Header`` encodes each space inside the words.
        """
        alert = delivery.alert
        s = self._settings
        text = render(alert, s.language, s.timezone, s.external_url, channel=self.channel)
        msg = MIMEText(text.text, "plain", "utf-8")
        msg["Subject"] = Header(text.subject, "utf-8")  # type: ignore[assignment]  # see above
        msg["From"] = self._smtp.sender
        msg["To"] = ", ".join(contact.email)
        msg["Date"] = formatdate(time.time(), localtime=False)
        msg["Message-ID"] = message_id(alert, self._smtp.sender)
        msg["X-Netwatch-Alert"] = alert.id
        msg["X-Netwatch-State"] = alert.state
        if not alert.is_firing:
            # Thread the recovery under the alarm in the officer's mail client.
            first = message_id(replace(alert, state="firing", escalated=False), self._smtp.sender)
            msg["In-Reply-To"] = first
            msg["References"] = first
        return msg

    async def send(self, delivery: Delivery, contact: Contact) -> None:
        if not contact.email:
            raise NotifyError(f"contact {contact.name} has no e-mail address", retryable=False)
        msg = self.build(delivery, contact)
        await asyncio.to_thread(self._send_blocking, msg, list(contact.email))
        log.debug("mail %s sent to contact %s via %s", delivery.alert.id, contact.name, self.target)

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self._smtp.ca_file)

    def _send_blocking(self, msg: Message, to: list[str]) -> None:
        cfg = self._smtp
        where = self.target
        try:
            client: smtplib.SMTP
            if cfg.security == "tls":
                client = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, timeout=cfg.timeout, context=self._context()
                )
            else:
                client = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            with client:
                if cfg.security == "starttls":
                    client.starttls(context=self._context())
                if cfg.user:
                    password = cfg.password.reveal() if cfg.password else ""
                    client.login(cfg.user, password)
                refused = client.send_message(msg, to_addrs=to)
            if refused:
                log.warning("%s refused some recipients: %s", where, ", ".join(sorted(refused)))
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifyError(
                f"{where}: login as {cfg.user!r} rejected ({exc.smtp_code}); "
                "check notify.smtp.user and notify.smtp.password",
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise NotifyError(
                f"{where}: {exc}; check notify.smtp.security (starttls, tls, none)"
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise NotifyError(
                f"{where}: every recipient refused ({', '.join(map(str, codes))}): "
                f"{', '.join(sorted(exc.recipients))}",
                retryable=any(400 <= c < 500 for c in codes),
            ) from exc
        except smtplib.SMTPResponseException as exc:
            # Sender refused, data refused, HELO refused...: 4xx is temporary, 5xx is final.
            err = exc.smtp_error
            reason = err.decode("utf-8", "replace") if isinstance(err, bytes) else str(err)
            raise NotifyError(
                f"{where}: server answered {exc.smtp_code} {reason}",
                retryable=not 500 <= exc.smtp_code < 600,
            ) from exc
        except smtplib.SMTPException as exc:  # disconnected, connect error, ...
            raise NotifyError(f"{where}: {type(exc).__name__}: {exc}") from exc
        except ssl.SSLError as exc:
            raise NotifyError(
                f"{where}: TLS failed ({exc.reason or exc}); check notify.smtp.security and ca_file"
            ) from exc
        except TimeoutError as exc:
            raise NotifyError(f"{where}: no answer within {cfg.timeout:g}s") from exc
        except OSError as exc:  # refused, unreachable, DNS
            raise NotifyError(f"{where}: cannot connect: {exc.strerror or exc}") from exc
