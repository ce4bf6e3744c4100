"""A full disk loses nothing: the real daemon with ``agent.data_dir`` on a small tmpfs that the
test fills during an outage and frees afterwards.

The province of ``test_alerting_e2e`` runs in a network namespace (nftables cuts a commune); the
data directory is a 2 MiB tmpfs mounted for the test (root only) and filled to ENOSPC with a
ballast file. While it is full the alert and its recovery still reach the webhook receiver,
``/-/ready`` says 503 and ``netwatch_storage_ok`` is 0; once the ballast is removed the history
and the outbox catch up (every transition of the outage recorded once), ``/-/ready`` is 200
again, and SIGTERM ends the daemon with exit code 0 and no traceback.
"""

from __future__ import annotations

import errno
import itertools
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon import metric_value
from tests.integration.test_alerting_e2e import (
    ADDRESS,
    CONTACT,
    Options,
    Province,
    behind,
    summary,
    wait_until,
)

pytestmark = pytest.mark.netns

# Run inside the namespace: GET a URL, print the status code and the body.
GET = """
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
"""
STORES = ("outbox", "history", "state")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/data`` on a 2 MiB tmpfs of its own, unmounted afterwards (needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    data = tmp_path / "data"
    data.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(data)], check=True)
    try:
        yield data
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)


def fill(directory: Path) -> Path:
    """Write a ballast file until the file system says ENOSPC (bounded by its 2 MiB)."""
    ballast = directory / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError, match="No space left") as full:  # noqa: PT012
            for _ in range(2 * 1024 * 1024 // 4096 + 16):
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    assert full.value.errno == errno.ENOSPC, full.value
    return ballast


def get(p: Province, path: str) -> tuple[int, str]:
    """A GET from inside the namespace: (status, body)."""
    out = p.ns.run([sys.executable, "-c", GET, f"http://127.0.0.1:{p.port}{path}"], timeout=30)
    status, _, body = out.stdout.partition(" ")
    return int(status), body


def wait_all_up(p: Province, timeout: float = 30.0) -> None:
    """Every device and site up on /metrics (the log repeats "is up" only ten times a minute)."""

    def all_up() -> bool:
        text = p.metrics()
        return all(
            metric_value(text, "netwatch_device_up", device=d) == 1.0 for d in ADDRESS
        ) and all(metric_value(text, "netwatch_site_up", site=s) == 1.0 for s in CONTACT)

    wait_until(all_up, timeout=timeout, what="every device and site up")


def storage(p: Province) -> dict[str, float | None]:
    text = p.metrics()
    return {s: metric_value(text, "netwatch_storage_ok", store=s) for s in STORES}


def test_a_full_disk_during_an_outage_loses_no_alert_and_no_history(
    tmp_path: Path, small_disk: Path
) -> None:
    """Alert and recovery delivered while full; afterwards history and outbox catch up."""
    cut = behind("an-binh")
    with Province(tmp_path, Options(hold="2s")) as p:
        p.start_receiver(scrape=False)
        daemon = p.start_daemon()
        wait_all_up(p)
        assert get(p, "/-/ready")[0] == 200
        assert storage(p) == dict.fromkeys(STORES, 1.0)

        ballast = fill(small_disk)
        full_at = time.time()
        p.cut(*cut)
        hooks = p.wait_hooks(lambda hooks: len(hooks) >= 1, timeout=30)
        assert summary(hooks) == [("xa-an-binh", "down", "firing", "ab-rtr")]
        # The outbox (put) and the state files (saved after it) have failed by now; the
        # history within its retry period (its heartbeat is every 10 s).
        wait_until(lambda: set(storage(p).values()) == {0.0}, timeout=20, what="storage 0")
        status, body = get(p, "/-/ready")
        assert status == 503
        assert "outbox" in body
        assert "history" in body
        p.restore(*cut)
        hooks = p.wait_hooks(lambda hooks: len(hooks) >= 2, timeout=30)
        assert summary(hooks)[1] == ("xa-an-binh", "down", "resolved", "ab-rtr")
        assert all(h["received_at"] > full_at for h in hooks)
        text = p.metrics()
        assert get(p, "/-/ready")[0] == 503  # still full: still not ready
        for store in STORES:
            assert (metric_value(text, "netwatch_storage_errors_total", store=store) or 0) > 0

        ballast.unlink()
        freed_at = time.time()
        deadline = time.monotonic() + 30
        while (now := storage(p)) != dict.fromkeys(STORES, 1.0):
            assert time.monotonic() < deadline, f"{now} after 30 s:\n{daemon.log[-6000:]}"
            time.sleep(0.5)
        assert get(p, "/-/ready")[0] == 200
        time.sleep(2)  # room for a duplicate send, if the catch-up made one
        assert len(p.hooks()) == 2
        code, _ = daemon.stop(timeout=15)
        log = daemon.log

    assert code == 0, log[-4000:]
    assert "Traceback" not in log
    assert "database or disk is full" in log or "No space left" in log
    assert "restarting it in" not in log  # no outbox task died

    with sqlite3.connect(small_disk / "history.sqlite") as conn:
        rows = conn.execute(
            "SELECT kind, subject, at, status FROM transitions"
            " WHERE subject IN ('ab-rtr', 'ab-pc', 'an-binh') AND at >= ? ORDER BY at",
            (full_at,),
        ).fetchall()
        with sqlite3.connect(small_disk / "outbox.sqlite") as outbox:
            pending = outbox.execute("SELECT count(*) FROM outbox").fetchone()[0]
            sent = outbox.execute("SELECT count(*) FROM sent").fetchone()[0]
    assert len(rows) == len(set(rows)), rows  # no duplicates
    by_subject: dict[str, list[str]] = {}
    for _, subject, at, status_ in rows:
        assert at < freed_at, rows  # recorded as it happened, while the disk was full
        by_subject.setdefault(subject, []).append(status_)
    # The engine may show a subject unreachable before down (its parent not yet settled).
    for subject in ("ab-rtr", "an-binh", "ab-pc"):
        statuses = by_subject[subject]
        assert statuses[-1] == "up", rows
        assert set(statuses[:-1]) <= {"down", "unreachable"}, rows
        assert statuses[:-1], rows
        assert all(a != b for a, b in itertools.pairwise(statuses)), rows  # none twice
    assert "down" in by_subject["ab-rtr"]
    assert pending == 0
    assert sent >= 2  # both messages remembered: a re-put would not send them again


def test_sigterm_while_the_disk_is_still_full_exits_cleanly_and_counts_what_is_lost(
    tmp_path: Path, small_disk: Path
) -> None:
    """Stopped on a full disk: exit code 0, no traceback, what stays unwritten is counted."""
    with Province(tmp_path, Options(hold="2s")) as p:
        p.start_receiver(scrape=False)
        daemon = p.start_daemon()
        wait_all_up(p)
        fill(small_disk)
        p.cut(*behind("an-binh"))
        hooks = p.wait_hooks(lambda hooks: len(hooks) >= 1, timeout=30)
        assert summary(hooks) == [("xa-an-binh", "down", "firing", "ab-rtr")]
        daemon.wait_for_log("history: cannot write to", timeout=15)
        code, took = daemon.stop(timeout=15)
        log = daemon.log

    assert code == 0, log[-4000:]
    assert took < 10
    assert "Traceback" not in log
    assert "records could not be written to" in log  # the history's count of what it lost
    assert "cannot be written at shutdown" in log  # the outbox's
    assert "netwatch stopped" in log
