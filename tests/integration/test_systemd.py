"""The systemd unit's figures, and the notify protocol spoken by a real daemon."""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.daemon import RunningDaemon, free_port, write_config

UNIT = Path("systemd/netwatch.service")
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


@needs_analyze
def test_unit_is_rated_ok_by_systemd_analyze_security() -> None:
    out = subprocess.run(
        [str(ANALYZE), "security", "--offline=true", str(UNIT)],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for netwatch.service: ([0-9.]+)", out.stdout)
    assert match, out.stdout + out.stderr
    assert float(match.group(1)) <= 2.0


@needs_analyze
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify insists that ExecStart exists: point it at this checkout's netwatch.
    netwatch = Path(sys.executable).parent / "netwatch"
    unit = tmp_path / "netwatch.service"
    unit.write_text(UNIT.read_text().replace("/opt/netwatch/bin/netwatch", str(netwatch)))
    out = subprocess.run(
        [str(ANALYZE), "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stderr.strip() == ""


def test_daemon_speaks_sd_notify_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.2)
    port = free_port()
    config = write_config(
        tmp_path,
        f"""
agent: {{listen: "127.0.0.1:{port}", data_dir: {tmp_path}}}
defaults: {{icmp: {{interval: 1s, count: 1, timeout: 500ms}}}}
sites:
  - id: p
    level: province
    devices: [{{id: r1, address: 127.0.0.1, role: router}}]
""",
    )
    # WATCHDOG_USEC=2 s: the daemon pings every second while polling progresses.
    env = {"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "2000000"}
    messages: list[str] = []

    def drain(until: float) -> None:
        while time.monotonic() < until:
            with contextlib.suppress(TimeoutError):
                messages.append(sock.recv(4096).decode())

    try:
        with RunningDaemon(config, port, env=env) as d:
            d.wait_ready()
            drain(time.monotonic() + 3.5)
            code, _ = d.stop()
            drain(time.monotonic() + 0.5)
    finally:
        sock.close()
    assert code == 0
    joined = "\n".join(messages)
    assert "READY=1" in messages[0]
    assert "STATUS=watching 1 device, 0 down" in messages[0]
    assert joined.count("WATCHDOG=1") >= 2
    assert "STOPPING=1" in messages[-1]


def test_unit_raises_the_open_file_limit() -> None:
    match = re.search(r"^LimitNOFILE=(\d+)$", UNIT.read_text(), re.MULTILINE)
    assert match, "LimitNOFILE missing from the unit"
    assert int(match.group(1)) >= 65536


def test_daemon_raises_its_soft_open_file_limit_to_the_hard_one(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(
        tmp_path,
        f"""
agent: {{listen: "127.0.0.1:{port}", data_dir: {tmp_path}}}
sites:
  - id: p
    level: province
    devices: [{{id: r1, address: 127.0.0.1, role: router}}]
""",
    )
    with RunningDaemon(config, port, prefix=["prlimit", "--nofile=1024:8192", "--"]) as d:
        d.wait_ready()
        assert d.proc is not None
        limits = Path(f"/proc/{d.proc.pid}/limits").read_text()
        (line,) = [x for x in limits.splitlines() if x.startswith("Max open files")]
        assert line.split()[3:5] == ["8192", "8192"]
        assert "raised the open-file limit from 1024 to 8192" in d.log
        assert "open-file limit: soft 8192, hard 8192" in d.log
        assert "the open-file limit is low" not in d.log
        code, _ = d.stop()
    assert code == 0


def test_daemon_warns_when_the_open_file_limit_is_low(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(
        tmp_path,
        f"""
agent: {{listen: "127.0.0.1:{port}", data_dir: {tmp_path}}}
sites:
  - id: p
    level: province
    devices: [{{id: r1, address: 127.0.0.1, role: router}}]
""",
    )
    with RunningDaemon(config, port, prefix=["prlimit", "--nofile=1024:1024", "--"]) as d:
        d.wait_ready()
        assert "open-file limit: soft 1024, hard 1024" in d.log
        assert "the open-file limit is low (1024)" in d.log
        assert "LimitNOFILE=65536" in d.log
        assert "raised the open-file limit" not in d.log
        code, _ = d.stop()
    assert code == 0
