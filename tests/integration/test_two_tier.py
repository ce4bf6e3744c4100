"""A province after the 2025 reform, run by the real daemon: two levels (province, commune),
and a commune merged from two former wards whose history was recorded under their old ids."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from netwatch.daemon import HISTORY_FILE
from netwatch.history import HistoryStore
from netwatch.models import Status, Transition
from tests.daemon import RunningDaemon, free_port, metric_value, write_config

CONFIG = """
agent: {{listen: "127.0.0.1:{port}", data_dir: {data}, hierarchy: [province, commune]}}
defaults:
  icmp: {{interval: 1s, count: 2, timeout: 500ms, spacing: 50ms}}
alerting:
  severity: {{commune/gateway: critical}}
sites:
  - id: ca-mau
    name: "Tỉnh Cà Mau"
    level: province
    devices: [{{id: core-rtr, address: 127.0.0.1, role: router}}]
    sites:
      - id: lai-hieu
        name: "Phường Lái Hiếu"
        formerly: [phuong-1, phuong-2]
        merged: "{merged}"
        devices: [{{id: lh-rtr, address: 127.0.31.1, role: router}}]
      - id: tan-dan
        name: "Xã Tân Dân"
        devices: [{{id: td-rtr, address: 127.0.32.1, role: router}}]
"""
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def local(at: float) -> str:
    """A config's local date-time (agent.timezone) for epoch seconds ``at``."""
    return datetime.fromtimestamp(at, TZ).strftime("%Y-%m-%d %H:%M:%S")


def seed_history(data: Path, now: float) -> None:
    """The last day before the reform's config: phuong-1 down an hour, phuong-2 up."""
    data.mkdir()
    store = HistoryStore.open(data / HISTORY_FILE)
    store.agent_started(now - 20 * 3600)

    def tr(subject: str, status: Status, hours_ago: float) -> Transition:
        return Transition(subject, "site", Status.UNKNOWN, status, now - hours_ago * 3600)

    store.record(
        [
            tr("phuong-1", Status.UP, 20),
            tr("phuong-2", Status.UP, 20),
            tr("phuong-1", Status.DOWN, 10),
            tr("phuong-1", Status.UP, 9),
        ]
    )
    store.agent_stopped(now - 3600)
    store.close()


def test_two_tier_province_with_a_merged_commune(tmp_path: Path) -> None:
    """Labels, shards, the status page, reports by commune and a merged commune's history."""
    port = free_port()
    data = tmp_path / "data"
    now = time.time()
    seed_history(data, now)
    merged = local(now - 1800)  # the new config was loaded half an hour ago
    config = write_config(tmp_path, CONFIG.format(port=port, data=data, merged=merged))
    with RunningDaemon(config, port) as d:
        d.wait_ready()
        d.wait_for_log("device td-rtr is up", timeout=20)
        d.wait_for_log("device lh-rtr is up", timeout=20)
        metrics = d.get("/metrics")
        labels = {"site": "lai-hieu", "role": "router", "province": "ca-mau"}
        assert metric_value(metrics, "netwatch_device_up", device="lh-rtr", **labels) == 1.0
        assert 'commune="lai-hieu"' in metrics
        assert "district=" not in metrics  # no label for a level the province no longer has

        targets = json.loads(d.get("/sd"))
        assert [t["labels"]["shard"] for t in targets] == ["_agent", "lai-hieu", "tan-dan"]
        shard = d.get("/metrics?shard=tan-dan")
        assert 'device="td-rtr"' in shard
        assert 'device="lh-rtr"' not in shard
        assert 'device="core-rtr"' in d.get("/metrics?shard=_agent")

        page = d.get("/")
        assert "Phường Lái Hiếu" in page
        assert "Xã Tân Dân" in page

        deadline = time.monotonic() + 20
        while True:  # the site's first record is written once the topology settles
            history = json.loads(d.get("/api/v1/history?site=lai-hieu"))
            own = [t for t in history["transitions"] if "subject" not in t]
            if own or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        former = [(t["subject"], t["status"]) for t in history["transitions"] if "subject" in t]
        assert former == [
            ("phuong-1", "up"),
            ("phuong-2", "up"),
            ("phuong-1", "down"),
            ("phuong-1", "up"),
        ]
        assert own, "the merged site's own transitions are listed too"
        assert history["summary"]["formerly"] == ["phuong-1", "phuong-2"]
        assert history["summary"]["merged_at"] is not None  # the last 24 h span the merge
        assert history["summary"]["downtime_own_seconds"] == 3600

        today = datetime.now(TZ).date()
        period = f"from={today - timedelta(days=1)}&to={today + timedelta(days=1)}"
        report = json.loads(d.get(f"/api/v1/report?by=commune&{period}"))
        rows = {r["site"]: r for r in report["rows"]}
        assert set(rows) == {"lai-hieu", "tan-dan"}
        assert rows["lai-hieu"]["formerly"] == ["phuong-1", "phuong-2"]

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "netwatch",
            "report",
            "-c",
            str(config),
            "--by",
            "province",
            "--from",
            str(today - timedelta(days=1)),
            "--to",
            str(today + timedelta(days=1)),
            "--lang",
            "en",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Tỉnh Cà Mau: includes the history of phuong-1, phuong-2, merged into it at" in (
        done.stdout
    )


THREE_TIER = """
agent: {{listen: "127.0.0.1:{port}", data_dir: {data}}}
defaults:
  icmp: {{interval: 1s, count: 2, timeout: 500ms, spacing: 50ms}}
sites:
  - id: ca-mau
    name: "Tỉnh Cà Mau"
    level: province
    devices: [{{id: core-rtr, address: 127.0.0.1, role: router}}]
    sites:
      - id: dam-doi
        name: "Huyện Đầm Dơi"
        devices: [{{id: dd-rtr, address: 127.0.40.1, role: router}}]
        sites:
          - id: phuong-1
            devices: [{{id: p1-rtr, address: 127.0.41.1, role: router}}]
          - id: phuong-2
            devices: [{{id: p2-rtr, address: 127.0.42.1, role: router}}]
"""
AFTER_REFORM = """
agent: {{listen: "127.0.0.1:{port}", data_dir: {data}, hierarchy: [province, commune]}}
defaults:
  icmp: {{interval: 1s, count: 2, timeout: 500ms, spacing: 50ms}}
sites:
  - id: ca-mau
    name: "Tỉnh Cà Mau"
    level: province
    devices: [{{id: core-rtr, address: 127.0.0.1, role: router}},
              {{id: dd-rtr, address: 127.0.40.1, role: router}}]
    sites:
      - id: lai-hieu
        name: "Phường Lái Hiếu"
        formerly: [phuong-1, phuong-2]
        merged: "{merged}"
        devices: [{{id: p1-rtr, address: 127.0.41.1, role: router}},
                  {{id: p2-rtr, address: 127.0.42.1, role: router}}]
"""


def test_a_running_province_moves_to_two_levels_by_a_reload(tmp_path: Path) -> None:
    """Three levels, then the reform's config by SIGHUP: the district label is gone, devices
    keep their history, and the merged commune's history holds its former wards'."""
    port = free_port()
    data = tmp_path / "data"
    config = write_config(tmp_path, THREE_TIER.format(port=port, data=data))
    with RunningDaemon(config, port) as d:
        d.wait_ready()
        d.wait_for_log("device p2-rtr is up", timeout=20)
        d.wait_for_log("device p1-rtr is up", timeout=20)
        assert 'district="dam-doi"' in d.get("/metrics")
        time.sleep(1.5)  # the sites' first records are written
        merged = time.time()
        time.sleep(1.0)
        write_config(tmp_path, AFTER_REFORM.format(port=port, data=data, merged=local(merged)))
        d.signal(signal.SIGHUP)
        d.wait_for_log("config reloaded", timeout=20)
        metrics = d.get("/metrics")
        assert "district=" not in metrics
        assert 'commune="lai-hieu"' in metrics
        history = json.loads(d.get("/api/v1/history?site=lai-hieu"))
        former = {t["subject"] for t in history["transitions"] if "subject" in t}
        assert former == {"phuong-1", "phuong-2"}
        summary = history["summary"]
        assert summary["formerly"] == ["phuong-1", "phuong-2"]
        # Before the merge two wards (two site-seconds a second), then the commune: all up.
        assert summary["availability"] == 1.0
        device = json.loads(d.get("/api/v1/history?device=p1-rtr"))
        assert device["transitions"][0]["status"] == "up"
        assert datetime.fromisoformat(device["transitions"][0]["at"]).timestamp() < merged
