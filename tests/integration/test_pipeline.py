"""The whole chain in the real daemon: a service fails → its state → one alert → a webhook
receiver gets it → it recovers → resolved; the history then reports it; metrics in shards."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.daemon import RunningDaemon, free_port, metric_value, netwatch_argv, write_config

CONFIG = """
agent: {{listen: "127.0.0.1:{port}", data_dir: {data}}}
defaults:
  icmp: {{interval: 1s, count: 2, timeout: 500ms}}
  down_after: 2
  up_after: 1
  retry_interval: 300ms
contacts:
  dc: {{webhook: {{url: "http://127.0.0.1:{hook}/hook"}}}}
  nk: {{webhook: {{url: "http://127.0.0.1:{hook}/hook"}}}}
sites:
  - id: can-tho
    name: "TP Cần Thơ"
    level: province
    contacts: [dc]
    devices:
      - id: portal-srv
        address: 127.0.0.1
        role: server
        services:
          - {{name: mot-cua, http: {{url: "http://127.0.0.1:{web}/health"}}, interval: 1s,
              timeout: 800ms}}
    sites:
      - id: ninh-kieu
        name: "Quận Ninh Kiều"
        level: district
        contacts: [nk]
        devices:
          - {{id: nk-rtr, address: 127.0.20.1, role: router}}
        sites:
          - id: an-binh
            name: "Phường An Bình"
            level: commune
            devices:
              - {{id: ab-rtr, address: 127.0.21.1, role: router}}
      - id: cai-rang
        name: "Quận Cái Răng"
        level: district
        devices:
          - {{id: cr-rtr, address: 127.0.30.1, role: router}}
"""


class Recorder:
    """A local HTTP server: the webhook receiver (POST) and a service whose health we switch."""

    def __init__(self) -> None:
        self.posts: list[dict[str, object]] = []
        self.healthy = True
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code = 200 if recorder.healthy else 503
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with recorder.lock:
                    recorder.posts.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def received(self) -> list[dict[str, object]]:
        with self.lock:
            return list(self.posts)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    r = Recorder()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def wait_until(what: str, predicate: object, timeout: float) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}")


def test_a_failing_service_alerts_once_resolves_and_lands_in_history(
    tmp_path: Path, recorder: Recorder
) -> None:
    port = free_port()
    path = write_config(
        tmp_path,
        CONFIG.format(port=port, data=tmp_path / "data", hook=recorder.port, web=recorder.port),
    )
    with RunningDaemon(path, port) as d:
        d.wait_ready()
        wait_until(
            "service up",
            lambda: (
                metric_value(d.get("/metrics"), "netwatch_service_up", service="mot-cua") == 1.0
            ),
            15,
        )
        wait_until(
            "commune site up",
            lambda: metric_value(d.get("/metrics"), "netwatch_site_up", site="an-binh") == 1.0,
            15,
        )
        text = d.get("/metrics")
        assert metric_value(text, "netwatch_service_status_code", service="mot-cua") == 200.0

        recorder.healthy = False
        d.wait_for_log("service mot-cua on portal-srv is down", timeout=15)
        wait_until("firing webhook", lambda: any(
            p.get("status") == "firing" for p in recorder.received()), 20)  # fmt: skip
        assert metric_value(d.get("/metrics"), "netwatch_service_up", service="mot-cua") == 0.0
        assert metric_value(d.get("/metrics"), "netwatch_alerts_firing", severity="critical") == 1

        recorder.healthy = True
        wait_until("resolved webhook", lambda: any(
            p.get("status") == "resolved" for p in recorder.received()), 20)  # fmt: skip
        code, _ = d.stop()
        assert code == 0

    posts = recorder.received()
    firing = [p for p in posts if p.get("status") == "firing"]
    assert len(firing) == 1, posts  # one alert per incident, to the province's contact only
    assert firing[0]["device"] == "portal-srv"
    assert "mot-cua" in str(firing[0]["summary"])
    # The history has the agent's run: the device row exists and was up.
    out = subprocess.run(
        [*netwatch_argv("-c", str(path), "report", "--by", "device", "--format", "json",
                        "--from", "2026-01-01", "--to", "2100-01-01")],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    rows = {r["device"]: r for r in json.loads(out.stdout)["rows"]}
    assert set(rows) == {"portal-srv", "nk-rtr", "ab-rtr", "cr-rtr"}
    assert rows["nk-rtr"]["availability"] == pytest.approx(1.0)


def test_metrics_served_in_shards_add_up_to_the_whole(tmp_path: Path, recorder: Recorder) -> None:
    port = free_port()
    path = write_config(
        tmp_path,
        CONFIG.format(port=port, data=tmp_path / "data", hook=recorder.port, web=recorder.port),
    )
    with RunningDaemon(path, port) as d:
        d.wait_ready()
        d.wait_for_log("device cr-rtr is up", timeout=15)
        groups = json.loads(d.get("/sd"))
        shards = [g["labels"]["__param_shard"] for g in groups]
        assert shards == ["_agent", "ninh-kieu", "cai-rang"]
        assert all(g["targets"] == [f"127.0.0.1:{port}"] for g in groups)

        def devices(text: str) -> set[str]:
            return {
                line.split('device="')[1].split('"')[0]
                for line in text.splitlines()
                if line.startswith("netwatch_device_up{")
            }

        parts = {s: d.get(f"/metrics?shard={s}") for s in shards}
        assert devices(parts["ninh-kieu"]) == {"nk-rtr", "ab-rtr"}
        assert devices(parts["cai-rang"]) == {"cr-rtr"}
        assert devices(parts["_agent"]) == {"portal-srv"}
        assert devices(d.get("/metrics")) == {"portal-srv", "nk-rtr", "ab-rtr", "cr-rtr"}
        # The agent's own series only in its shard.
        assert "netwatch_poll_lag_seconds" in parts["_agent"]
        assert "netwatch_poll_lag_seconds" not in parts["cai-rang"]
        with pytest.raises(OSError, match="404"):
            d.get("/metrics?shard=nowhere")
