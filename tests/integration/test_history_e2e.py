"""Planners' numbers from real packets: a device is cut for a measured time inside a namespace;
the report (and its CSV) must show that downtime within one polling interval, and a history
file that is not a database must stop the daemon with a clear message, not be replaced."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.daemon import RunningDaemon, free_port, netwatch_argv, write_config
from tests.netns import Netns

INTERVAL = 1.0  # seconds between ICMP rounds
CONFIG = """
agent: {{listen: "127.0.0.1:{port}", data_dir: {data}}}
defaults:
  icmp: {{interval: 1s, count: 2, timeout: 300ms, spacing: 100ms}}
  down_after: 2
  up_after: 1
  retry_interval: 500ms
sites:
  - id: tinh
    name: "Tỉnh thử nghiệm"
    level: province
    devices:
      - {{id: core-rtr, address: 127.0.0.7, role: router}}
    sites:
      - id: xa-an-binh
        name: "Xã An Bình"
        level: district
        devices:
          - {{id: ab-rtr, address: 127.0.0.5, role: router}}
"""


def report(config: Path, *extra: str, by: str = "device") -> str:
    done = subprocess.run(
        netwatch_argv("-c", str(config), "report", "--by", by,
                      "--from", "2026-01-01", "--to", "2100-01-01", *extra),
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return done.stdout


@pytest.mark.netns
def test_a_measured_cut_shows_in_the_report_within_one_interval(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, CONFIG.format(port=port, data=tmp_path / "data"))
    with Netns() as ns, RunningDaemon(config, port, prefix=ns.argv([])) as d:
        d.wait_for_log("device ab-rtr is up", timeout=20)
        time.sleep(2 * INTERVAL)
        ns.drop("127.0.0.5")
        cut_at = time.monotonic()
        d.wait_for_log("device ab-rtr is down", timeout=20)
        time.sleep(6.0)
        ns.restore("127.0.0.5")
        cut = time.monotonic() - cut_at
        deadline = time.monotonic() + 20
        while d.log.count("device ab-rtr is up") < 2:
            assert time.monotonic() < deadline, d.log[-3000:]
            time.sleep(0.1)
        d.signal(signal.SIGTERM)
        assert d.proc is not None
        assert d.proc.wait(15) == 0

    rows = {r["device"]: r for r in json.loads(report(config, "--format", "json"))["rows"]}
    row = rows["ab-rtr"]
    assert row["outages"] == 1
    assert row["downtime_own_seconds"] == pytest.approx(cut, abs=INTERVAL + 0.5)
    assert rows["core-rtr"]["outages"] == 0
    # The site's own row (its gateway) shows the same outage.
    sites = json.loads(report(config, "--format", "json", by="site"))["rows"]
    site = next(r for r in sites if r["site"] == "xa-an-binh")
    assert site["name"] == "Xã An Bình"
    assert site["outages"] == 1
    # CSV for spreadsheets: UTF-8 with a BOM, diacritics intact, read back by csv.
    raw = subprocess.run(
        netwatch_argv("-c", str(config), "report", "--format", "csv",
                      "--from", "2026-01-01", "--to", "2100-01-01"),
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert raw.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert any("Xã An Bình" in cell for line in table for cell in line)


def test_a_history_file_that_is_not_a_database_stops_the_daemon_and_is_kept(
    tmp_path: Path,
) -> None:
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    junk = b"this is not an SQLite database, but someone's data" * 100
    (data / "history.sqlite").write_bytes(junk)
    config = write_config(tmp_path, CONFIG.format(port=port, data=data))
    done = subprocess.run(
        netwatch_argv("-c", str(config), "run"), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert str(data / "history.sqlite") in done.stderr
    assert "Traceback" not in done.stderr
    assert (data / "history.sqlite").read_bytes() == junk  # never overwritten
