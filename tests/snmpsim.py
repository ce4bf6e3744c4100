"""snmpsim (simulated SNMP agents from ``.snmprec`` recordings) on 127.0.0.1:<free UDP port>.

snmpsim conflicts with nothing in netwatch's venv but refuses to run as root and must be able
to read the Python it runs on, so it lives in its own venv on Debian's system Python::

    /usr/bin/python3 -m venv /work/main/.venv-snmpsim
    /work/main/.venv-snmpsim/bin/pip install snmpsim==1.2.2 pysmi

(``NETWATCH_SNMPSIM`` may name another ``snmpsim-command-responder``.) Each recording
``<name>.snmprec`` in the data directory answers to SNMP v2c community ``<name>``. As root the
simulator drops to nobody/nogroup, so its cache directory is made theirs.

>>> def test_x(snmpsim: Simulator) -> None:  # doctest: +SKIP
...     settings = snmpsim.settings("core-router")
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from netwatch.models import Secret, SnmpSettings
from tests.netns import Netns
from tests.snmpd import free_udp_port, tool_env

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "snmprec"
DEFAULT_BINARY = ROOT / ".venv-snmpsim" / "bin" / "snmpsim-command-responder"


@dataclass
class Simulator:
    """A running snmpsim; ``cli`` runs a net-snmp tool against one of its recordings."""

    host: str
    port: int
    data_dir: Path
    workdir: Path
    proc: subprocess.Popen[bytes]

    @property
    def communities(self) -> list[str]:
        return sorted(p.stem for p in self.data_dir.glob("*.snmprec"))

    def settings(self, community: str, **kw: object) -> SnmpSettings:
        """v2c settings for the recording ``community`` (the secret's source names it)."""
        secret = Secret(f"snmpsim:{community}", community)
        return SnmpSettings(community=secret, port=self.port, **kw)  # type: ignore[arg-type]

    def cli(self, tool: str, community: str, *args: str, timeout: float = 3) -> str:
        """``tool -v2c -c COMMUNITY -On -Oe -Ot -Oq`` against the simulator; stdout."""
        argv = [tool, "-v2c", "-c", community, "-On", "-Oe", "-Ot", "-r", "0", "-t", str(timeout)]
        argv += [f"udp:{self.host}:{self.port}", *args]
        out = subprocess.run(
            argv, env=tool_env(self.workdir), capture_output=True, check=True, timeout=60,
            text=True,
        )  # fmt: skip
        return out.stdout

    def values(self, tool: str, community: str, *oids: str) -> dict[str, str]:
        """``{numeric oid: raw value text}`` (strings unquoted and unescaped)."""
        result: dict[str, str] = {}
        for line in self.cli(tool, community, *oids).splitlines():
            oid, sep, rest = line.partition(" = ")
            if not sep or rest.startswith(("No more variables", "No Such ")):
                continue
            kind, sep2, value = rest.partition(": ")
            if not sep2 or not kind.replace("-", "").isalnum():  # -Ot: timeticks untyped
                value = rest
            value = value.strip()
            if value.startswith('"') and value.endswith('"'):
                value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            result[oid.lstrip(".")] = value
        return result


def binary() -> str | None:
    configured = os.environ.get("NETWATCH_SNMPSIM")
    if configured:
        return configured
    return str(DEFAULT_BINARY) if DEFAULT_BINARY.exists() else None


def _answers(sim: Simulator, community: str) -> bool:
    try:
        sim.cli("snmpget", community, "1.3.6.1.2.1.1.5.0")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return False
    return True


def start_snmpsim(data_dir: Path, workdir: Path, v3: Sequence[str] = ()) -> Simulator:
    """Start snmpsim for ``data_dir`` on a free loopback port; wait (≤ 20 s) until it answers.

    ``v3`` are snmpsim's SNMPv3 options (``--v3-engine-id=...``, ``--v3-user=...``, ...); a
    v3 request's context name picks the recording, as the community does for v2c.
    """
    exe = binary()
    if exe is None or shutil.which("snmpget") is None:
        pytest.skip("snmpsim (.venv-snmpsim, see tests/snmpsim.py) or net-snmp tools missing")
    cache = workdir / "cache"
    cache.mkdir(exist_ok=True)
    # A copy in the work directory: nobody may not be able to read the checkout (e.g. /root).
    data = workdir / "data"
    if not data.exists():
        shutil.copytree(data_dir, data)
    user: list[str] = []
    if os.geteuid() == 0:  # snmpsim refuses root; it drops to nobody, who must write the cache
        shutil.chown(cache, "nobody", "nogroup")
        user = ["--process-user=nobody", "--process-group=nogroup"]
    probe = sorted(data_dir.glob("*.snmprec"))[0].stem
    log_path = workdir / "snmpsim.log"
    for _attempt in range(3):  # a free port can be taken between probe and bind
        port = free_udp_port()
        # The engine options (v3), the data directory and the endpoint come last, in that
        # order: snmpsim reads them as one engine's settings.
        argv = [
            exe, f"--cache-dir={cache}", "--log-level=error", *user, *v3,
            f"--data-dir={data}", "--agent-udpv4-endpoint", f"127.0.0.1:{port}",
        ]  # fmt: skip
        with log_path.open("ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        sim = Simulator("127.0.0.1", port, data_dir, workdir, proc)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            if _answers(sim, probe):
                return sim
            time.sleep(0.2)
        stop_snmpsim(sim)
    raise RuntimeError(f"snmpsim did not start:\n{log_path.read_text(errors='replace')[-2000:]}")


def stop_snmpsim(sim: Simulator) -> None:
    if sim.proc.poll() is None:
        sim.proc.terminate()
        try:
            sim.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            sim.proc.kill()
            sim.proc.wait(timeout=5)


def running(data_dir: Path, v3: Sequence[str] = ()) -> Iterator[Simulator]:
    """A simulator for ``data_dir`` in a temporary work directory, stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="netwatch-snmpsim-") as tmp:
        os.chmod(tmp, 0o755)  # nobody must reach the cache directory inside
        sim = start_snmpsim(data_dir, Path(tmp), v3)
        try:
            yield sim
        finally:
            stop_snmpsim(sim)


@pytest.fixture(scope="module")
def snmpsim() -> Iterator[Simulator]:
    """One simulator per test module with every recording of ``tests/data/snmprec/devices``."""
    yield from running(DATA / "devices")


# --------------------------------------------------------------------------- real devices

REAL_DEVICES = Path(os.environ.get("NETWATCH_DEVICES") or ROOT.parent / "shared" / "devices")


def real_devices_copy(target: Path) -> list[str]:
    """Copy the recordings of ``../shared/devices`` into ``target`` for snmpsim; their names.

    Lines whose OID is not numeric (hand-anonymised ``10.xx.xx.100`` in the Windows one) are
    left out of the copy: snmpsim's record search raises on them and then answers nothing.
    Skips the test if the folder is absent (the recordings are never copied into the repo).
    """
    if not REAL_DEVICES.is_dir():
        pytest.skip(f"real-device recordings not found at {REAL_DEVICES} (../shared/devices)")
    names = []
    for path in sorted(REAL_DEVICES.glob("*.snmprec")):
        lines = path.read_bytes().splitlines(keepends=True)
        kept = [line for line in lines if line.split(b"|", 1)[0].replace(b".", b"").isdigit()]
        (target / path.name).write_bytes(b"".join(kept))
        names.append(path.stem)
    return names


@pytest.fixture(scope="module")
def real_snmpsim() -> Iterator[Simulator]:
    """One simulator per module serving a filtered copy of ``../shared/devices``."""
    with tempfile.TemporaryDirectory(prefix="netwatch-devices-") as tmp:
        os.chmod(tmp, 0o755)  # copied with its mode: nobody (snmpsim) must read it
        real_devices_copy(Path(tmp))
        yield from running(Path(tmp))


def start_agents_in(
    ns: Netns, agents: Mapping[str, Path], workdir: Path, *, port: int, community: str
) -> None:
    """One snmpsim inside ``ns`` answering at each ``address:port`` from that address's data
    directory (one engine per address: ``--v3-engine-id auto --data-dir D --agent-udpv4-endpoint
    A``); waits (≤ 30 s) until each answers ``community``. The namespace stops it on close.

    ``port`` is not 161: snmpsim, dropped to nobody, does not answer there."""
    exe = binary()
    if exe is None or shutil.which("snmpget") is None:
        pytest.skip("snmpsim (.venv-snmpsim, see tests/snmpsim.py) or net-snmp tools missing")
    os.chmod(workdir, 0o755)
    cache = workdir / "cache"
    cache.mkdir(exist_ok=True)
    shutil.chown(cache, "nobody", "nogroup")
    argv = [exe, f"--cache-dir={cache}", "--log-level=error",
            "--process-user=nobody", "--process-group=nogroup"]  # fmt: skip
    for address, data in agents.items():
        copy = workdir / f"data-{address}"
        shutil.copytree(data, copy)
        argv += ["--v3-engine-id", "auto", f"--data-dir={copy}",
                 "--agent-udpv4-endpoint", f"{address}:{port}"]  # fmt: skip
    log_path = workdir / "snmpsim.log"
    with log_path.open("wb") as log:
        ns.popen(argv, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    waiting = list(agents)
    while waiting and time.monotonic() < deadline:
        get = ns.run(
            ["snmpget", "-v2c", "-c", community, "-t", "0.5", "-r", "0",
             f"{waiting[0]}:{port}", "1.3.6.1.2.1.1.5.0"], check=False, timeout=10,
        )  # fmt: skip
        if get.returncode == 0:
            waiting.pop(0)
        else:
            time.sleep(0.3)
    if waiting:
        raise RuntimeError(f"snmpsim did not answer at {waiting}:\n{log_path.read_text()[-2000:]}")
