"""The real daemon receiving traps from snmptrap: the re-poll they cause, the metrics, the page."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.daemon import RunningDaemon, free_port, metric_value, write_config
from tests.snmpd import free_udp_port, tool_env

pytestmark = pytest.mark.peer

COMMUNITY = "trap-s3cret-daemon"
CONFIG = """
agent: {{listen: "127.0.0.1:{port}", data_dir: {data}, language: en}}
defaults:
  icmp: {{interval: 1h, count: 1, timeout: 500ms}}
traps:
  listen: "127.0.0.1:{trap_port}"
  communities: [{{env: NW_TRAP_COMMUNITY}}, {{file: {community_file}}}]
sites:
  - id: can-tho
    level: province
    devices:
      - {{id: core-rtr, address: 127.0.0.1, role: router}}
      - {{id: quiet-sw, address: 127.0.0.2, role: switch}}
"""


def icmp_polls(text: str) -> float:
    return sum(
        metric_value(text, "netwatch_polls_total", check="icmp", result=r) or 0.0
        for r in ("ok", "failed")
    )


def test_a_trap_makes_the_daemon_poll_its_device_at_once(tmp_path: Path) -> None:
    """With a 1-hour interval (the first poll at a random point of it), a linkDown trap from
    core-rtr is followed by a poll of it within a second or two; it is counted by kind with
    the device's labels and shown on the device page and in the API; a bad community and an
    unknown source are counted and change nothing; the community never appears in the log or
    the metrics."""
    if shutil.which("snmptrap") is None:
        pytest.skip("net-snmp's snmptrap is not installed (Debian package snmp)")
    port, trap_port = free_port(), free_udp_port()
    community_file = tmp_path / "trap-community"
    community_file.write_text("second-community\n")
    text = CONFIG.format(
        port=port, data=tmp_path / "data", trap_port=trap_port, community_file=community_file
    )
    env = {"NW_TRAP_COMMUNITY": COMMUNITY}
    tools = tool_env(tmp_path)

    def trap(community: str, oid: str) -> None:
        subprocess.run(
            ["snmptrap", "-v", "2c", "-c", community, f"udp:127.0.0.1:{trap_port}", "", oid,
             "1.3.6.1.2.1.2.2.1.1.3", "i", "3"],
            env=tools, check=True, capture_output=True, timeout=10,
        )  # fmt: skip

    with RunningDaemon(write_config(tmp_path, text), port, env=env) as d:
        d.wait_ready()
        time.sleep(0.5)
        before = icmp_polls(d.get("/metrics"))
        assert "device core-rtr is up" not in d.log  # not polled yet (almost surely)

        sent = time.monotonic()
        trap(COMMUNITY, "1.3.6.1.6.3.1.1.5.3")
        d.wait_for_log("trap link_down (1.3.6.1.6.3.1.1.5.3) from device core-rtr", timeout=5)
        deadline = sent + 3.0
        while icmp_polls(d.get("/metrics")) < before + 1:
            assert time.monotonic() < deadline, "no poll after the trap"
            time.sleep(0.05)
        polled_after = time.monotonic() - sent
        d.wait_for_log("device core-rtr is up", timeout=5)
        trap("second-community", "1.3.6.1.4.1.318.0.5")  # the file's community is taken too
        d.wait_for_log("trap ups_on_battery", timeout=5)

        trap("wrong-community", "1.3.6.1.6.3.1.1.5.3")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.99", 0))
            sock.sendto(b"\x30\x03\x02\x01\x01", ("127.0.0.1", trap_port))
        d.wait_for_log("unknown_source", timeout=5)
        d.wait_for_log("community not accepted", timeout=5)

        metrics = d.get("/metrics")
        labels = {"device": "core-rtr", "site": "can-tho", "province": "can-tho", "role": "router"}
        assert metric_value(metrics, "netwatch_snmp_traps_total", kind="link_down", **labels) == 1
        assert metric_value(metrics, "netwatch_snmp_traps_total", kind="ups_on_battery") == 1
        assert metric_value(metrics, "netwatch_snmp_traps_total", device="quiet-sw") is None
        dropped = "netwatch_snmp_traps_dropped_total"
        assert metric_value(metrics, dropped, reason="community") == 1
        assert metric_value(metrics, dropped, reason="unknown_source") == 1
        assert metric_value(metrics, dropped, reason="malformed") == 0
        assert "device core-rtr is down" not in d.log  # a trap alone raises nothing

        detail = json.loads(d.get("/api/v1/devices/core-rtr"))
        assert [t["kind"] for t in detail["traps"]] == ["ups_on_battery", "link_down"]
        assert detail["traps"][1]["oid"] == "1.3.6.1.6.3.1.1.5.3"
        assert detail["traps"][1]["pdu"] == "trap"
        assert "1.3.6.1.2.1.2.2.1.1.3=3" in detail["traps"][1]["detail"]
        assert json.loads(d.get("/api/v1/devices/quiet-sw"))["traps"] == []
        page = d.get("/devices/core-rtr")
        assert 'id="traps"' in page
        assert "link_down" in page

        lint = subprocess.run(
            ["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        assert lint.returncode == 0, lint.stdout + lint.stderr
        for secret in (COMMUNITY, "second-community"):
            assert secret not in d.log
            assert secret not in metrics
        assert d.stop()[0] == 0
    assert polled_after < 3.0
