"""``netwatch once`` as a debugging tool, against kernel ICMP inside a network namespace where
nftables makes a commune router and the PC behind it dead, and a closed TCP port refuses."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.daemon import metric_value, netwatch_argv, write_config
from tests.netns import Netns

pytestmark = pytest.mark.netns

CORE, SRV, RTR, PC = "127.0.0.7", "127.0.0.8", "127.0.0.5", "127.0.0.6"
CONFIG = f"""
agent: {{listen: "127.0.0.1:9430", data_dir: {{data}}}}
defaults:
  icmp: {{interval: 5s, count: 2, timeout: 300ms, spacing: 100ms}}
sites:
  - id: tinh
    level: province
    devices:
      - {{id: core-rtr, address: {CORE}, role: router}}
      - {{id: app-srv, address: {SRV}, role: server,
         services: [{{name: portal, tcp: 9, timeout: 1s}}]}}
    sites:
      - id: huyen
        level: district
        devices: [{{id: huyen-rtr, address: 127.0.0.9, role: router}}]
        sites:
          - id: an-binh
            level: commune
            devices:
              - {{id: an-binh-rtr, address: {RTR}, role: router}}
              - {{id: an-binh-pc, address: {PC}, role: workstation}}
"""


def _once(
    config: Path, *args: str, dead: tuple[str, ...] = (RTR, PC)
) -> subprocess.CompletedProcess[str]:
    with Netns() as ns:
        for address in dead:
            ns.drop(address)
        return ns.run(netwatch_argv("-c", str(config), "once", *args), timeout=60, check=False)


_NO_REPLY = "no echo reply from {} to 2 request(s) within 0.3s each"


def _series_devices(text: str) -> set[str]:
    return set(re.findall(r'[{,]device="([^"]*)"', text))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, CONFIG.replace("{data}", str(tmp_path / "data")))


def test_once_device_prints_only_that_device_with_the_topology_applied(config: Path) -> None:
    """--device an-binh-pc: only its series; behind the dead commune router it is unreachable,
    not down; stderr names the router's failure and the PC's, one line each."""
    done = _once(config, "--device", "an-binh-pc")
    assert done.returncode == 0, done.stderr
    assert _series_devices(done.stdout) == {"an-binh-pc"}, done.stdout
    assert "netwatch_build_info" not in done.stdout
    status = "netwatch_device_status"
    assert metric_value(done.stdout, status, device="an-binh-pc", status="unreachable") == 1.0
    assert metric_value(done.stdout, status, device="an-binh-pc", status="down") == 0.0
    assert metric_value(done.stdout, "netwatch_device_up", device="an-binh-pc") == 0.0
    assert done.stderr.splitlines() == [
        f"netwatch once: an-binh-rtr icmp: timeout: {_NO_REPLY.format(RTR)}",
        f"netwatch once: an-binh-pc icmp: timeout: {_NO_REPLY.format(PC)}"
        " (unreachable behind an-binh-rtr)",
    ]


def test_once_without_device_prints_every_failure_and_every_device(config: Path) -> None:
    """No --device: every device's series, and one stderr line per failed check, the refused
    TCP service included; the healthy devices have none."""
    done = _once(config)
    assert done.returncode == 0, done.stderr
    assert _series_devices(done.stdout) == {
        "core-rtr", "app-srv", "huyen-rtr", "an-binh-rtr", "an-binh-pc",
    }  # fmt: skip
    assert metric_value(done.stdout, "netwatch_device_up", device="core-rtr") == 1.0
    assert (
        metric_value(done.stdout, "netwatch_device_status", device="an-binh-rtr", status="down")
        == 1.0
    )
    lines = done.stderr.splitlines()
    heads = [line.split(": ", 2)[1] for line in lines]
    assert heads == ["app-srv service:portal", "an-binh-rtr icmp", "an-binh-pc icmp"], lines
    assert lines[0].startswith("netwatch once: app-srv service:portal: refused: "), lines


def test_once_unknown_device_suggests_the_closest_id(config: Path) -> None:
    """A misspelt --device exits 1 with a did-you-mean, before polling anything."""
    done = subprocess.run(
        netwatch_argv("-c", str(config), "once", "--device", "an-binh-pcc", "--device", "zzz"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "netwatch once: unknown device 'an-binh-pcc'; did you mean 'an-binh-pc'?",
        "netwatch once: unknown device 'zzz'",
    ]
    assert done.stdout == ""
