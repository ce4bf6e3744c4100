"""The daemon's stop: parts closed in reverse order, each within a bounded wait, and a second
stop signal cuts every wait short (the real start and run are in tests/integration)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from netwatch.daemon import Close, Daemon, Teardown


def recorder(closed: list[str], name: str, *, fail: bool = False) -> Close:
    async def close() -> None:
        closed.append(name)
        if fail:
            raise OSError("disk gone")

    return close


async def hang() -> None:
    await asyncio.sleep(3600)


async def test_parts_close_in_reverse_order_and_a_failure_stops_nothing_else(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed: list[str] = []
    teardown = Teardown()
    for name in ("history", "outbox", "probes"):
        teardown.push(name, recorder(closed, name, fail=name == "outbox"))
    with caplog.at_level(logging.ERROR, logger="netwatch.daemon"):
        await teardown.close_all()
    assert closed == ["probes", "outbox", "history"]
    assert "stopping outbox failed: OSError('disk gone')" in caplog.text
    await teardown.close_all()  # closing twice closes nothing twice
    assert closed == ["probes", "outbox", "history"]


async def test_a_part_that_does_not_close_in_time_is_cancelled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed: list[str] = []
    teardown = Teardown(timeout=0.05)
    teardown.push("history", recorder(closed, "history"))
    teardown.push("probes", hang)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="netwatch.daemon"):
        await teardown.close_all()
    assert time.monotonic() - started < 1.0
    assert closed == ["history"]
    assert "stopping probes: not done in 0.05s, cancelled" in caplog.text


async def test_a_second_stop_signal_cuts_the_waits_short(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The first SIGTERM ends ``wait``; one more while a part hangs (here for up to an hour)
    ends ``stop`` at once, and the parts after it are still closed."""
    daemon = Daemon(str(tmp_path / "netwatch.yaml"))
    daemon.teardown = Teardown(timeout=3600)
    closed: list[str] = []
    daemon.teardown.push("history", recorder(closed, "history"))
    daemon.teardown.push("probes", hang)
    daemon.signal_stop()
    await asyncio.wait_for(daemon.wait(), 1.0)
    with caplog.at_level(logging.WARNING, logger="netwatch.daemon"):
        stopping = asyncio.create_task(daemon.stop())
        await asyncio.sleep(0.05)
        assert not stopping.done()  # the graceful stop waits for the hanging part
        daemon.signal_stop()
        await asyncio.wait_for(stopping, 1.0)
    assert closed == ["history"]
    assert "second stop signal" in caplog.text
    assert "stopping probes: exit forced, cancelled" in caplog.text
