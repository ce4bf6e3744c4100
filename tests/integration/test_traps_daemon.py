"""The real daemon receiving traps from snmptrap: the re-poll they cause, the metrics, the page."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.daemon import RunningDaemon, free_port, metric_value, write_config
from tests.snmpd import free_udp_port, tool_env

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(
        shutil.which("snmptrap") is None,
        reason="net-snmp's snmptrap is not installed (Debian package snmp)",
    ),
]

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


def test_a_reload_takes_new_communities_and_devices(tmp_path: Path) -> None:
    """After SIGHUP, a community changed in its file and a device added are used: a trap
    with the old community is dropped, one from the new device's address is taken."""
    port, trap_port = free_port(), free_udp_port()
    community_file = tmp_path / "trap-community"
    community_file.write_text("first-community\n")
    text = CONFIG.format(
        port=port, data=tmp_path / "data", trap_port=trap_port, community_file=community_file
    )
    path = write_config(tmp_path, text)
    tools = tool_env(tmp_path)

    def trap(community: str, source: str) -> None:
        datagram = subprocess.run(  # what snmptrap sends, caught and re-sent from ``source``
            [sys.executable, "-c", CATCH, community], env=tools, check=True,
            capture_output=True, timeout=20,
        ).stdout  # fmt: skip
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((source, 0))
            sock.sendto(datagram, ("127.0.0.1", trap_port))

    with RunningDaemon(path, port, env={"NW_TRAP_COMMUNITY": COMMUNITY}) as d:
        d.wait_ready()
        trap("first-community", "127.0.0.3")
        d.wait_for_log("unknown_source", timeout=5)
        community_file.write_text("second-community\n")
        extra = "      - {id: new-rtr, address: 127.0.0.3, role: router}\n"
        path.write_text(text + extra)
        d.signal(signal.SIGHUP)
        d.wait_for_log("1 devices added", timeout=10)
        trap("first-community", "127.0.0.1")
        d.wait_for_log("community not accepted", timeout=5)
        trap("second-community", "127.0.0.3")
        d.wait_for_log("trap link_down (1.3.6.1.6.3.1.1.5.3) from device new-rtr", timeout=5)
        metrics = d.get("/metrics")
        assert metric_value(metrics, "netwatch_snmp_traps_total", device="new-rtr") == 1
        assert metric_value(metrics, "netwatch_snmp_traps_total", device="core-rtr") is None
        assert d.stop()[0] == 0


# Prints (to stdout, raw) the datagram snmptrap sends with the community in argv[1].
CATCH = """
import socket, subprocess, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); s.settimeout(10)
subprocess.run(["snmptrap", "-v", "2c", "-c", sys.argv[1], f"udp:127.0.0.1:{s.getsockname()[1]}",
                "", "1.3.6.1.6.3.1.1.5.3"], check=True, capture_output=True, timeout=10)
sys.stdout.buffer.write(s.recv(65535))
"""


CONFIG_V3 = """
agent: {{listen: "127.0.0.1:{port}", data_dir: {data}, language: en}}
defaults:
  icmp: {{interval: 1h, count: 1, timeout: 500ms}}
traps:
  listen: "127.0.0.1:{trap_port}"
  users:
    - {{name: ops, auth_protocol: sha256, auth_password: {{env: NW_V3_AUTH}},
       priv_protocol: aes, priv_password: {{file: {priv_file}}}}}
sites:
  - id: can-tho
    level: province
    devices:
      - {{id: core-rtr, address: 127.0.0.1, role: router}}
"""
V3_AUTH = "v3-daemon-auth-s3cret"
V3_PRIV = "v3-daemon-priv-s3cret"


def test_a_v3_trap_and_inform_make_the_daemon_poll_and_a_wrong_password_does_not(
    tmp_path: Path,
) -> None:
    """An authPriv SHA-256/AES trap polls core-rtr at once; an inform is acknowledged (with
    the engine id kept in data_dir); a wrong password is counted as ``auth``; no password in
    the log or the metrics."""
    port, trap_port = free_port(), free_udp_port()
    priv_file = tmp_path / "v3-priv"
    priv_file.write_text(V3_PRIV + "\n")
    text = CONFIG_V3.format(
        port=port, data=tmp_path / "data", trap_port=trap_port, priv_file=priv_file
    )
    tools = tool_env(tmp_path)
    target = f"udp:127.0.0.1:{trap_port}"

    def send(tool: str, auth: str, *extra: str) -> int:
        return subprocess.run(
            [tool, "-v", "3", "-u", "ops", "-l", "authPriv", "-a", "SHA-256", "-A", auth,
             "-x", "AES", "-X", V3_PRIV, *extra, target, "", "1.3.6.1.6.3.1.1.5.3"],
            env=tools, check=False, capture_output=True, timeout=20,
        ).returncode  # fmt: skip

    with RunningDaemon(write_config(tmp_path, text), port, env={"NW_V3_AUTH": V3_AUTH}) as d:
        d.wait_ready()
        time.sleep(0.5)
        before = icmp_polls(d.get("/metrics"))
        sent = time.monotonic()
        assert send("snmptrap", V3_AUTH, "-e", "0x80001f8804736e6d7074") == 0
        d.wait_for_log("trap link_down (1.3.6.1.6.3.1.1.5.3) from device core-rtr", timeout=5)
        while icmp_polls(d.get("/metrics")) < before + 1:
            assert time.monotonic() < sent + 3.0, "no poll after the v3 trap"
            time.sleep(0.05)
        assert send("snmpinform", V3_AUTH, "-r", "1", "-t", "2") == 0
        assert send("snmpinform", "wrong-password-9", "-r", "0", "-t", "1") != 0
        d.wait_for_log("SNMPv3: wrong digest", timeout=5)
        metrics = d.get("/metrics")
        assert metric_value(metrics, "netwatch_snmp_traps_total", kind="link_down") == 2
        assert metric_value(metrics, "netwatch_snmp_traps_dropped_total", reason="auth") == 1
        detail = json.loads(d.get("/api/v1/devices/core-rtr"))
        assert [(t["pdu"], t["version"]) for t in detail["traps"]] == [
            ("inform", "3"),
            ("trap", "3"),
        ]
        for secret in (V3_AUTH, V3_PRIV, "wrong-password-9"):
            assert secret not in d.log
            assert secret not in metrics
        assert d.stop()[0] == 0
    assert len((tmp_path / "data" / "snmp-engine").read_text().split()[0]) == 34
