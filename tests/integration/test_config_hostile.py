"""Hostile configs against the real command and daemon: `check-config` exits 2 with the
located problem, and a reload (HTTP or SIGHUP) of a bomb is refused while the daemon runs on."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.daemon import RunningDaemon, free_port, metric_value, netwatch_argv, write_config

CORPUS = Path(__file__).resolve().parents[1] / "data" / "invalid"
TOKEN = "hostile-test-token"
CONFIG = """
agent: {{listen: "127.0.0.1:{port}", data_dir: {data}, api_token: {{env: NW_TEST_TOKEN}}}}
defaults:
  icmp: {{interval: 1s, count: 2, timeout: 500ms, spacing: 50ms}}
sites:
  - id: hq
    devices:
      - {{id: core-rtr, address: 127.0.0.1, role: router}}
"""
# The merge-key bomb of the corpus, grafted onto the running config's defaults.
BOMB = (CORPUS / "55-merge-key-bomb.yaml").read_text(encoding="utf-8")


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        netwatch_argv("-c", str(path), "check-config"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("case", "line"),
    [
        ("55-merge-key-bomb.yaml", ":8:20: defaults.snmp4[0]: alias *x3 brings the values"),
        ("56-alias-bomb.yaml", ":7:26: sites[4].sites[0]: alias *s3 brings the values"),
        ("57-self-referencing-alias.yaml", ":4:53: sites[0].devices[1]: alias *devices is"),
        ("60-huge-numbers.yaml", ":4:20: defaults.icmp.interval: duration 1000"),
    ],
)
def test_check_config_exits_2_with_the_located_problem(
    tmp_path: Path, case: str, line: str
) -> None:
    """Each hostile file: exit 2, FILE:LINE:COL: path: message, no traceback."""
    path = Path(shutil.copy(CORPUS / case, tmp_path / "bomb.yaml"))
    out = check_config(path)
    assert out.returncode == 2, out.stderr
    assert f"{path}{line}" in out.stderr
    assert "Traceback" not in out.stderr


def test_check_config_refuses_100_000_nested_brackets(tmp_path: Path) -> None:
    """The flow-nesting bomb is a located problem from the CLI too."""
    path = tmp_path / "deep.yaml"
    path.write_text("sites: " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    out = check_config(path)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"{path}:1:")
    assert "Traceback" not in out.stderr


def test_reload_of_a_bomb_is_refused_and_the_daemon_runs_on(tmp_path: Path) -> None:
    """POST /-/reload and SIGHUP with a bomb: 400 naming the alias, logged; metrics still served."""
    port = free_port()
    good = CONFIG.format(port=port, data=tmp_path / "data")
    path = write_config(tmp_path, good)
    with RunningDaemon(path, port, env={"NW_TEST_TOKEN": TOKEN}) as d:
        d.wait_ready()
        d.wait_for_log("device core-rtr is up", timeout=10)

        # The bomb's anchors and merge under the running config's `defaults:`.
        anchors = BOMB.split("defaults:\n", 1)[1].split("sites:", 1)[0]
        path.write_text(good.replace("defaults:\n", "defaults:\n" + anchors, 1))
        started = time.monotonic()
        status, body = d.post("/-/reload", token=TOKEN)
        elapsed = time.monotonic() - started
        assert status == 400, body
        assert "alias *x3 brings the values" in body
        assert f"{path}:" in body
        d.wait_for_log("reload refused", timeout=5)
        print(f"reload of the merge-key bomb refused in {elapsed * 1000:.0f} ms")

        # SIGHUP with a self-referencing alias: refused and logged, never a traceback.
        path.write_text(good + "contacts: &c {<<: *c}\n", encoding="utf-8")
        d.signal(signal.SIGHUP)
        d.wait_for_log("alias *c is inside the value anchored &c", timeout=10)
        assert "Traceback" not in d.log

        assert metric_value(d.get("/metrics"), "netwatch_device_up", device="core-rtr") == 1.0
        assert d.proc is not None
        assert d.proc.poll() is None
        assert d.stop()[0] == 0


def test_check_config_refuses_an_oversize_file_at_its_first_line(tmp_path: Path) -> None:
    """A sparse 10 MiB + 1 file: exit 2 with FILE:1:1 and the limit."""
    path = tmp_path / "big.yaml"
    with path.open("wb") as stream:
        stream.truncate(10 * 1024 * 1024 + 1)
    out = check_config(path)
    assert out.returncode == 2, out.stderr
    assert f"{path}:1:1: the file is larger than the 10 MiB allowed" in out.stderr
    assert os.path.getsize(path) == 10 * 1024 * 1024 + 1
