"""``netwatch demo`` end to end: the real command, its real daemon, snmpsim and mail sink.

The demo runs as a subprocess with ``--speed 3`` (shorter pauses; netwatch's detection keeps
its own pace). Each test follows its timeline on stdout, checks what netwatch shows through the
host's ports (the forwarder into the namespace, /metrics, the mailbox), stops it with SIGINT and
checks that nothing it started is left: no process, no namespace, no work directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwatch.config import load_config
from netwatch.demo.netns import TABLE, namespace_problem
from netwatch.demo.province import Endpoints, build_province, static_config, write_config
from netwatch.demo.snmprec import render
from netwatch.demo.world import find_snmpsim
from tests.daemon import free_port, metric_value

PROVINCE = build_province()
CUT = PROVINCE.site(PROVINCE.cut_district)
ROOT = Path(__file__).resolve().parents[2]


def test_config_demo_yaml_is_the_generated_province() -> None:
    """config/demo.yaml is static_config() (regenerate it as its header says when this fails)."""
    assert (ROOT / "config" / "demo.yaml").read_text(encoding="utf-8") == static_config()


def test_generated_config_loads_with_every_peer(tmp_path: Path) -> None:
    """The demo's own config is valid: 4 districts, 16 communes, 83 devices, SNMP, services."""
    config = load_config(str(write_config(PROVINCE, tmp_path, Endpoints.default(str(tmp_path)))))
    levels = [s.level for s in config.sites]
    assert (levels.count("district"), levels.count("commune"), len(config.devices)) == (4, 16, 83)
    assert sum(d.snmp is not None for d in config.devices) == 35
    assert sorted(s.name for d in config.devices for s in d.services) == [
        "mot-cua", "qlvb", "smtp",
    ]  # fmt: skip
    addresses = [d.address for d in config.devices]
    assert len(set(addresses)) == len(addresses)
    assert all(a.startswith("127.") for a in addresses)
    # Everything behind the cut district's line is inside the block nftables drops.
    behind = [d.address for c in CUT.sites for d in c.devices] + [d.address for d in CUT.devices]
    assert CUT.subnet == "127.23.0.0/16"
    assert all(a.startswith("127.23.") for a in behind)


def test_snmp_recordings_are_sorted_and_per_device() -> None:
    """snmpsim walks a recording in file order: the OIDs must ascend; sysName is the device."""
    for index, device in enumerate(d for d in PROVINCE.devices() if d.snmp):
        lines = render(device, index).splitlines()
        oids = [tuple(int(p) for p in line.split("|")[0].split(".")) for line in lines]
        assert oids == sorted(oids), device.id
        assert f"1.3.6.1.2.1.1.5.0|4|{device.id}" in lines


class Demo:
    """``netwatch demo`` as a subprocess; its stdout (the timeline) and stderr, as they come."""

    def __init__(self, *args: str) -> None:
        self.port, self.mail_port = free_port(), free_port()
        argv = [
            sys.executable, "-m", "netwatch", "demo", "--speed", "3",
            "--listen", f"127.0.0.1:{self.port}", "--mailbox", f"127.0.0.1:{self.mail_port}",
            *args,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8"
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: object, lines: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.append(line.rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.out)

    def wait_for(self, pattern: str, timeout: float) -> str:
        """The first timeline line matching ``pattern``, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.out):
                if re.search(pattern, line):
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(
            f"{pattern!r} not shown within {timeout}s; timeline:\n{self.text()}\n"
            f"stderr (tail):\n" + "\n".join(self.err[-40:])
        )

    def get(self, port: int, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            body: bytes = resp.read()
            return body.decode()

    def mails(self) -> list[dict[str, object]]:
        mails: list[dict[str, object]] = json.loads(self.get(self.mail_port, "/api/messages"))
        return mails

    def mails_to(self, address: str, count: int, timeout: float = 30.0) -> list[dict[str, object]]:
        """The mails to ``address``, once there are ``count`` (the outbox sends a bit later)."""
        deadline = time.monotonic() + timeout
        while True:
            mails = [m for m in self.mails() if address in m["to"]]  # type: ignore[operator]
            if len(mails) >= count or time.monotonic() > deadline:
                return mails
            time.sleep(0.5)

    def workdir(self) -> Path:
        line = self.wait_for(r"Starting netwatch on ", 60)
        return Path(line.split("Starting netwatch on ", 1)[1].rstrip(".")).parent

    def interrupt(self, sig: signal.Signals = signal.SIGINT, timeout: float = 60.0) -> int:
        """Send ``sig``; return the exit code once the demo (and its output) has ended."""
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self.join_readers()
        return code

    def join_readers(self) -> None:
        for reader in self._readers:
            reader.join(10)

    def close(self) -> None:
        """Stop the demo if a failed test left it running, and close the pipes."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.join_readers()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def demo_factory() -> Iterator[list[Demo]]:
    started: list[Demo] = []
    yield started
    for demo in started:
        demo.close()


def processes_using(text: str) -> dict[int, str]:
    """Processes whose command line mentions ``text``, with their network namespace."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if text in cmdline:
                found[int(entry.name)] = os.readlink(entry / "ns" / "net")
        except OSError:
            continue
    return found


def namespace_alive(ns: str) -> bool:
    """Does any process still live in network namespace ``ns`` (``net:[inode]``)?"""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns" / "net") == ns:
                    return True
            except OSError:
                continue
    return False


def assert_all_gone(demo: Demo, workdir: Path, namespaces: set[str]) -> None:
    assert processes_using(str(workdir)) == {}, "a process of the demo outlived it"
    for ns in namespaces:
        assert not namespace_alive(ns), f"the demo's namespace {ns} outlived it"
    assert not workdir.exists(), f"{workdir} was not removed"
    if shutil.which("nft") is not None:  # the faults' table lived only in the namespace
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
        assert TABLE not in tables.stdout
    assert "Demo stopped; everything it started is gone." in demo.text()


def _needs_namespace() -> None:
    problem = namespace_problem(root=os.geteuid() == 0)
    if problem is not None:
        pytest.skip(problem)


def _demo_namespaces(workdir: Path) -> set[str]:
    host_ns = os.readlink("/proc/self/ns/net")
    return set(processes_using(str(workdir)).values()) - {host_ns}


@pytest.mark.peer
@pytest.mark.netns
def test_demo_line_cut_is_detected_suppressed_mailed_and_recovers(
    demo_factory: list[Demo],
) -> None:
    """The district line cut: gateway down, communes unreachable, one mail each way, clean exit."""
    _needs_namespace()
    if find_snmpsim() is None:
        pytest.skip("needs snmpsim in .venv-snmpsim (see tests/snmpsim.py) or $NETWATCH_SNMPSIM")
    demo = Demo()
    demo_factory.append(demo)
    workdir = demo.workdir()
    demo.wait_for(r"All devices are up", 90)
    namespaces = _demo_namespaces(workdir)
    assert namespaces, "the demo's daemon should run in its own network namespace"

    gateway = CUT.devices[0].id
    demo.wait_for(rf"netwatch: {gateway} is DOWN", 90)
    demo.wait_for(r"are UNREACHABLE", 30)
    metrics = demo.get(demo.port, "/metrics")  # through the forwarder into the namespace
    page = demo.get(demo.port, "/")  # the status page a newcomer opens
    assert "<html" in page.lower()
    assert CUT.name in page
    assert metric_value(metrics, "netwatch_device_status", device=gateway, status="down") == 1
    # Behind the gateway: the district's other devices and its communes' (what the mail counts).
    behind = [d.id for d in CUT.devices[1:]] + [d.id for c in CUT.sites for d in c.devices]
    for device in behind:
        status = metric_value(
            metrics, "netwatch_device_status", device=device, status="unreachable"
        )
        assert status == 1, f"{device} should be unreachable behind {gateway}"
    other = "vi-thanh-rtr"  # another district: its line is fine
    assert metric_value(metrics, "netwatch_device_status", device=other, status="up") == 1
    assert metric_value(metrics, "netwatch_site_up", site=CUT.id) == 0
    assert metric_value(metrics, "netwatch_site_up", site="vi-thanh") == 1
    # SNMP from snmpsim, each device with its own recording (a server has host resources).
    assert metric_value(metrics, "netwatch_snmp_up", device="core-rtr") == 1
    assert metric_value(metrics, "netwatch_device_info", device="qlvb", sys_name="qlvb") == 1
    cpu = metric_value(metrics, "netwatch_host_cpu_load_ratio", device="qlvb")
    assert cpu is not None
    assert 0 <= cpu <= 1
    rx = metric_value(metrics, "netwatch_interface_receive_bytes_total", device="core-rtr")
    assert rx is not None
    assert rx > 0

    demo.wait_for(rf"netwatch: {gateway} and the {len(behind)} devices behind it are UP", 90)
    demo.wait_for(r"Incident over", 120)
    metrics = demo.get(demo.port, "/metrics")
    assert metric_value(metrics, "netwatch_device_status", device=gateway, status="up") == 1

    district_mails = demo.mails_to(PROVINCE.contacts[f"it-{CUT.id}"], 2)
    # One alert for the cut (not one per device behind it) and one for the recovery.
    assert len(district_mails) == 2, json.dumps(district_mails, ensure_ascii=False, indent=1)
    assert all("Châu Thành" in str(m["subject"]) for m in district_mails)
    # The mail counts what the console said: the district and its communes, every device.
    affected = f"Ảnh hưởng: {1 + len(CUT.sites)} đơn vị, {len(behind)} thiết bị"
    assert any(affected in str(m["body"]) for m in district_mails), district_mails
    assert affected in demo.text()
    # The log channel got the same alert (the daemon's stderr).
    assert any("netwatch.notify" in line and gateway in line for line in demo.err)
    assert "Hộp thư demo" in demo.get(demo.mail_port, "/")

    assert demo.interrupt() == 0, demo.text()
    assert_all_gone(demo, workdir, namespaces)


@pytest.mark.peer
def test_demo_without_namespace_plays_the_application_failure(demo_factory: list[Demo]) -> None:
    """--no-netns: says the line cut is left out, still detects and mails the failing app."""
    demo = Demo("--no-netns")
    demo_factory.append(demo)
    workdir = demo.workdir()
    assert "no network namespace: --no-netns given" in demo.text()
    demo.wait_for(r"the district line cut is skipped", 120)
    demo.wait_for(r"service qlvb on qlvb is DOWN", 90)
    metrics = demo.get(demo.port, "/metrics")
    assert metric_value(metrics, "netwatch_service_up", device="qlvb", service="qlvb") == 0
    assert metric_value(metrics, "netwatch_device_status", device="qlvb", status="up") == 1
    demo.wait_for(r"service qlvb is UP again", 90)
    demo.wait_for(r"Incident over", 60)
    centre_mails = demo.mails_to(PROVINCE.contacts["trung-tam-du-lieu"], 2)
    assert len(centre_mails) == 2, json.dumps(centre_mails, ensure_ascii=False, indent=1)

    assert demo.interrupt() == 0, demo.text()
    assert_all_gone(demo, workdir, set())


@pytest.mark.peer
@pytest.mark.netns
def test_demo_stops_cleanly_on_sigterm(demo_factory: list[Demo]) -> None:
    """SIGTERM (as systemd or kill sends): exit 0, no process, namespace or work directory."""
    _needs_namespace()
    demo = Demo("--no-incident")
    demo_factory.append(demo)
    workdir = demo.workdir()
    demo.wait_for(r"No incident scripted", 90)
    namespaces = _demo_namespaces(workdir)
    assert namespaces, "the demo should run in its own network namespace"
    assert demo.interrupt(signal.SIGTERM) == 0, demo.text()
    assert_all_gone(demo, workdir, namespaces)


@pytest.mark.peer
@pytest.mark.netns
def test_demo_inner_process_stops_when_the_host_side_is_killed(demo_factory: list[Demo]) -> None:
    """SIGKILL of `netwatch demo` itself: what it started notices and cleans up by itself."""
    _needs_namespace()
    demo = Demo("--no-incident")
    demo_factory.append(demo)
    workdir = demo.workdir()
    demo.wait_for(r"No incident scripted", 90)
    namespaces = _demo_namespaces(workdir)
    assert namespaces
    demo.proc.kill()
    demo.proc.wait(10)
    deadline = time.monotonic() + 30
    while processes_using(str(workdir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    demo.join_readers()
    assert_all_gone(demo, workdir, namespaces)
