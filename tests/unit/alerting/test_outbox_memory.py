"""The outbox on a disk that fills up: deliveries held in memory, still sent, written back in
order once space returns; its tasks restarted when they die.

The database is a real SQLite file whose connection (``Disk``) raises what SQLite raises on a
full disk ("database or disk is full") for every write while ``full`` is set; reads still
work, as they do on a real full disk.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, get_args

import pytest
from prometheus_client import CollectorRegistry, Counter

from netwatch.alerting.model import Alert, Delivery
from netwatch.alerting.outbox.outbox import Outbox
from netwatch.alerting.outbox.sending import Backoff, supervise
from netwatch.errors import NotifyError
from netwatch.models import Contact
from netwatch.settings.notify import Channel

CONTACT = Contact("it", webhook_url="http://127.0.0.1:9/unused")
FAST = Backoff(initial=0.05, factor=2.0, maximum=0.2, jitter=0.0, give_up_after=3600)
READS = ("SELECT", "PRAGMA")


def alert(n: int, state: str = "firing") -> Alert:
    return Alert(id=f"device:r{n}:1", state=state, kind="down", severity="critical",  # type: ignore[arg-type]
                 subject=f"r{n}", subject_kind="device", site="s", site_name="Xã An Bình",
                 started_at=1.0)  # fmt: skip


class Disk(sqlite3.Connection):
    """A connection whose writes fail while ``full``; ``crash`` makes the next N due-queries
    raise a bug (not a database error), as a worker-killing defect would."""

    full = False
    crash = 0
    io_error = False  # the due-query fails as on a failing disk
    slow = 0.0  # seconds each write of held items takes (in the database thread)
    writing = threading.Event()  # set when a slow write began

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        cls = type(self)
        if cls.crash and "FROM outbox o" in sql:
            cls.crash -= 1
            raise RuntimeError("a bug in the worker")
        if cls.io_error and "FROM outbox o" in sql:
            raise sqlite3.OperationalError("disk I/O error")
        if cls.full and not sql.lstrip().upper().startswith(READS):
            raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        if type(self).full:
            raise sqlite3.OperationalError("database or disk is full")
        if "INSERT OR IGNORE INTO outbox" in sql and type(self).slow:
            type(self).writing.set()
            time.sleep(type(self).slow)
        return super().executemany(sql, parameters)


class Fake:
    """A webhook notifier: fails the first ``fail`` attempts (retryable; only those of alerts
    in ``state`` if given), then accepts."""

    channel: Channel = "webhook"

    def __init__(
        self, fail: int = 0, state: str | None = None, gate: asyncio.Event | None = None
    ) -> None:
        self.fail, self.state, self.gate = fail, state, gate
        self.attempts = 0
        self.times: list[float] = []
        self.sent: list[tuple[str, str]] = []

    async def send(self, delivery: Delivery, contact: Contact) -> None:
        self.times.append(time.monotonic())
        if self.state is None or delivery.alert.state == self.state:
            self.attempts += 1
            if self.attempts <= self.fail:
                raise NotifyError("peer down")
        if self.gate is not None:
            await self.gate.wait()
        self.sent.append((delivery.alert.id, delivery.alert.state))


@pytest.fixture
def disk() -> type[Disk]:
    """A fresh ``Disk`` class per test (its switches are class attributes)."""
    return type("TestDisk", (Disk,), {"writing": threading.Event()})


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def open_outbox(
    tmp_path: Path, fake: Fake, registry: CollectorRegistry, disk: type[Disk], **kw: Any
) -> Outbox:
    return await Outbox.open(
        tmp_path / "outbox.sqlite", notifiers={"webhook": fake}, contacts={"it": CONTACT},
        registry=registry, backoff=FAST, factory=disk, storage_retry=0.05, restart_delay=0.01,
        **kw,
    )  # fmt: skip


async def until(predicate: Callable[[], object], limit: float = 5.0) -> None:
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - state changes in tasks and the DB thread
            await asyncio.sleep(0.01)


def stored(tmp_path: Path, table: str = "outbox") -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "outbox.sqlite") as conn:
        if table == "sent":
            return conn.execute("SELECT key FROM sent ORDER BY key").fetchall()
        return conn.execute(
            "SELECT key, attempts, dead_at IS NOT NULL FROM outbox ORDER BY id"
        ).fetchall()


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_a_put_on_a_full_disk_is_sent_anyway_and_remembered_when_space_returns(
    tmp_path: Path, registry: CollectorRegistry, disk: type[Disk],
    running: list[asyncio.Task[None]],
) -> None:  # fmt: skip
    """The alert raised while the disk is full goes out; afterwards its key is in `sent`."""
    fake = Fake()
    outbox = await open_outbox(tmp_path, fake, registry, disk)
    disk.full = True
    assert await outbox.put([Delivery(alert(1), "it", "webhook")]) == 1
    assert not outbox.storage_ok
    running.append(asyncio.create_task(outbox.run()))
    await until(lambda: fake.sent)
    assert fake.sent == [("device:r1:1", "firing")]
    assert not outbox.storage_ok  # the sent key is still only in memory
    assert outbox.storage_errors >= 1
    assert await outbox.put([Delivery(alert(1), "it", "webhook")]) == 0  # no duplicate
    disk.full = False
    await until(lambda: outbox.storage_ok)
    assert stored(tmp_path) == []
    assert stored(tmp_path, "sent") == [("device:r1:1|firing||it|webhook|0",)]
    await asyncio.sleep(0.2)
    assert fake.sent == [("device:r1:1", "firing")]  # sent once
    await outbox.close()


async def test_a_failed_reschedule_keeps_the_worker_and_the_retry(
    tmp_path: Path, registry: CollectorRegistry, disk: type[Disk],
    running: list[asyncio.Task[None]],
) -> None:  # fmt: skip
    """The row is stored, the disk fills, the send fails twice: the retries still happen."""
    fake = Fake(fail=2)
    outbox = await open_outbox(tmp_path, fake, registry, disk)
    await outbox.put([Delivery(alert(1), "it", "webhook")])
    disk.full = True
    running.append(asyncio.create_task(outbox.run()))
    await until(lambda: fake.sent)
    assert fake.attempts == 3
    assert fake.times[1] - fake.times[0] >= 0.04  # the retry waited its backoff (0.05 s)
    assert fake.times[2] - fake.times[1] >= 0.09  # (0.1 s)
    assert value(registry, "netwatch_notifications_total", channel="webhook", result="retry") == 2
    assert value(registry, "netwatch_outbox_restarts_total", task="outbox-webhook") == 0
    assert stored(tmp_path) == [("device:r1:1|firing||it|webhook|0", 0, 0)]  # not written yet
    assert await outbox.queue_length() == 0
    disk.full = False
    await until(lambda: outbox.storage_ok)
    assert stored(tmp_path) == []
    await asyncio.sleep(0.2)
    assert fake.attempts == 3  # the sent row whose delete failed was not sent again
    await outbox.close()


async def test_held_deliveries_are_written_in_put_order_with_their_attempts(
    tmp_path: Path, registry: CollectorRegistry, disk: type[Disk],
    running: list[asyncio.Task[None]],
) -> None:  # fmt: skip
    """What memory held reaches the file in put order, attempts counted, nothing twice."""
    fake = Fake(fail=10_000)
    outbox = await open_outbox(tmp_path, fake, registry, disk)
    disk.full = True
    await outbox.put([Delivery(alert(1), "it", "webhook"), Delivery(alert(2), "it", "webhook")])
    await outbox.put([Delivery(alert(1, "resolved"), "it", "webhook")])
    running.append(asyncio.create_task(outbox.run()))
    await until(lambda: fake.attempts >= 4)
    assert await outbox.queue_length() == 3
    disk.full = False
    await until(lambda: outbox.storage_ok)
    rows = stored(tmp_path)
    assert [r[0].split("|")[:2] for r in rows] == [
        ["device:r1:1", "firing"], ["device:r2:1", "firing"], ["device:r1:1", "resolved"]
    ]  # fmt: skip
    assert rows[0][1] >= 2
    assert rows[1][1] >= 2
    assert rows[2][1] == 0  # the recovery waited for its alarm
    await outbox.close()


async def test_a_recovery_held_in_memory_never_overtakes_its_alarm(
    tmp_path: Path, registry: CollectorRegistry, disk: type[Disk],
    running: list[asyncio.Task[None]],
) -> None:  # fmt: skip
    """Alarm stored while the disk was fine and failing; recovery held: alarm goes first."""
    fake = Fake(fail=2, state="firing")
    outbox = await open_outbox(tmp_path, fake, registry, disk)
    await outbox.put([Delivery(alert(1), "it", "webhook")])
    disk.full = True
    await outbox.put([Delivery(alert(1, "resolved"), "it", "webhook")])
    running.append(asyncio.create_task(outbox.run()))
    await until(lambda: len(fake.sent) == 2)
    assert fake.sent == [("device:r1:1", "firing"), ("device:r1:1", "resolved")]
    await outbox.close()


async def test_memory_is_bounded_the_oldest_dropped_counted_and_logged(
    tmp_path: Path, registry: CollectorRegistry, disk: type[Disk],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """Past the bound the oldest held delivery goes: one counted drop, one line naming it."""
    outbox = await open_outbox(tmp_path, Fake(), registry, disk, memory_limit=2)
    disk.full = True
    with caplog.at_level(logging.ERROR, logger="netwatch.alerting.outbox"):
        await outbox.put([Delivery(alert(n), "it", "webhook") for n in (1, 2, 3)])
    assert value(registry, "netwatch_notifications_dropped_total", channel="webhook") == 1
    assert [e.alert.id for e in await outbox.entries()] == ["device:r2:1", "device:r3:1"]
    assert "dropped notification device:r1:1" in caplog.text
    await outbox.close()


async def test_a_full_disk_is_logged_once_not_per_failure(
    tmp_path: Path, registry: CollectorRegistry, disk: type[Disk],
    running: list[asyncio.Task[None]], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """Many failed writes in a minute: one error line; one line when writing works again."""
    outbox = await open_outbox(tmp_path, Fake(fail=10_000), registry, disk)
    disk.full = True
    with caplog.at_level(logging.WARNING, logger="netwatch.alerting.outbox"):
        running.append(asyncio.create_task(outbox.run()))
        for n in range(5):
            await outbox.put([Delivery(alert(n), "it", "webhook")])
        await asyncio.sleep(0.3)  # the flusher retries every 0.05 s
        assert outbox.storage_errors >= 5
        disk.full = False
        await until(lambda: outbox.storage_ok)
    lines = [r.getMessage() for r in caplog.records if "outbox.sqlite" in r.getMessage()]
    assert len([m for m in lines if "cannot write to" in m]) == 1
    assert len([m for m in lines if "writing to" in m and "again" in m]) == 1
    await outbox.close()


async def test_a_worker_that_dies_is_restarted_and_counted(
    tmp_path: Path, registry: CollectorRegistry, disk: type[Disk],
    running: list[asyncio.Task[None]], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A bug kills the webhook worker twice: it is restarted each time and still delivers."""
    fake = Fake()
    outbox = await open_outbox(tmp_path, fake, registry, disk)
    disk.crash = 2
    with caplog.at_level(logging.ERROR, logger="netwatch.alerting.outbox"):
        running.append(asyncio.create_task(outbox.run()))
        await outbox.put([Delivery(alert(1), "it", "webhook")])
        await until(lambda: fake.sent)
    # Every worker runs the due query: the two crashes hit whichever ran first.
    restarts = sum(
        value(registry, "netwatch_outbox_restarts_total", task=f"outbox-{c}")
        for c in ("email", "telegram", "webhook", "alertmanager", "log")
    )
    assert restarts == 2
    assert caplog.text.count("stopped (raised RuntimeError); restarting") == 2
    assert not running[0].done()
    await outbox.close()


async def test_restarts_back_off_while_a_task_keeps_dying(registry: CollectorRegistry) -> None:
    """A task that dies at once every time is restarted after 0.01, 0.02, 0.04... s."""
    starts: list[float] = []

    async def dies() -> None:
        starts.append(time.monotonic())
        raise RuntimeError("bug")

    restarts = Counter("netwatch_outbox_restarts", "test", ["task"], registry=registry)
    task = asyncio.create_task(supervise("test", dies, restarts=restarts, restart_delay=0.01))
    await until(lambda: len(starts) >= 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps[3] > gaps[0] * 4
    assert value(registry, "netwatch_outbox_restarts_total", task="test") >= 4


async def test_close_on_a_full_disk_logs_what_is_lost_and_does_not_raise(
    tmp_path: Path, registry: CollectorRegistry, disk: type[Disk],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """Shutdown with two deliveries only in memory: no exception, one line with the count."""
    outbox = await open_outbox(tmp_path, Fake(), registry, disk)
    disk.full = True
    await outbox.put([Delivery(alert(n), "it", "webhook") for n in (1, 2)])
    with caplog.at_level(logging.ERROR, logger="netwatch.alerting.outbox"):
        await outbox.close()
    assert "lost 2 unsent notification(s)" in caplog.text


async def test_close_writes_what_memory_holds_when_space_returned(
    tmp_path: Path, registry: CollectorRegistry, disk: type[Disk]
) -> None:
    """Space came back just before shutdown: the held deliveries are in the file after it."""
    outbox = await open_outbox(tmp_path, Fake(), registry, disk)
    disk.full = True
    await outbox.put([Delivery(alert(n), "it", "webhook") for n in (1, 2)])
    disk.full = False
    await outbox.close()
    assert len(stored(tmp_path)) == 2


async def test_a_held_delivery_sent_while_it_is_being_written_is_not_sent_again(
    tmp_path: Path, registry: CollectorRegistry, disk: type[Disk],
    running: list[asyncio.Task[None]],
) -> None:  # fmt: skip
    """Space returns; the send of a held delivery ends during the (slow) write of it: the
    row written as pending is then marked sent, and the delivery is never sent again."""
    gate = asyncio.Event()
    fake = Fake(gate=gate)
    outbox = await open_outbox(tmp_path, fake, registry, disk)
    disk.full = True
    await outbox.put([Delivery(alert(1), "it", "webhook")])
    running.append(asyncio.create_task(outbox.run()))
    await until(lambda: fake.times)  # the send is under way, held at the gate
    disk.slow = 0.3
    disk.full = False  # the flusher (every 0.05 s) starts writing the held delivery
    await until(disk.writing.is_set)
    gate.set()  # the send succeeds while the write is in the database thread
    await until(lambda: fake.sent)
    await until(lambda: outbox.storage_ok)
    await asyncio.sleep(0.3)
    assert fake.sent == [("device:r1:1", "firing")]
    assert stored(tmp_path) == []
    assert stored(tmp_path, "sent") == [("device:r1:1|firing||it|webhook|0",)]
    await outbox.close()


async def test_a_held_delivery_in_flight_across_its_write_is_marked_sent_in_the_file(
    tmp_path: Path, registry: CollectorRegistry, disk: type[Disk],
    running: list[asyncio.Task[None]],
) -> None:  # fmt: skip
    """The held delivery is written while its send is still under way; the send then ends:
    the stored row is deleted and it is not sent again."""
    gate = asyncio.Event()
    fake = Fake(gate=gate)
    outbox = await open_outbox(tmp_path, fake, registry, disk)
    disk.full = True
    await outbox.put([Delivery(alert(1), "it", "webhook")])
    running.append(asyncio.create_task(outbox.run()))
    await until(lambda: fake.times)
    disk.full = False
    await until(lambda: outbox.storage_ok)  # written while in flight
    assert stored(tmp_path) == [("device:r1:1|firing||it|webhook|0", 0, 0)]
    gate.set()
    await until(lambda: stored(tmp_path) == [])
    await asyncio.sleep(0.3)
    assert fake.sent == [("device:r1:1", "firing")]
    await outbox.close()


async def test_a_failing_read_is_reported_and_clears_when_the_file_works_again(
    tmp_path: Path, registry: CollectorRegistry, disk: type[Disk],
    running: list[asyncio.Task[None]],
) -> None:  # fmt: skip
    """Reading due rows fails (I/O error): storage not ok, the worker lives on; afterwards the
    delivery goes out and storage is ok again, with nothing held in memory."""
    fake = Fake()
    outbox = await open_outbox(tmp_path, fake, registry, disk)
    disk.io_error = True
    running.append(asyncio.create_task(outbox.run()))
    await outbox.put([Delivery(alert(1), "it", "webhook")])
    await until(lambda: not outbox.storage_ok)
    assert "disk I/O error" in (outbox.storage_error or "")
    # Every channel's worker fails its first read once; count only what comes after.
    await until(lambda: outbox.storage_errors >= len(get_args(Channel)))
    errors = outbox.storage_errors
    await asyncio.sleep(0.2)
    assert outbox.storage_errors - errors <= 5  # retried every 0.05 s, not in a busy loop
    disk.io_error = False
    await until(lambda: fake.sent)
    await until(lambda: outbox.storage_ok)
    assert value(registry, "netwatch_outbox_restarts_total", task="outbox-webhook") == 0
    await outbox.close()
