"""A webhook and SMTP receiver that records what netwatch sends, one JSON line per message.

It runs as a child process *inside* a test's network namespace (where the daemon runs, and where
the test process itself cannot listen), so it is a script, not a fixture:

    python tests/integration/alerting_receiver.py OUT.jsonl --http 127.0.0.1:PORT \
        [--smtp 127.0.0.1:PORT] [--scrape http://127.0.0.1:PORT/metrics --scrape-out S.jsonl]

Each webhook POST becomes ``{"channel": "webhook", "path": ..., "body": {...}}`` and each mail
``{"channel": "email", "to": [...], "subject": ..., "text": ...}``, each with ``received_at``
(epoch seconds). With ``--scrape``, it also reads the daemon's ``/metrics`` twice a second and
records the ``netwatch_device_status`` / ``netwatch_site_status`` series that are 1 (what a
dashboard would have shown at that moment), so a test can say a site was *never* shown down.
With ``--alertmanager URL --alertmanager-out A.jsonl`` it samples an Alertmanager's active
alerts twice a second the same way (``{"at": ..., "devices": [...]}``).
Every line is flushed and fsynced before the 200/250 answer goes back, so a test reading the
file sees everything the daemon was told was received. The file is appended to: a receiver
restarted on the same file keeps the earlier records (the restart test counts over both runs).
It prints ``ready`` on stdout once its listeners are bound, and stops on SIGTERM/SIGINT or when
killed with its namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import time
import urllib.request
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class Recorder:
    """Appends records to the output file; one writer, so lines never interleave."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


class MailHandler:
    """aiosmtpd handler: every accepted message is recorded, decoded (UTF-8 subject and text)."""

    def __init__(self, recorder: Recorder, loop: asyncio.AbstractEventLoop) -> None:
        self._recorder = recorder
        self._loop = loop

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        assert isinstance(raw, bytes)
        msg = message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        body = msg.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        record = {
            "channel": "email",
            "received_at": time.time(),
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "subject": str(msg["Subject"]),
            "message_id": str(msg["Message-ID"]),
            "text": text,
        }
        # Record on the loop thread that also records webhooks: one writer.
        self._loop.call_soon_threadsafe(self._recorder.write, record)
        return "250 OK"


SCRAPE_EVERY = 0.5  # seconds
_STATUS = re.compile(r"^netwatch_(device|site)_status\{(.*)\} 1\.0$")


def statuses(text: str) -> dict[str, str]:
    """``{"device:ab-rtr": "unreachable", "site:an-binh": "unreachable", ...}`` from /metrics."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _STATUS.match(line)
        if match is None:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match[2]))
        subject = labels.get("device") if match[1] == "device" else labels.get("site")
        if subject is not None and "status" in labels:
            found[f"{match[1]}:{subject}"] = labels["status"]
    return found


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=2) as resp:
        body: bytes = resp.read()
        return body.decode()


async def scrape(url: str, recorder: Recorder, stop: asyncio.Event) -> None:
    """Record the statuses on /metrics until stopped; a failed scrape is skipped, not fatal."""
    while not stop.is_set():
        try:
            text = await asyncio.to_thread(_fetch, url)
        except OSError:
            pass  # not listening yet, or stopping
        else:
            recorder.write({"at": time.time(), "status": statuses(text)})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SCRAPE_EVERY)


async def sample_alertmanager(url: str, recorder: Recorder, stop: asyncio.Event) -> None:
    """Record the devices Alertmanager shows firing, until stopped."""
    while not stop.is_set():
        try:
            text = await asyncio.to_thread(_fetch, f"{url}/api/v2/alerts?active=true")
        except OSError:
            pass
        else:
            devices = sorted({a["labels"].get("device", "") for a in json.loads(text)} - {""})
            recorder.write({"at": time.time(), "devices": devices})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SCRAPE_EVERY)


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--http", required=True, help="HOST:PORT for webhooks")
    parser.add_argument("--smtp", help="HOST:PORT for mail")
    parser.add_argument("--scrape", help="the daemon's /metrics URL")
    parser.add_argument("--scrape-out", type=Path, help="where the scraped statuses go")
    parser.add_argument("--alertmanager", help="an Alertmanager's base URL to sample")
    parser.add_argument("--alertmanager-out", type=Path, help="where its samples go")
    args = parser.parse_args()
    recorder = Recorder(args.out)
    loop = asyncio.get_running_loop()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        recorder.write(
            {
                "channel": "webhook",
                "received_at": time.time(),
                "path": request.path,
                "body": json.loads(body.decode()),
            }
        )
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, port = _host_port(args.http)
    await web.TCPSite(runner, host, port).start()
    controller = None
    if args.smtp:
        smtp_host, smtp_port = _host_port(args.smtp)
        controller = Controller(MailHandler(recorder, loop), hostname=smtp_host, port=smtp_port)
        controller.start()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    scraper = None
    if args.scrape and args.scrape_out:
        scraped = Recorder(args.scrape_out)
        scraper = asyncio.create_task(scrape(args.scrape, scraped, stop))
    sampler = None
    if args.alertmanager and args.alertmanager_out:
        sampled = Recorder(args.alertmanager_out)
        sampler = asyncio.create_task(sample_alertmanager(args.alertmanager, sampled, stop))
    print("ready", flush=True)
    await stop.wait()
    if scraper is not None:
        await scraper
        scraped.close()
    if sampler is not None:
        await sampler
        sampled.close()
    if controller is not None:
        controller.stop()
    await runner.cleanup()
    recorder.close()


if __name__ == "__main__":
    asyncio.run(main())
