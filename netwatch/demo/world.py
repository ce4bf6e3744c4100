"""The peers the demo's daemon watches: snmpsim, the office web applications, a mail sink.

Each runs on the simulated devices' own loopback addresses, so the daemon polls them exactly as
it would poll a real province, and a fault on an address (``netns.Firewall``) hits them too.

>>> apps = OfficeApps()          # doctest: +SKIP
>>> await apps.start(province)   # doctest: +SKIP
>>> apps.fail("qlvb")            # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from netwatch.demo.province import (
    APP_PORT,
    DEMO_TIMEZONE,
    SMTP_PORT,
    SNMP_PORT,
    DemoDevice,
    Province,
)
from netwatch.demo.snmprec import write_data
from netwatch.errors import NetwatchError

log = logging.getLogger(__name__)

SNMPSIM_ENV = "NETWATCH_SNMPSIM"  # path of snmpsim-command-responder, if not found by itself
SNMPSIM_PROGRAM = "snmpsim-command-responder"
SNMPSIM_VENV = ".venv-snmpsim"  # snmpsim's own virtual environment, beside the project's .venv
SNMPSIM_READY = 60.0  # seconds snmpsim may take to index its recordings and bind
STOP_WAIT = 5.0  # seconds a child process gets to exit after SIGTERM before SIGKILL


class DemoError(NetwatchError):
    """The demo world could not start; the message says what to install or free."""


# ---------------------------------------------------------------------------------- snmpsim


def find_snmpsim(environ: dict[str, str] | None = None) -> str | None:
    """snmpsim's responder: $NETWATCH_SNMPSIM, ``.venv-snmpsim/bin``, or the PATH.

    snmpsim lives in its own venv because it needs ``pysmi``, which must not sit beside the
    daemon's pysnmp (pysnmp would then try to compile MIBs, fetching them from the internet).
    """
    env = os.environ if environ is None else environ
    if env.get(SNMPSIM_ENV):
        return env[SNMPSIM_ENV]
    project = Path(__file__).resolve().parents[2]
    for venv in (project / SNMPSIM_VENV, Path(sys.prefix).parent / SNMPSIM_VENV):
        candidate = venv / "bin" / SNMPSIM_PROGRAM
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(SNMPSIM_PROGRAM)


class Snmpsim:
    """One snmpsim process answering for every SNMP device on its own address (UDP 1161)."""

    def __init__(self, program: str, workdir: Path) -> None:
        self.program = program
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, devices: list[DemoDevice]) -> None:
        data = self.workdir / "snmpsim-data"
        await asyncio.to_thread(write_data, devices, data)
        argv = [
            self.program,
            f"--data-dir={data}",
            f"--cache-dir={self.workdir / 'snmpsim-cache'}",
            *(f"--agent-udpv4-endpoint={d.address}:{SNMP_PORT}" for d in devices),
        ]
        logfile = self.workdir / "snmpsim.log"
        # snmpsim refuses to run as root unless told; inside a user namespace we *are* root.
        env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
        with logfile.open("wb") as out:
            try:
                self.proc = await asyncio.create_subprocess_exec(
                    *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, env=env
                )
            except OSError as exc:
                raise DemoError(f"cannot run snmpsim {self.program}: {exc.strerror}") from exc
        # Ready when it listens on the last endpoint (it binds them in order).
        last = f"{devices[-1].address}:{SNMP_PORT}"
        deadline = time.monotonic() + SNMPSIM_READY
        while time.monotonic() < deadline:
            text = await asyncio.to_thread(logfile.read_text, "utf-8", "replace")
            if self.proc.returncode is not None:
                # Its log is in the work directory, which goes away with the demo: show it.
                tail = "\n  ".join(text.strip().splitlines()[-5:])
                raise DemoError(f"snmpsim exited {self.proc.returncode}:\n  {tail}")
            if f"endpoint {last}," in text:
                return
            await asyncio.sleep(0.2)
        raise DemoError(f"snmpsim not listening within {SNMPSIM_READY:.0f}s")

    async def stop(self) -> None:
        await stop_process(self.proc)


async def stop_process(proc: asyncio.subprocess.Process | None) -> None:
    """SIGTERM, then SIGKILL after ``STOP_WAIT`` seconds; idempotent."""
    if proc is None or proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), STOP_WAIT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


# ---------------------------------------------------------------------------------- web apps


class OfficeApps:
    """The servers' web applications: each answers ``GET /`` on its server's address, :8080.

    ``fail(device)`` makes one answer 500 (the application broke; the server still pings),
    ``repair(device)`` brings it back.
    """

    def __init__(self) -> None:
        self.failing: set[str] = set()
        self._runners: list[web.AppRunner] = []

    async def start(self, province: Province) -> None:
        for device in province.devices():
            if device.app is None:
                continue
            app = web.Application()
            app.router.add_get("/", self._handler(device))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            self._runners.append(runner)
            await _start_site(web.TCPSite(runner, device.address, APP_PORT), device.address)

    def _handler(self, device: DemoDevice) -> Any:
        assert device.app is not None
        title = html.escape(device.app.title)

        async def page(request: web.Request) -> web.Response:
            if device.id in self.failing:
                return web.Response(
                    status=500, text="Lỗi máy chủ nội bộ (sự cố giả lập của netwatch demo)"
                )
            body = f"<!doctype html><meta charset=utf-8><title>{title}</title><h1>{title}</h1>"
            return web.Response(text=body, content_type="text/html")

        return page

    def fail(self, device_id: str) -> None:
        self.failing.add(device_id)

    def repair(self, device_id: str) -> None:
        self.failing.discard(device_id)

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()


async def _start_site(site: web.BaseSite, where: str) -> None:
    try:
        await site.start()
    except OSError as exc:
        raise DemoError(f"cannot listen on {where}: {exc.strerror} (is a demo running?)") from exc


# ---------------------------------------------------------------------------------- mail


@dataclass(frozen=True, slots=True)
class Mail:
    """One received e-mail, decoded for the mailbox page."""

    received: float
    sender: str
    recipients: tuple[str, ...]
    subject: str
    body: str

    def as_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "from": self.sender,
            "to": list(self.recipients),
            "subject": self.subject,
            "body": self.body,
        }


@dataclass
class MailSink:
    """An SMTP server (aiosmtpd) that keeps what it receives, for the mailbox page.

    It stands for the province's mail relay: the daemon's SMTP notifier sends to it on the mail
    server's address, port 2525, without TLS (plain SMTP on loopback only).
    """

    mails: list[Mail] = field(default_factory=list)
    new_mail: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None

    async def start(self, address: str) -> None:
        try:
            from aiosmtpd.smtp import SMTP
        except ImportError as exc:
            raise DemoError(
                "the demo's mail sink needs aiosmtpd: .venv/bin/pip install aiosmtpd"
            ) from exc
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: SMTP(self, hostname="mail.haugiang.demo", enable_SMTPUTF8=True),
                address,
                SMTP_PORT,
            )
        except OSError as exc:
            raise DemoError(f"cannot listen on {address}:{SMTP_PORT}: {exc.strerror}") from exc

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd's hook for a received message (its name is aiosmtpd's)."""
        parsed = message_from_bytes(envelope.original_content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        part = parsed.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part is not None else ""
        mail = Mail(
            received=time.time(),
            sender=str(envelope.mail_from),
            recipients=tuple(str(r) for r in envelope.rcpt_tos),
            subject=str(parsed.get("Subject", "")),
            body=str(body),
        )
        self.mails.append(mail)
        self.new_mail.set()
        log.info("mail sink: received %r for %s", mail.subject, ", ".join(mail.recipients))
        return "250 OK"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


def mailbox_app(sink: MailSink, timezone: str = DEMO_TIMEZONE) -> web.Application:
    """``/``: the received mails, newest first; ``/api/messages``: the same as JSON. Times
    are in the agent's zone (``timezone``), as in the mails themselves and on the status
    page, whatever this machine's own zone."""
    zone = ZoneInfo(timezone)

    async def page(request: web.Request) -> web.Response:
        rows = []
        for mail in reversed(sink.mails):
            when = datetime.fromtimestamp(mail.received, zone).strftime("%H:%M:%S")
            subject, sender = html.escape(mail.subject), html.escape(mail.sender)
            to, body = html.escape(", ".join(mail.recipients)), html.escape(mail.body)
            rows.append(
                f"<article><h2>{subject}</h2><p><b>{when}</b> · từ {sender} · đến {to}</p>"
                f"<pre>{body}</pre></article>"
            )
        empty = "<p>Chưa có thư nào. Sự cố giả lập sẽ gửi thư trong vài phút đầu.</p>"
        text = (
            "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=5>"
            "<title>Hộp thư demo — netwatch</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
            "article{border-bottom:1px solid #ccc}pre{white-space:pre-wrap}</style>"
            f"<h1>Hộp thư demo ({len(sink.mails)} thư)</h1>" + ("".join(rows) or empty)
        )
        return web.Response(text=text, content_type="text/html")

    async def messages(request: web.Request) -> web.Response:
        return web.json_response([m.as_json() for m in sink.mails])

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/api/messages", messages)
    return app


class Mailbox:
    """The mailbox page, served on a socket the host made (``SockSite``) or on an address."""

    def __init__(self, sink: MailSink, timezone: str = DEMO_TIMEZONE) -> None:
        self._runner = web.AppRunner(mailbox_app(sink, timezone), access_log=None)

    async def start(self, sock: socket.socket) -> None:
        await self._runner.setup()
        await _start_site(web.SockSite(self._runner, sock), "the mailbox socket")

    async def stop(self) -> None:
        await self._runner.cleanup()


# ---------------------------------------------------------------------------------- forwarder


class Forwarder:
    """Relays TCP connections from a socket made on the host to an address in the namespace.

    The daemon runs inside the demo's network namespace, where the host's browser cannot reach.
    ``netwatch demo`` binds the status-page port on the host *before* entering the namespace
    and hands the socket down; a socket stays in the namespace it was made in, so accepting on
    it here takes the browser's connections, which this relays to the daemon's own port.
    """

    def __init__(self, sock: socket.socket, host: str, port: int) -> None:
        self._sock = sock
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, sock=self._sock)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # Python 3.11's Server.wait_closed() does not wait for handlers
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            self._tasks.discard(task)
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()
            self._tasks.discard(task)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


def snmp_devices(province: Province) -> list[DemoDevice]:
    return [d for d in province.devices() if d.snmp]
