"""Each notifier against a real peer: aiosmtpd, Debian's Alertmanager, local HTTP servers."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import hashlib
import hmac
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from netwatch.alerting.model import Alert, Delivery
from netwatch.alerting.notifiers import AlertmanagerNotifier, build_notifiers
from netwatch.alerting.notifiers.smtp import SmtpNotifier
from netwatch.alerting.notifiers.telegram import TelegramNotifier
from netwatch.alerting.notifiers.webhook import SIGNATURE_HEADER, WebhookNotifier
from netwatch.alerting.notify_test import notify_test
from netwatch.errors import NotifyError
from netwatch.models import Contact, Secret
from netwatch.settings.notify import (
    AlertmanagerSettings,
    NotifySettings,
    SmtpSettings,
    TelegramSettings,
)
from tests.alertmanager import RunningAlertmanager, available
from tests.daemon import free_port

NOW = time.time()
URL = "https://netwatch.example.gov.vn"
SETTINGS = NotifySettings(external_url=URL, language="vi", timezone="Asia/Ho_Chi_Minh")
ALERT = Alert(
    id=f"device:nk-rtr:{NOW:.0f}",
    state="firing",
    kind="down",
    severity="critical",
    subject="nk-rtr",
    subject_kind="device",
    site="ninh-kieu",
    site_name="Quận Ninh Kiều",
    device_name="Router Ninh Kiều",
    detail="timeout: no reply",
    started_at=NOW - 120,
    affected_sites=("an-binh", "an-hoa", "cai-khe"),
    affected_devices=("an-binh-rtr",),
    labels={"province": "can-tho", "district": "ninh-kieu", "role": "router"},
)
RESOLVED = dataclasses.replace(ALERT, state="resolved", resolved_at=NOW - 5)
CONTACT = Contact("it-ninh-kieu", email=("cntt@ninhkieu.example.gov.vn", "tp@example.gov.vn"))
TOKEN = "123456:AAE-very-secret-bot-token"


# --------------------------------------------------------------------------- SMTP


class Inbox:
    def __init__(self) -> None:
        self.mail: list[tuple[Envelope, EmailMessage]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.mail.append((envelope, msg))
        return "250 OK"


@pytest.fixture
def smtpd() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _auth(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"netwatch", b"pw")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd sends the 535


@pytest.fixture
def smtpd_tls(tmp_path: Path) -> Iterator[tuple[Inbox, int, str]]:
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True,
        authenticator=_auth, auth_required=True, auth_require_tls=True,
    )  # fmt: skip
    controller.start()
    try:
        yield inbox, port, str(ca_file)
    finally:
        controller.stop()


def smtp(port: int, **kw: Any) -> SmtpNotifier:
    cfg = SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=5,
                       sender="netwatch <netwatch@cantho.example.gov.vn>")  # fmt: skip
    return SmtpNotifier(dataclasses.replace(cfg, **kw), SETTINGS)


async def test_smtp_firing_and_resolved_mail_have_utf8_subject_and_body(
    smtpd: tuple[Inbox, int],
) -> None:
    inbox, port = smtpd
    n = smtp(port)
    await n.send(Delivery(ALERT, CONTACT.name, "email"), CONTACT)
    await n.send(Delivery(RESOLVED, CONTACT.name, "email"), CONTACT)
    assert len(inbox.mail) == 2
    (env1, fire), (_env2, ok) = inbox.mail
    assert env1.mail_from == "netwatch@cantho.example.gov.vn"
    assert env1.rcpt_tos == list(CONTACT.email)
    assert fire["From"] == "netwatch <netwatch@cantho.example.gov.vn>"
    assert fire["To"] == "cntt@ninhkieu.example.gov.vn, tp@example.gov.vn"
    assert fire["Subject"] == "MẤT KẾT NỐI: Router Ninh Kiều — Quận Ninh Kiều"
    assert fire["X-Netwatch-Alert"] == ALERT.id
    body = fire.get_content()
    assert "Ảnh hưởng: 3 đơn vị, 1 thiết bị" in body
    assert f"{URL}/devices/nk-rtr" in body
    assert ok["Subject"] == "Đã khôi phục: Router Ninh Kiều — Quận Ninh Kiều"
    assert "Thời gian gián đoạn: 1 phút 55 giây" in ok.get_content()
    assert ok["In-Reply-To"] == fire["Message-ID"]  # the recovery threads under the alarm


async def test_a_long_vietnamese_subject_keeps_every_space(smtpd: tuple[Inbox, int]) -> None:
    """Python 3.11's EmailMessage folding drops the space between encoded words; ours must not."""
    inbox, port = smtpd
    names = [("X" * n + " Huyện Châu Thành — Tỉnh Hậu Giang").strip() for n in range(0, 60, 7)]
    for name in names:
        alert = dataclasses.replace(ALERT, device_name=name)
        await smtp(port).send(Delivery(alert, CONTACT.name, "email"), CONTACT)
    assert [m["Subject"] for _, m in inbox.mail] == [
        f"MẤT KẾT NỐI: {name} — Quận Ninh Kiều" for name in names
    ]


async def test_smtp_starttls_with_auth_delivers(smtpd_tls: tuple[Inbox, int, str]) -> None:
    inbox, port, ca = smtpd_tls
    n = smtp(port, security="starttls", user="netwatch", password=Secret("env:X", "pw"),
             ca_file=ca)  # fmt: skip
    await n.send(Delivery(ALERT, CONTACT.name, "email"), CONTACT)
    assert [m["Subject"] for _, m in inbox.mail] == [
        "MẤT KẾT NỐI: Router Ninh Kiều — Quận Ninh Kiều"
    ]


async def test_smtp_wrong_password_is_retryable_and_names_no_secret(
    smtpd_tls: tuple[Inbox, int, str],
) -> None:
    inbox, port, ca = smtpd_tls
    n = smtp(port, security="starttls", user="netwatch", password=Secret("env:X", "wrong-pw"),
             ca_file=ca)  # fmt: skip
    with pytest.raises(NotifyError) as err:
        await n.send(Delivery(ALERT, CONTACT.name, "email"), CONTACT)
    # Retryable by design: the queue waits for the operator's fix instead of dropping alerts.
    assert err.value.retryable
    assert "notify.smtp.password" in str(err.value)
    assert "wrong-pw" not in str(err.value)
    assert inbox.mail == []


async def test_smtp_untrusted_certificate_fails_retryably(
    smtpd_tls: tuple[Inbox, int, str],
) -> None:
    _, port, _ = smtpd_tls
    n = smtp(port, security="starttls", user="netwatch", password=Secret("env:X", "pw"))
    with pytest.raises(NotifyError, match="TLS failed") as err:
        await n.send(Delivery(ALERT, CONTACT.name, "email"), CONTACT)
    assert err.value.retryable


async def test_smtp_dead_port_is_retryable() -> None:
    with pytest.raises(NotifyError, match="cannot connect") as err:
        await smtp(free_port()).send(Delivery(ALERT, CONTACT.name, "email"), CONTACT)
    assert err.value.retryable


# --------------------------------------------------------------------------- HTTP peers


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200
        self.answer: Any = {"ok": True, "result": {}}

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.headers), await request.read()))
        return web.json_response(self.answer, status=self.status)


@pytest.fixture
async def http_peer() -> AsyncIterator[tuple[Recorder, str]]:
    rec = Recorder()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, access_log=None)  # the stand-in server's log is not ours
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield rec, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_webhook_posts_json_with_hmac_signature(
    http_peer: tuple[Recorder, str], session: aiohttp.ClientSession
) -> None:
    rec, base = http_peer
    contact = Contact("hook", webhook_url=f"{base}/hooks/netwatch?tok=abc",
                      webhook_secret=Secret("file:/x", "hook-secret"))  # fmt: skip
    await WebhookNotifier(SETTINGS, session).send(Delivery(RESOLVED, "hook", "webhook"), contact)
    [(path, headers, body)] = rec.requests
    assert path == "/hooks/netwatch"
    expected = "sha256=" + hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == expected
    doc = json.loads(body)
    assert doc["status"] == "resolved"
    assert doc["severity"] == "critical"
    assert (doc["device"], doc["site"]) == ("nk-rtr", "ninh-kieu")
    assert doc["affected_sites"] == ["an-binh", "an-hoa", "cai-khe"]
    assert doc["affected_devices"] == ["an-binh-rtr"]
    assert doc["summary"].startswith("Đã khôi phục")
    assert doc["started_at"].endswith("Z")
    assert doc["resolved_at"].endswith("Z")
    assert doc["url"] == f"{URL}/devices/nk-rtr"


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (429, True), (404, False)])
async def test_webhook_error_status_decides_retry(
    http_peer: tuple[Recorder, str], session: aiohttp.ClientSession, status: int,
    retryable: bool,
) -> None:  # fmt: skip
    rec, base = http_peer
    rec.status = status
    contact = Contact("hook", webhook_url=f"{base}/h/SECRET-IN-URL")
    with pytest.raises(NotifyError) as err:
        await WebhookNotifier(SETTINGS, session).send(Delivery(ALERT, "hook", "webhook"), contact)
    assert err.value.retryable is retryable
    assert f"HTTP {status}" in str(err.value)
    assert "SECRET-IN-URL" not in str(err.value)


def _telegram(base: str, session: aiohttp.ClientSession) -> TelegramNotifier:
    cfg = TelegramSettings(bot_token=Secret("env:TG", TOKEN), api_base=base, timeout=5)
    return TelegramNotifier(cfg, SETTINGS, session)


async def test_telegram_send_message_shape(
    http_peer: tuple[Recorder, str], session: aiohttp.ClientSession
) -> None:
    rec, base = http_peer
    contact = Contact("tg", telegram_chat_id="-100123")
    await _telegram(base, session).send(Delivery(ALERT, "tg", "telegram"), contact)
    [(path, _, body)] = rec.requests
    assert path == f"/bot{TOKEN}/sendMessage"
    doc = json.loads(body)
    assert doc["chat_id"] == "-100123"
    assert doc["text"].startswith("MẤT KẾT NỐI: Router Ninh Kiều\nĐơn vị: Quận Ninh Kiều")


async def test_telegram_token_never_in_logs_or_errors(
    http_peer: tuple[Recorder, str], session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    rec, base = http_peer
    rec.status, rec.answer = 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
    contact = Contact("tg", telegram_chat_id="-100123")
    caplog.set_level(logging.DEBUG)
    errors = []
    for api in (base, f"http://127.0.0.1:{free_port()}"):  # a 401 answer, then a dead port
        with pytest.raises(NotifyError) as err:
            await _telegram(api, session).send(Delivery(ALERT, "tg", "telegram"), contact)
        errors.append(err.value)
    assert "HTTP 401 Unauthorized" in str(errors[0])
    assert errors[0].retryable
    assert "cannot connect" in str(errors[1])
    assert errors[1].retryable
    for exc in errors:
        assert TOKEN not in str(exc)
        assert TOKEN not in repr(exc.args)
        assert exc.__cause__ is None
        assert exc.__context__ is None or exc.__suppress_context__
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


async def test_telegram_chat_not_found_is_final(
    http_peer: tuple[Recorder, str], session: aiohttp.ClientSession
) -> None:
    rec, base = http_peer
    rec.status = 400
    rec.answer = {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
    with pytest.raises(NotifyError, match="chat not found") as err:
        await _telegram(base, session).send(
            Delivery(ALERT, "tg", "telegram"), Contact("tg", telegram_chat_id="1")
        )
    assert not err.value.retryable


async def test_notify_test_reports_each_channel(
    http_peer: tuple[Recorder, str], smtpd: tuple[Inbox, int], session: aiohttp.ClientSession
) -> None:
    rec, base = http_peer
    inbox, port = smtpd
    settings = dataclasses.replace(
        SETTINGS,
        smtp=SmtpSettings(host="127.0.0.1", port=port, security="none", sender="nw@example.vn"),
    )
    contact = Contact("it", email=("a@example.vn",), telegram_chat_id="-1",
                      webhook_url=f"{base}/hook")  # fmt: skip
    notifiers = build_notifiers(settings, session)
    result = await notify_test(contact, notifiers, settings)
    assert [(c, ok) for c, ok, _ in result] == [("email", True), ("telegram", False),
                                                 ("webhook", True)]  # fmt: skip
    assert "notify.telegram" in result[1][2]
    assert result[0][2].startswith(f"accepted by 127.0.0.1:{port} for a@example.vn")
    assert inbox.mail[0][1]["Subject"] == "Tin nhắn thử nghiệm từ netwatch"
    assert json.loads(rec.requests[0][2])["kind"] == "test"


# --------------------------------------------------------------------------- Alertmanager


@pytest.mark.peer
@pytest.mark.skipif(not available(), reason="prometheus-alertmanager is not installed")
async def test_alertmanager_receives_firing_then_resolved(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    with RunningAlertmanager(tmp_path) as am:
        cfg = AlertmanagerSettings(urls=(am.url,), resend_interval=60, timeout=5)
        n = AlertmanagerNotifier(cfg, SETTINGS, session)
        await n.send(Delivery(ALERT, "it", "alertmanager"), Contact("it", alertmanager=True))
        [got] = am.alerts()
        assert got["labels"] == {
            "alertname": "NetwatchDeviceDown", "severity": "critical", "device": "nk-rtr",
            "site": "ninh-kieu", "province": "can-tho", "district": "ninh-kieu", "role": "router",
        }  # fmt: skip
        assert got["status"]["state"] == "active"
        assert got["annotations"]["summary"].startswith("MẤT KẾT NỐI: Router Ninh Kiều")
        assert got["generatorURL"] == f"{URL}/devices/nk-rtr"
        assert [a.id for a in n.active] == [ALERT.id]

        await n.refresh_once()  # the refresher re-posts: still one alert, still active
        assert [a["status"]["state"] for a in am.alerts("?active=true")] == ["active"]

        await n.send(Delivery(RESOLVED, "it", "alertmanager"), Contact("it", alertmanager=True))
        assert n.active == ()
        assert am.alerts("?active=true") == []  # ended: no longer listed as active
