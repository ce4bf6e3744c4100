"""netwatch discover against real peers on loopback: the kernel answers ping on 127.0.0.0/8,
snmpsim answers SNMP on 127.0.0.1 with a switch that has LLDP neighbours."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.snmpsim import Simulator, running

REPO = Path(__file__).resolve().parents[2]
COMMUNITY = "lldp-switch"  # snmpsim: the recording's name is its community
RECORDING = """\
1.0.8802.1.1.2.1.4.1.1.7.0.1.1|4|Gi0/1
1.0.8802.1.1.2.1.4.1.1.7.0.2.1|4|eth0
1.0.8802.1.1.2.1.4.1.1.9.0.1.1|4|xa-a-rtr
1.0.8802.1.1.2.1.4.1.1.9.0.2.1|4|xa-a-ap
1.3.6.1.2.1.1.1.0|4|Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2
1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.9.1.1208
1.3.6.1.2.1.1.3.0|67|360000
1.3.6.1.2.1.1.5.0|4|xa-a-sw-01
"""


@pytest.fixture(scope="module")
def switch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    data = tmp_path_factory.mktemp("snmprec")
    data.chmod(0o755)  # snmpsim runs as nobody, and the copy it reads keeps these modes
    (data / f"{COMMUNITY}.snmprec").write_text(RECORDING)
    yield from running(data)


def discover(
    *args: str, cwd: Path, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DISC_COMMUNITY": COMMUNITY, **(extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "netwatch", "discover", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.peer
def test_discover_proposes_a_valid_config(switch: Simulator, tmp_path: Path) -> None:
    """Both hosts of 127.0.0.0/30 answer the ping; the one with SNMP is named by its sysName,
    guessed a switch from sysDescr, polled by SNMP, and its LLDP neighbours are noted; the
    community is written as its reference only, and check-config accepts the proposal."""
    done = discover(
        "127.0.0.0/30",
        "--community",
        "env:DISC_COMMUNITY",
        "--snmp-port",
        str(switch.port),
        "--rate",
        "20",
        "-o",
        "proposed.yaml",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "2 of 2 answered the ping, 1 SNMP" in done.stderr
    text = (tmp_path / "proposed.yaml").read_text(encoding="utf-8")
    assert (
        '- {id: xa-a-sw-01, name: "xa-a-sw-01", address: 127.0.0.1, role: switch, snmp: {}}' in text
    )
    assert "LLDP: xa-a-rtr (Gi0/1), xa-a-ap (eth0)" in text
    assert "sysObjectID 1.3.6.1.4.1.9.1.1208" in text
    assert "- {id: host-127-0-0-2, address: 127.0.0.2, role: other}" in text
    assert "community: {env: DISC_COMMUNITY}" in text
    assert COMMUNITY not in text.replace("DISC_COMMUNITY", "")
    env = {**os.environ, "PYTHONPATH": str(REPO), "DISC_COMMUNITY": COMMUNITY}
    check = subprocess.run(
        [sys.executable, "-m", "netwatch", "check-config", "-c", "proposed.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_the_sweep_is_paced(tmp_path: Path) -> None:
    """Six addresses at 10 a second take at least half a second (the sixth starts at 0.5 s)."""
    done = discover("127.0.1.0/29", "--rate", "10", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    seconds = float(re.search(r"in ([\d.]+) s", done.stderr).group(1))  # type: ignore[union-attr]
    assert seconds >= 0.5
    assert done.stdout.count("role: other") == 6


def test_refusals(tmp_path: Path) -> None:
    """A /16 without --max-hosts, a bad network, and a community written as itself are
    refused, the last without repeating it."""
    big = discover("10.0.0.0/16", cwd=tmp_path)
    assert big.returncode == 2
    assert "65536 addresses; at most 4096" in big.stderr
    bad = discover("10.0.0.300/24", cwd=tmp_path)
    assert bad.returncode == 2
    assert "is not a network" in bad.stderr
    literal = discover("127.0.0.1/32", "--community", "Bi-Mat-123", cwd=tmp_path)
    assert literal.returncode == 1
    assert "env:NAME or file:PATH" in literal.stderr
    assert "Bi-Mat" not in literal.stderr


V3_USER, V3_AUTH, V3_PRIV = "discuser", "disc-auth-pass-1", "disc-priv-pass-2"


@pytest.fixture(scope="module")
def v3_switch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    data = tmp_path_factory.mktemp("snmprec-v3")
    data.chmod(0o755)
    (data / f"{COMMUNITY}.snmprec").write_text(RECORDING)
    yield from running(
        data,
        ("--v3-engine-id=auto", f"--v3-user={V3_USER}", f"--v3-auth-key={V3_AUTH}",
         "--v3-auth-proto=SHA256", f"--v3-priv-key={V3_PRIV}", "--v3-priv-proto=NONE"),
    )  # fmt: skip


@pytest.mark.peer
def test_discover_by_snmpv3_user(v3_switch: Simulator, tmp_path: Path) -> None:
    """A v3 user (SHA-256, authNoPriv: snmpsim's AES does not interoperate, see
    test_snmp_v3_sim) instead of a community: the switch answers, the proposal says version 3
    with the password as a reference, and no password shows in the output; a wrong password
    is an SNMP failure noted in the proposal, not a crash."""
    args = (
        "127.0.0.1/32", "--v3-user", V3_USER, "--auth-protocol", "sha256",
        "--auth-password-env", "DISC_AUTH", "--v3-context", COMMUNITY,
        "--snmp-port", str(v3_switch.port), "--timeout", "3",
    )  # fmt: skip
    done = discover(*args, cwd=tmp_path, extra={"DISC_AUTH": V3_AUTH})
    assert done.returncode == 0, done.stderr
    assert "1 of 1 answered the ping, 1 SNMP" in done.stderr
    assert "xa-a-sw-01" in done.stdout
    assert (
        f'snmp: {{version: "3", user: {V3_USER}, auth_protocol: sha256, '
        "auth_password: {env: DISC_AUTH}}"
    ) in done.stdout
    for secret in (V3_AUTH, V3_PRIV):
        assert secret not in done.stdout + done.stderr
    wrong = discover(*args, cwd=tmp_path, extra={"DISC_AUTH": "not-the-password"})
    assert wrong.returncode == 0, wrong.stderr
    assert "1 of 1 answered the ping, 0 SNMP" in wrong.stderr
    assert "SNMP: auth:" in wrong.stdout
    assert "not-the-password" not in wrong.stdout + wrong.stderr


def test_v3_refusals(tmp_path: Path) -> None:
    """A v3 user without a password, or with a community too, is refused before sweeping."""
    alone = discover("127.0.0.1/32", "--v3-user", "u", cwd=tmp_path)
    assert alone.returncode == 2
    assert "--auth-password-env" in alone.stderr
    both = discover(
        "127.0.0.1/32", "--v3-user", "u", "--community", "env:DISC_COMMUNITY", cwd=tmp_path
    )
    assert both.returncode == 2
    assert "not both" in both.stderr
    (tmp_path / "priv").write_text(V3_PRIV)
    half = discover(
        "127.0.0.1/32", "--v3-user", "u", "--auth-password-env", "DISC_COMMUNITY",
        "--priv-password-file", str(tmp_path / "priv"), cwd=tmp_path,
    )  # fmt: skip
    assert half.returncode == 2
    assert "go together" in half.stderr
    assert V3_PRIV not in half.stderr


def test_progress_and_ctrl_c(tmp_path: Path) -> None:
    """A long sweep (254 addresses at 20/s, ~13 s) says how far it is on stderr; SIGINT stops
    it within a couple of seconds, and the proposal of what answered so far is still printed
    (exit 130, as for any interrupted command)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "netwatch", "discover", "127.0.2.0/24", "--rate", "20"]
    proc = subprocess.Popen(
        [*argv, "--progress", "0.5"], cwd=tmp_path, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline(), proc.stderr.readline(), proc.stderr.readline()]
        assert lines[0].startswith("sweeping 254 addresses at 20/s")
        first = re.fullmatch(
            r"swept (\d+)/254 addresses, (\d+) answered the ping, 0 SNMP\n", lines[1]
        )
        second = re.fullmatch(
            r"swept (\d+)/254 addresses, \d+ answered the ping, 0 SNMP\n", lines[2]
        )
        assert first is not None, lines
        assert second is not None, lines
        assert 0 < int(first.group(1)) < int(second.group(1)) < 254
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert time.monotonic() - interrupted < 3
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    swept = int(re.search(r"interrupted: (\d+) of 254 addresses swept", stderr).group(1))  # type: ignore[union-attr]
    assert int(second.group(1)) <= swept < 254
    assert f"{swept} of {swept} answered the ping, 0 SNMP" in stderr
    assert stdout.count("role: other") == swept
    assert stdout.startswith("# Proposed by `netwatch discover`")
