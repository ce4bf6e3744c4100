"""The demo's small things: the banner stays findable, the mailbox shows the agent's time."""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from netwatch.demo import inside
from netwatch.demo.world import Mail, MailSink, mailbox_app

# 2026-11-01 01:30:00 UTC is 08:30 in Asia/Ho_Chi_Minh
RECEIVED = 1793496600.0


@pytest.fixture
def utc_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This machine's own zone is UTC (as on many servers), not the agent's."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("utc_machine")
async def test_the_mailbox_shows_times_in_the_agent_s_zone() -> None:
    """A mail received at 01:30 UTC reads 08:30, as the mail's own "Từ: 08:30" says."""
    sink = MailSink()
    sink.mails.append(Mail(RECEIVED, "netwatch@demo", ("it@demo",), "MẤT KẾT NỐI", "Từ: 08:30"))
    async with TestClient(TestServer(mailbox_app(sink))) as client:
        page = await (await client.get("/")).text()
    assert "<b>08:30:00</b>" in page
    assert "01:30:00" not in page


class FakeIncident:
    """Netwatch's start-up: its log lines arrive while the demo waits for every device up."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.out = OUT

    async def __aenter__(self) -> FakeIncident:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def all_up(self) -> None:
        self.out.write("INFO device core-rtr is up (was unknown)\n" * 50)

    async def play(self) -> None:
        self.out.write("INCIDENT\n")


OUT = io.StringIO()


def test_the_banner_is_shown_again_after_the_start_up_lines(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The URLs come as soon as netwatch answers, and again once the start-up lines are
    over, so the last screen before the incident says where to look."""
    monkeypatch.setattr(inside, "Incident", FakeIncident)
    monkeypatch.setattr(sys, "stdout", OUT)
    args = argparse.Namespace(
        netns=False,
        incident=True,
        listen="127.0.0.1:9430",
        status_url="http://127.0.0.1:9430/",
        mailbox_url="http://127.0.0.1:9431/",
        speed=1.0,
        workdir=tmp_path,
    )
    demo = inside.Inside(args, asyncio.Event())
    asyncio.run(demo.run_incident())
    text = OUT.getvalue()
    startup = text.rindex("is up (was unknown)")
    assert text.count("status page   http://127.0.0.1:9430/") == 2
    assert text.index("status page") < startup < text.rindex("status page") < text.index("INCIDENT")
    counts = "16 communes, 83 devices"
    assert counts in text
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert counts in readme  # the README says what the demo builds
