"""The real daemon against loopback targets: metrics, promtool, reload, graceful stop."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.daemon import RunningDaemon, free_port, metric_value, netwatch_argv, write_config

CONFIG = """
agent: {{listen: "127.0.0.1:{port}", data_dir: {data}, api_token: {{env: NW_TEST_TOKEN}}}}
defaults:
  icmp: {{interval: 1s, count: 2, timeout: 500ms, spacing: 50ms}}
  down_after: 2
  retry_interval: 300ms
sites:
  - id: can-tho
    name: "TP Cần Thơ"
    level: province
    devices:
      - {{id: core-rtr, address: 127.0.0.1, role: router}}
    sites:
      - id: ninh-kieu
        name: "Quận Ninh Kiều"
        level: district
        devices:
{extra}
          - {{id: nk-rtr, address: 127.0.20.1, role: router}}
"""
TOKEN = "s3cret-test-token"


def config(tmp_path: Path, port: int, extra: str = "") -> Path:
    return write_config(tmp_path, CONFIG.format(port=port, data=tmp_path / "data", extra=extra))


def test_daemon_exports_live_metrics_that_promtool_accepts(tmp_path: Path) -> None:
    port = free_port()
    with RunningDaemon(config(tmp_path, port), port, env={"NW_TEST_TOKEN": TOKEN}) as d:
        d.wait_ready()
        d.wait_for_log("device nk-rtr is up", timeout=10)
        d.wait_for_log("device core-rtr is up", timeout=10)
        text = d.get("/metrics")
        assert (
            metric_value(
                text,
                "netwatch_device_up",
                device="nk-rtr",
                district="ninh-kieu",
                province="can-tho",
                role="router",
                site="ninh-kieu",
            )
            == 1.0
        )
        assert metric_value(text, "netwatch_device_status", device="core-rtr", status="up") == 1.0
        rtt = metric_value(text, "netwatch_icmp_rtt_seconds", device="core-rtr", stat="avg")
        assert rtt is not None
        assert 0 < rtt < 0.05
        assert metric_value(text, "netwatch_polls_total", check="icmp", result="ok")
        assert "netwatch_poll_lag_seconds_bucket" in text
        assert TOKEN not in text
        assert TOKEN not in d.log
        promtool = shutil.which("promtool")
        assert promtool, "promtool is installed by scripts/install-peers"
        lint = subprocess.run(
            [promtool, "check", "metrics"],
            input=text,
            capture_output=True,
            text=True,
            check=False,
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr
        assert lint.stdout.strip() == ""
        assert lint.stderr.strip() == ""
        code, took = d.stop()
    assert code == 0
    assert took < 5.0


def test_reload_adds_and_removes_devices_and_refuses_a_bad_config(tmp_path: Path) -> None:
    port = free_port()
    path = config(tmp_path, port)
    with RunningDaemon(path, port, env={"NW_TEST_TOKEN": TOKEN}) as d:
        d.wait_ready()
        d.wait_for_log("device nk-rtr is up", timeout=10)

        # SIGHUP: add a device.
        config(tmp_path, port, extra="          - {id: nk-sw, address: 127.0.20.2, role: switch}")
        d.signal(signal.SIGHUP)
        d.wait_for_log("1 devices added, 0 removed", timeout=10)
        d.wait_for_log("device nk-sw is up", timeout=10)

        # POST /-/reload without and with the token: remove it again.
        config(tmp_path, port)
        assert d.post("/-/reload")[0] == 401
        assert d.post("/-/reload", token="wrong")[0] == 401
        status, _ = d.post("/-/reload", token=TOKEN)
        assert status == 200
        deadline = time.monotonic() + 5
        while metric_value(d.get("/metrics"), "netwatch_device_up", device="nk-sw") is not None:
            assert time.monotonic() < deadline, "removed device still exported"
            time.sleep(0.1)
        # The unchanged device kept its state: still up, no new "is up" line.
        assert d.log.count("device nk-rtr is up") == 1

        # An invalid config is refused and the old one keeps running.
        path.write_text(path.read_text().replace("role: router", "role: rooter", 1))
        status, body = d.post("/-/reload", token=TOKEN)
        assert status == 400
        assert "rooter" in body
        assert "reload refused" in d.log
        assert metric_value(d.get("/metrics"), "netwatch_device_up", device="core-rtr") == 1.0
        assert d.stop()[0] == 0


def test_reload_over_http_is_disabled_without_a_token(tmp_path: Path) -> None:
    port = free_port()
    path = write_config(
        tmp_path,
        CONFIG.format(port=port, data=tmp_path, extra="").replace(
            ", api_token: {env: NW_TEST_TOKEN}", ""
        ),
    )
    with RunningDaemon(path, port) as d:
        d.wait_ready()
        assert d.post("/-/reload", token="anything")[0] == 403
        assert d.stop()[0] == 0


def test_once_prints_metrics_for_one_device_and_rejects_unknown_ones(tmp_path: Path) -> None:
    path = config(tmp_path, free_port())
    env = {"NW_TEST_TOKEN": TOKEN}
    out = subprocess.run(
        netwatch_argv("-c", str(path), "once", "--device", "core-rtr"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )
    assert out.returncode == 0, out.stderr
    assert metric_value(out.stdout, "netwatch_device_up", device="core-rtr") == 1.0
    bad = subprocess.run(
        netwatch_argv("-c", str(path), "once", "--device", "nope"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )
    assert bad.returncode == 1
    assert "unknown device 'nope'" in bad.stderr


def test_a_busy_port_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        path = config(tmp_path, port)
        out = subprocess.run(
            netwatch_argv("-c", str(path), "run"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "NW_TEST_TOKEN": TOKEN},
        )
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "Traceback" not in out.stderr


def test_check_config_accepts_the_demo_config() -> None:
    out = subprocess.run(
        netwatch_argv("-c", "config/demo.yaml", "check-config"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("config/demo.yaml: OK: ")
