"""A real net-snmp ``snmpd`` on 127.0.0.1:<free UDP port>, for integration tests.

The agent reads only the config this module writes (``-C -c FILE``), keeps its persistent
state in a temporary directory (never ``/var/lib/snmp``), skips SMUX (which would listen on
0.0.0.0:199) and is killed when the fixture ends.

>>> def test_x(snmpd: SnmpAgent) -> None:  # doctest: +SKIP
...     out = snmpd.cli("snmpget", "1.3.6.1.2.1.1.5.0")
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

COMMUNITY = "public"
AUTH_PASSWORD = "authpass-123"
PRIV_PASSWORD = "privpass-456"

# netwatch name -> net-snmp createUser name
AUTH_PROTOCOLS = {
    "md5": "MD5",
    "sha": "SHA",
    "sha224": "SHA-224",
    "sha256": "SHA-256",
    "sha384": "SHA-384",
    "sha512": "SHA-512",
}
# AES-192/256 extend the key the Blumenthal way; AES-192-C/AES-256-C the Reeder ("Cisco") way.
PRIV_PROTOCOLS = {
    "des": "DES",
    "aes": "AES",
    "aes192": "AES-192",
    "aes256": "AES-256",
    "aes192c": "AES-192-C",
    "aes256c": "AES-256-C",
}

# Modules skipped: smux listens on 0.0.0.0:199; the mteTrigger family wants to send traps.
EXCLUDED_MODULES = "smux,mteTrigger,mteTriggerConf"


@dataclass(frozen=True)
class V3User:
    name: str
    auth: str | None  # netwatch protocol name, None for noAuthNoPriv
    priv: str | None


def v3_users() -> list[V3User]:
    """Every auth x priv combination, every auth without priv, and one noAuthNoPriv user."""
    users = [V3User("noauth", None, None)]
    for auth in AUTH_PROTOCOLS:
        users.append(V3User(f"{auth}_none", auth, None))
        users.extend(V3User(f"{auth}_{priv}", auth, priv) for priv in PRIV_PROTOCOLS)
    return users


@dataclass
class SnmpAgent:
    """A running snmpd; ``cli`` runs a net-snmp command-line tool against it (v2c)."""

    host: str
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes]
    users: list[V3User] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"udp:{self.host}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return tool_env(self.workdir)

    def cli(self, tool: str, *args: str) -> str:
        """Run ``tool -v2c -c public -On -Oe -Ot TARGET args`` (numeric, raw) and return stdout."""
        argv = [tool, "-v2c", "-c", COMMUNITY, "-On", "-Oe", "-Ot", "-r", "1", "-t", "2"]
        argv += [self.target, *args]
        out = subprocess.run(
            argv, env=self.env, capture_output=True, check=True, timeout=30, text=True
        )
        return out.stdout

    def cli_v3(self, tool: str, user: V3User, *args: str) -> str:
        """``tool`` as ``user`` (SNMPv3, its level, the test passwords), numeric and raw."""
        argv = [tool, "-v3", "-u", user.name, "-On", "-Oe", "-Ot", "-r", "1", "-t", "2"]
        if user.auth is None:
            argv += ["-l", "noAuthNoPriv"]
        else:
            argv += ["-a", AUTH_PROTOCOLS[user.auth], "-A", AUTH_PASSWORD]
            if user.priv is None:
                argv += ["-l", "authNoPriv"]
            else:
                argv += ["-l", "authPriv", "-x", PRIV_PROTOCOLS[user.priv], "-X", PRIV_PASSWORD]
        argv += [self.target, *args]
        out = subprocess.run(
            argv, env=self.env, capture_output=True, check=True, timeout=30, text=True
        )
        return out.stdout

    def values(self, tool: str, *oids: str, user: V3User | None = None) -> dict[str, str]:
        """``{numeric oid: raw value text}`` from ``snmpget``/``snmpbulkwalk`` output (v2c,
        or SNMPv3 as ``user``)."""
        result: dict[str, str] = {}
        text = self.cli(tool, *oids) if user is None else self.cli_v3(tool, user, *oids)
        for line in text.splitlines():
            oid, sep, rest = line.partition(" = ")
            if not sep:
                continue
            kind, sep2, value = rest.partition(": ")
            if not sep2 or not kind.replace("-", "").isalnum():  # -Ot: timeticks untyped
                value = rest
            result[oid.lstrip(".")] = value.strip().strip('"')
        return result


def tool_env(workdir: Path) -> dict[str, str]:
    """Environment for snmpd and the client tools: state in ``workdir``, no MIB loading."""
    persist = workdir / "persist"
    persist.mkdir(exist_ok=True)
    mibs = workdir / "mibs"
    mibs.mkdir(exist_ok=True)
    return {
        **os.environ,
        "SNMP_PERSISTENT_DIR": str(persist),
        "SNMPCONFPATH": str(workdir / "conf"),  # no /etc/snmp/snmp.conf for the tools
        "MIBDIRS": str(mibs),
        "MIBS": "",
    }


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_config(path: Path, users: list[V3User], extra: str = "") -> None:
    lines = [f"rocommunity {COMMUNITY} 127.0.0.1"]
    for u in users:
        if u.auth is None:
            lines.append(f"createUser {u.name}")
            lines.append(f"rouser {u.name} noauth")
        elif u.priv is None:
            lines.append(f'createUser {u.name} {AUTH_PROTOCOLS[u.auth]} "{AUTH_PASSWORD}"')
            lines.append(f"rouser {u.name} auth")
        else:
            lines.append(
                f'createUser {u.name} {AUTH_PROTOCOLS[u.auth]} "{AUTH_PASSWORD}" '
                f'{PRIV_PROTOCOLS[u.priv]} "{PRIV_PASSWORD}"'
            )
            lines.append(f"rouser {u.name} priv")
    path.write_text("\n".join(lines) + "\n" + extra)


def _answers(agent: SnmpAgent) -> bool:
    try:
        agent.cli("snmpget", "1.3.6.1.2.1.1.3.0")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return False
    return True


def start_snmpd(
    workdir: Path,
    users: list[V3User] | None = None,
    directives: Sequence[str] = (),
    port: int | None = None,
) -> SnmpAgent:
    """Start snmpd on a free loopback UDP port (or ``port``, e.g. to restart an agent where
    it was) and wait (≤ 10 s) until it answers.

    ``directives`` are extra snmpd.conf lines, e.g. ``["maxGetbulkResponses 10"]``.
    """
    if shutil.which("snmpd") is None:
        pytest.skip("net-snmp snmpd is not installed")
    users = v3_users() if users is None else users
    conf = workdir / "snmpd.conf"
    write_config(conf, users, "".join(f"{line}\n" for line in directives))
    env = tool_env(workdir)
    fixed = port
    for _attempt in range(3):  # a free port can be taken between probe and bind
        port = fixed or free_udp_port()
        argv = [
            "snmpd", "-f", "-Lf", str(workdir / "snmpd.log"), "-C", "-c", str(conf),
            "-I", f"-{EXCLUDED_MODULES}", "-p", str(workdir / "snmpd.pid"),
            f"udp:127.0.0.1:{port}",
        ]  # fmt: skip
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        agent = SnmpAgent("127.0.0.1", port, workdir, proc, users)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if _answers(agent):
                return agent
            time.sleep(0.1)
        stop_snmpd(agent)
    log = (workdir / "snmpd.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"snmpd did not start:\n{log}")


def stop_snmpd(agent: SnmpAgent) -> None:
    if agent.proc.poll() is None:
        agent.proc.terminate()
        try:
            agent.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            agent.proc.kill()
            agent.proc.wait(timeout=5)


@pytest.fixture(scope="module")
def snmpd() -> Iterator[SnmpAgent]:
    """One snmpd per test module, with the v2c community and every v3 user of ``v3_users``."""
    with tempfile.TemporaryDirectory(prefix="netwatch-snmpd-") as tmp:
        agent = start_snmpd(Path(tmp))
        try:
            yield agent
        finally:
            stop_snmpd(agent)
