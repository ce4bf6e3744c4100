"""A province after the 2025 reform, run by the real daemon: two levels (province, commune),
and a commune merged from two former wards whose history was recorded under their old ids."""

from __future__ import annotations

import json
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
        devices: [{{id: lh-rtr, address: 127.0.31.1, role: router}}]
      - id: tan-dan
        name: "Xã Tân Dân"
        devices: [{{id: td-rtr, address: 127.0.32.1, role: router}}]
"""
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


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
    seed_history(data, time.time())
    config = write_config(tmp_path, CONFIG.format(port=port, data=data))
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
        assert history["summary"]["merged_at"] is not None
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
