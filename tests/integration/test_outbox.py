"""The durable outbox on a real SQLite file: persistence, retries, dead letters, kill -9."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from prometheus_client import CollectorRegistry

from netwatch.alerting.model import Alert, Delivery
from netwatch.alerting.outbox.outbox import Outbox
from netwatch.alerting.outbox.sending import Backoff
from netwatch.errors import NotifyError
from netwatch.models import Contact
from netwatch.settings.notify import Channel
from tests.daemon import free_port
from tests.integration import outbox_child
from tests.integration.test_notifiers import Inbox

CONTACT = Contact("it", webhook_url="http://127.0.0.1:9/unused")
FAST = Backoff(initial=0.05, factor=2.0, maximum=0.4, jitter=0.0, give_up_after=3600)
ALERT = Alert(id="device:r1:1", state="firing", kind="down", severity="critical", subject="r1",
              subject_kind="device", site="s", site_name="Xã An Bình", started_at=1.0)  # fmt: skip


class Fake:
    """A webhook-channel notifier that fails ``fail`` times (retryable or not), then accepts."""

    channel: Channel = "webhook"

    def __init__(self, fail: int = 0, retryable: bool = True) -> None:
        self.fail, self.retryable = fail, retryable
        self.attempts: list[float] = []
        self.sent: list[tuple[str, str]] = []

    async def send(self, delivery: Delivery, contact: Contact) -> None:
        self.attempts.append(time.monotonic())
        if len(self.attempts) <= self.fail:
            raise NotifyError("peer down", retryable=self.retryable)
        self.sent.append((delivery.alert.id, delivery.alert.state))


@pytest.fixture
async def registry() -> CollectorRegistry:
    return CollectorRegistry()


async def _open(
    path: Path, fake: Fake, registry: CollectorRegistry, backoff: Backoff = FAST
) -> Outbox:
    return await Outbox.open(
        path, notifiers={"webhook": fake}, contacts={"it": CONTACT}, registry=registry,
        backoff=backoff,
    )  # fmt: skip


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def until(predicate: Callable[[], object], limit: float = 10.0) -> None:
    """Poll ``predicate`` (state owned by other tasks and threads) for at most ``limit`` s."""
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - the state changes in other threads too
            await asyncio.sleep(0.02)


def metric(registry: CollectorRegistry, result: str, channel: str = "webhook") -> float:
    value = registry.get_sample_value(
        "netwatch_notifications_total", {"channel": channel, "result": result}
    )
    return value or 0.0


async def test_items_survive_close_and_reopen(tmp_path: Path) -> None:
    db = tmp_path / "outbox.sqlite"
    box = await _open(db, Fake(), CollectorRegistry())
    added = await box.put(Delivery(dataclasses.replace(ALERT, id=f"a{i}"), "it", "webhook")
                          for i in range(3))  # fmt: skip
    await box.close()
    registry = CollectorRegistry()
    box = await _open(db, Fake(), registry)
    try:
        assert added == 3
        assert [e.alert.id for e in await box.entries()] == ["a0", "a1", "a2"]
        assert registry.get_sample_value("netwatch_notification_queue_length") == 3
    finally:
        await box.close()


async def test_flaky_channel_delivers_exactly_once_with_growing_backoff(
    tmp_path: Path, registry: CollectorRegistry, running: list[asyncio.Task[None]]
) -> None:
    fake = Fake(fail=3)
    # Steps of 0.1 s, 0.2 s, 0.4 s: far enough apart to compare on a busy CI machine.
    backoff = dataclasses.replace(FAST, initial=0.1, maximum=1.0)
    box = await _open(tmp_path / "o.sqlite", fake, registry, backoff)
    running.append(asyncio.create_task(box.run()))
    await box.put([Delivery(ALERT, "it", "webhook")])
    await until(lambda: fake.sent)
    await asyncio.sleep(0.3)  # nothing more may arrive
    try:
        assert fake.sent == [(ALERT.id, "firing")]
        gaps = [b - a for a, b in zip(fake.attempts, fake.attempts[1:], strict=False)]
        assert len(gaps) == 3
        assert gaps[0] < gaps[1] < gaps[2], gaps
        assert gaps[0] >= 0.1
        assert gaps[2] >= 0.4
        assert (metric(registry, "retry"), metric(registry, "sent")) == (3, 1)
        assert await box.queue_length() == 0
        assert registry.get_sample_value("netwatch_notification_queue_length") == 0
    finally:
        running.pop().cancel()
        await box.close()


async def test_rejected_delivery_becomes_a_dead_letter(
    tmp_path: Path, registry: CollectorRegistry, running: list[asyncio.Task[None]],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    fake = Fake(fail=99, retryable=False)
    box = await _open(tmp_path / "o.sqlite", fake, registry)
    running.append(asyncio.create_task(box.run()))
    await box.put([Delivery(ALERT, "it", "webhook")])
    await until(lambda: metric(registry, "failed") == 1)
    try:
        [dead] = await box.entries(dead=True)
        assert dead.last_error == "peer down"
        assert dead.attempts == 1
        assert await box.queue_length() == 0
        assert len(fake.attempts) == 1
        assert any("dead letter" in r.getMessage() for r in caplog.records)
    finally:
        await box.close()


async def test_retryable_failures_give_up_after_the_deadline(
    tmp_path: Path, registry: CollectorRegistry, running: list[asyncio.Task[None]]
) -> None:
    fake = Fake(fail=99)
    backoff = dataclasses.replace(FAST, give_up_after=0.3)
    box = await _open(tmp_path / "o.sqlite", fake, registry, backoff=backoff)
    running.append(asyncio.create_task(box.run()))
    await box.put([Delivery(ALERT, "it", "webhook")])
    await until(lambda: metric(registry, "failed") == 1)
    try:
        assert len(fake.attempts) >= 3
        assert metric(registry, "retry") == len(fake.attempts) - 1
    finally:
        await box.close()


async def test_a_re_put_never_duplicates(
    tmp_path: Path, registry: CollectorRegistry, running: list[asyncio.Task[None]]
) -> None:
    fake = Fake()
    box = await _open(tmp_path / "o.sqlite", fake, registry)
    d = Delivery(ALERT, "it", "webhook")
    try:
        assert await box.put([d, d]) == 1  # queued twice in one go
        assert await box.put([d]) == 0  # queued again while pending
        running.append(asyncio.create_task(box.run()))
        await until(lambda: fake.sent)
        assert await box.put([d]) == 0  # and again after it was sent
        reminder = dataclasses.replace(d, alert=dataclasses.replace(ALERT, repeat=1))
        assert await box.put([reminder]) == 1  # a reminder is a new delivery
        await until(lambda: len(fake.sent) == 2)
    finally:
        await box.close()


async def test_recovery_waits_for_its_alarm(
    tmp_path: Path, registry: CollectorRegistry, running: list[asyncio.Task[None]]
) -> None:
    fake = Fake(fail=2)
    box = await _open(tmp_path / "o.sqlite", fake, registry)
    resolved = dataclasses.replace(ALERT, state="resolved", resolved_at=9.0)
    await box.put([Delivery(ALERT, "it", "webhook")])
    await box.put([Delivery(resolved, "it", "webhook")])
    running.append(asyncio.create_task(box.run()))
    await until(lambda: len(fake.sent) == 2)
    try:
        assert fake.sent == [(ALERT.id, "firing"), (ALERT.id, "resolved")]
    finally:
        await box.close()


async def test_unknown_contact_is_a_dead_letter(
    tmp_path: Path, registry: CollectorRegistry, running: list[asyncio.Task[None]]
) -> None:
    box = await _open(tmp_path / "o.sqlite", Fake(), registry)
    running.append(asyncio.create_task(box.run()))
    await box.put([Delivery(ALERT, "gone", "webhook")])
    await until(lambda: metric(registry, "failed") == 1)
    try:
        [dead] = await box.entries(dead=True)
        assert "no longer in the configuration" in dead.last_error
    finally:
        await box.close()


async def test_kill_9_with_smtp_down_then_restart_delivers_all_once(
    tmp_path: Path, running: list[asyncio.Task[None]]
) -> None:
    db, port, count = tmp_path / "outbox.sqlite", free_port(), 20
    child = subprocess.Popen(  # noqa: ASYNC220 - returns at once; the read is in a thread
        [sys.executable, "-m", "tests.integration.outbox_child", str(db), str(port), str(count)],
        stdout=subprocess.PIPE, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 20)
        assert line.strip() == b"queued"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        if child.stdout:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        registry = CollectorRegistry()
        box = await Outbox.open(
            db, notifiers={"email": outbox_child.notifier(port)},
            contacts={outbox_child.CONTACT.name: outbox_child.CONTACT}, registry=registry,
            backoff=FAST,
        )  # fmt: skip
        pending = await box.entries()
        assert len(pending) == count
        assert any(e.attempts > 0 for e in pending)
        running.append(asyncio.create_task(box.run()))
        await until(lambda: len(inbox.mail) >= count, limit=30)
        await until(lambda: registry.get_sample_value("netwatch_notification_queue_length") == 0)
        await asyncio.sleep(0.3)  # a duplicate would arrive now
        ids = sorted(m["X-Netwatch-Alert"] for _, m in inbox.mail)
        assert ids == sorted(a.id for a in outbox_child.alerts(count))
        assert metric(registry, "sent", "email") == count
        running.pop().cancel()
        await box.close()
    finally:
        controller.stop()
