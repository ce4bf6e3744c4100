"""The power-cut story end to end: a real snmpd UPS goes on battery, then the commune's gateway
drops; the officer hears about the power once, the outage names the power cut, and the report
counts the hours lost to power.

Everything runs in a network namespace the test creates (``tests/netns.py``): the daemon, the
webhook receiver (``alerting_receiver.py``) and a net-snmp ``snmpd`` on 127.20.1.50 that plays
the commune's UPS. Its RFC 1628 ``upsOutputSource`` comes from a ``pass`` script that reads a
file, so the test switches the UPS between mains (normal, 3) and battery (5) by writing it; the
gateway dies by an nftables drop. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from tests.daemon import RunningDaemon, free_port, metric_value, netwatch_argv
from tests.netns import Netns
from tests.snmpd import EXCLUDED_MODULES, tool_env

pytestmark = pytest.mark.netns

ROOT = Path(__file__).parents[2]
RECEIVER = Path(__file__).with_name("alerting_receiver.py")
TZ = "Asia/Ho_Chi_Minh"
COMMUNITY = "ups-e2e-7f3a"  # given to the daemon in its environment, never inline
UPS = "127.20.1.50"
GATEWAY = "127.20.1.1"
OUTPUT_SOURCE = ".1.3.6.1.2.1.33.1.4.1.0"  # upsOutputSource: normal(3), battery(5)
MINUTES_LEFT = ".1.3.6.1.2.1.33.1.2.3.0"  # upsEstimatedMinutesRemaining
MAINS, BATTERY = "3", "5"
OUTAGE_SECONDS = 8.0  # the gateway stays cut this long after its outage was announced

# snmpd's pass protocol: GET prints OID, type and value; GETNEXT prints nothing (end of view).
PASS_SCRIPT = """#!/bin/sh
if [ "$1" = "-g" ]; then
  case "$2" in
    {source}) echo "$2"; echo integer; cat "{state}";;
    {minutes}) echo "$2"; echo integer; echo 25;;
  esac
fi
"""


def config(tmp: Path, port: int, hook_port: int) -> Path:
    """A province, a district and the commune An Bình with its gateway, a PC and its UPS."""

    def site(sid: str, name: str, level: str, contact: str, devices: list[Any]) -> dict[str, Any]:
        return {"id": sid, "name": name, "level": level, "contacts": [contact],
                "devices": devices}  # fmt: skip

    ups = {
        "id": "ab-ups", "address": UPS, "role": "ups", "icmp": False,
        "snmp": {"interval": "1s", "timeout": "500ms", "retries": 0, "version": "2c",
                 "community": {"env": "NW_UPS_COMMUNITY"}, "collect": ["system", "health"]},
    }  # fmt: skip
    commune = site("an-binh", "Phường An Bình", "commune", "xa-an-binh", [
        {"id": "ab-rtr", "address": GATEWAY, "role": "router", "name": "Router Phường An Bình"},
        {"id": "ab-pc", "address": "127.20.1.101", "role": "workstation"},
        ups,
    ])  # fmt: skip
    district = site("ninh-kieu", "Quận Ninh Kiều", "district", "it-ninh-kieu",
                    [{"id": "nk-rtr", "address": "127.20.0.1", "role": "router"}])  # fmt: skip
    district["sites"] = [commune]
    province = site("can-tho", "TP Cần Thơ", "province", "tt-du-lieu",
                    [{"id": "core-rtr", "address": "127.10.0.1", "role": "router"}])  # fmt: skip
    province["sites"] = [district]
    doc: dict[str, Any] = {
        "agent": {
            "listen": f"127.0.0.1:{port}",
            "data_dir": str(tmp / "data"),
            "timezone": TZ,
            "api_token": {"env": "NW_TEST_TOKEN"},
        },
        "defaults": {
            "icmp": {"interval": "1s", "count": 3, "timeout": "400ms", "spacing": "50ms"},
            "down_after": 3,
            "up_after": 2,
            "retry_interval": "1s",
        },
        "alerting": {"hold": "8s", "recheck_timeout": "30s"},
        "contacts": {
            c: {"webhook": {"url": f"http://127.0.0.1:{hook_port}/{c}"}}
            for c in ("tt-du-lieu", "it-ninh-kieu", "xa-an-binh")
        },
        "sites": [province],
    }
    path = tmp / "netwatch.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def start_ups(ns: Netns, workdir: Path) -> Path:
    """snmpd as the UPS, inside the namespace, on mains; the file that says its source."""
    if shutil.which("snmpd") is None or shutil.which("snmpget") is None:
        pytest.skip("net-snmp snmpd and snmpget are needed")
    state = workdir / "output-source"
    state.write_text(MAINS)
    script = workdir / "ups-pass.sh"
    text = PASS_SCRIPT.format(source=OUTPUT_SOURCE, minutes=MINUTES_LEFT, state=state)
    script.write_text(text)
    script.chmod(0o755)
    conf = workdir / "snmpd.conf"
    conf.write_text(f"rocommunity {COMMUNITY} default\npass .1.3.6.1.2.1.33 /bin/sh {script}\n")
    env = tool_env(workdir)
    ns.popen(
        ["snmpd", "-f", "-Lf", str(workdir / "snmpd.log"), "-C", "-c", str(conf),
         "-I", f"-{EXCLUDED_MODULES}", "-p", str(workdir / "snmpd.pid"), f"udp:{UPS}:161"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    get = ["snmpget", "-v2c", "-c", COMMUNITY, "-On", "-Oqv", "-r", "0", "-t", "1",
           f"udp:{UPS}:161", OUTPUT_SOURCE]  # fmt: skip
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        done = ns.run(get, check=False, timeout=10, env=env)
        if done.returncode == 0 and done.stdout.strip() == MAINS:
            return state
        time.sleep(0.2)
    log = (workdir / "snmpd.log").read_text(errors="replace")[-2000:]
    raise AssertionError(f"the UPS (snmpd) did not answer within 15 s:\n{log}")


def hooks(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines() if x.strip()]
    return [
        {**r["body"], "contact": r["path"].strip("/"), "received_at": r["received_at"]}
        for r in lines
        if r["channel"] == "webhook"
    ]


def summary(got: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(h["contact"], h["kind"], h["status"], h["device"]) for h in got]


def wait_for(
    done: Callable[[], bool], timeout: float, what: str, daemon: RunningDaemon | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        if daemon is not None and daemon.proc is not None:
            assert daemon.proc.poll() is None, f"netwatch exited:\n{daemon.log[-4000:]}"
        time.sleep(0.2)
    log = daemon.log[-6000:] if daemon is not None else ""
    raise AssertionError(f"{what}: not within {timeout}s\n{log}")


def fetch(ns: Netns, url: str) -> str:
    """A GET from inside the namespace (with the API token); the body."""
    code = (
        "import os, sys, urllib.request\n"
        "req = urllib.request.Request(sys.argv[1], headers={'Authorization': 'Bearer ' + "
        "os.environ['NW_TEST_TOKEN']})\n"
        "sys.stdout.write(urllib.request.urlopen(req, timeout=10).read().decode())\n"
    )
    env = {**os.environ, "NW_TEST_TOKEN": "power-e2e-token"}
    return ns.run([sys.executable, "-c", code, url], timeout=30, env=env).stdout


def test_a_power_cut_then_the_gateway_down_is_one_power_message_one_incident_and_hours_lost(
    tmp_path: Path,
) -> None:
    port, hook_port = free_port(), free_port()
    path = config(tmp_path, port, hook_port)
    out = tmp_path / "received.jsonl"
    with Netns() as ns, contextlib.ExitStack() as closing:
        state = start_ups(ns, tmp_path)
        receiver = ns.popen(
            [sys.executable, str(RECEIVER), str(out), "--http", f"127.0.0.1:{hook_port}"],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert receiver.stdout is not None
        closing.callback(receiver.stdout.close)
        assert receiver.stdout.readline().strip() == "ready"
        env = {"NW_TEST_TOKEN": "power-e2e-token", "NW_UPS_COMMUNITY": COMMUNITY}
        daemon = RunningDaemon(path, port, prefix=ns.argv([]), env=env)
        with daemon:
            daemon.wait_for_log("netwatch started", timeout=30)
            for did in ("core-rtr", "nk-rtr", "ab-rtr", "ab-pc", "ab-ups"):
                daemon.wait_for_log(f"device {did} own status unknown -> up", timeout=30)
            daemon.wait_for_log("site an-binh is ", timeout=30)
            metrics = f"http://127.0.0.1:{port}/metrics"
            wait_for(
                lambda: metric_value(fetch(ns, metrics), "netwatch_ups_on_battery",
                                     device="ab-ups") == 0.0,
                timeout=15, what="the UPS seen on mains", daemon=daemon,
            )  # fmt: skip

            state.write_text(BATTERY)  # the power is cut: the UPS carries the commune
            wait_for(lambda: any(h["kind"] == "power" for h in hooks(out)), 15,
                     "the on-battery message", daemon)  # fmt: skip
            cut_at = time.time()
            ns.drop(GATEWAY)  # then the commune's router goes dark
            wait_for(lambda: any(h["kind"] == "down" for h in hooks(out)), 30,
                     "the gateway's outage", daemon)  # fmt: skip
            time.sleep(OUTAGE_SECONDS)
            ns.restore(GATEWAY)
            restored_at = time.time()
            wait_for(
                lambda: any(h["kind"] == "down" and h["status"] == "resolved" for h in hooks(out)),
                30, "the gateway back", daemon,
            )  # fmt: skip
            state.write_text(MAINS)  # mains power returns after the line
            wait_for(
                lambda: any(h["kind"] == "power" and h["status"] == "resolved"
                            for h in hooks(out)),
                15, "the back-on-mains message", daemon,
            )  # fmt: skip
            time.sleep(3)  # room for a late or repeated message
            api = json.loads(fetch(ns, f"http://127.0.0.1:{port}/api/v1/report?by=site"))
            code, _ = daemon.stop()
        got = hooks(out)
    assert code == 0

    # One message about the power (and one when mains returned), to the commune only.
    power = [h for h in got if h["kind"] == "power"]
    assert summary(power) == [
        ("xa-an-binh", "power", "firing", "ab-ups"),
        ("xa-an-binh", "power", "resolved", "ab-ups"),
    ]
    assert "pin UPS" in power[0]["text"], power[0]["text"]
    assert "25 phút" in power[0]["text"], power[0]["text"]
    # One incident, the gateway's, whose cause is the power cut; nothing about the PC or UPS.
    assert summary([h for h in got if h["kind"] != "power"]) == [
        ("xa-an-binh", "down", "firing", "ab-rtr"),
        ("xa-an-binh", "down", "resolved", "ab-rtr"),
    ]
    firing = next(h for h in got if h["kind"] == "down")
    assert "mất điện" in firing["detail"], firing

    # The report: the commune's downtime, all of it while on battery, is the hours lost to power.
    today = datetime.now(ZoneInfo(TZ)).date()

    def report(by: str, fmt: str) -> str:
        return subprocess.run(
            [*netwatch_argv("-c", str(path), "report", "--by", by, "--format", fmt),
             "--from", today.isoformat(), "--to", (today + timedelta(days=1)).isoformat()],
            capture_output=True, text=True, timeout=60, check=True, cwd=ROOT,
        ).stdout  # fmt: skip

    sites = {r["site"]: r for r in json.loads(report("site", "json"))["rows"]}
    ab = sites["an-binh"]
    wall = restored_at - cut_at
    assert ab["outages"] == 1, ab
    assert 0 < ab["downtime_power_seconds"] <= ab["downtime_seconds"], ab
    assert ab["downtime_power_seconds"] == pytest.approx(ab["downtime_seconds"], abs=1.0), ab
    # Confirmed ~3 s after the cut (dated back to the first failed poll), up ~2 s after.
    assert wall - 5 <= ab["downtime_power_seconds"] <= wall + 5, (wall, ab)
    for sid in ("can-tho", "ninh-kieu"):
        assert sites[sid]["downtime_power_seconds"] == 0.0, sites[sid]
    devices = {r["device"]: r for r in json.loads(report("device", "json"))["rows"]}
    rtr = devices["ab-rtr"]
    assert rtr["downtime_power_seconds"] == pytest.approx(rtr["downtime_seconds"], abs=1.0), rtr
    assert rtr["downtime_power_seconds"] > 0, rtr
    table = list(csv.reader(io.StringIO(report("site", "csv").lstrip("\ufeff"))))
    col = table[0].index("Mất điện (giây)")
    assert next(r for r in table if r[0] == "an-binh")[col] == str(
        round(ab["downtime_power_seconds"])
    )
    # The API said the same while the daemon ran.
    live = {r["site"]: r for r in api["rows"]}["an-binh"]
    assert live["downtime_power_seconds"] == pytest.approx(ab["downtime_power_seconds"], abs=1.0)
