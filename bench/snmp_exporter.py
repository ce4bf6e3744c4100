"""Debian's ``prometheus-snmp-exporter`` (0.21) as bench/snmp.py's point of comparison.

Not a benchmark of its own: bench/snmp.py starts one exporter process per module on a free
127.0.0.1 port (``--web.listen-address``), scrapes ``/snmp?target=…&module=…`` with aiohttp at
the same concurrency and the same number of polls as netwatch's level, and reads the exporter's
own CPU (utime + stime in ``/proc/PID/stat``) before and after the level, and its peak RSS
(``VmHWM`` in ``/proc/PID/status``). The scraping client's CPU is not counted, and the
exporter's figure includes rendering the exposition text, which netwatch's poll figure does not.

Modules:

* ``if_mib`` (stock): Debian ships no usable ``snmp.yml`` (its ``/etc/prometheus/snmp.yml`` is
  a comment: the IETF MIBs are non-free), so the upstream generated ``if_mib`` module is read
  from ``../shared/bench/snmp_exporter/if_mib.yml``. It walks ifTable, ifXTable and ifNumber
  and GETs sysUpTime, with the defaults of 0.21 (v2c, max_repetitions 25, retries 3, 5 s).
* ``netwatch`` (bench/snmp_exporter_netwatch.yml, by hand): the scalars and the columns
  netwatch reads (netwatch/probes/snmp_oids.py), max_repetitions 25 as netwatch.

Each is copied to a temporary file with ``auth: {community: …}`` set to the agent's community
(0.21 keeps auth inside the module; its ``version: 3`` and ``auth:`` with ``security_level``,
``username``, ``password``, ``auth_protocol``, ``priv_protocol``, ``priv_password`` are what
later releases moved to ``auths:``). With bench/snmp.py's ``--v3-column``, the ``netwatch``
module runs a third time as ``snmp_exporter netwatch v3``: SNMPv3 authPriv
SHA-256/AES-128 as the agent's user ``sha256_aes``, the user netwatch's v3 row polls as.
Varbinds are the exporter's own count, ``snmp_scrape_pdus_returned`` of each scrape (0.21
counts each returned variable binding inside the walked subtrees, plus the GET's, as one
"PDU"); the GETBULK overshoot past a column's end is decoded but not counted, as for netwatch.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp

ROOT = Path(__file__).resolve().parents[1]
BINARY = "prometheus-snmp-exporter"
_STOCK = Path("shared", "bench", "snmp_exporter", "if_mib.yml")
# ../shared beside the checkout; from a git worktree one level deeper (wt/NAME), ../../shared.
STOCK_CONFIG = next(
    (p / _STOCK for p in (ROOT.parent, ROOT.parent.parent) if (p / _STOCK).is_file()),
    ROOT.parent / _STOCK,
)
NETWATCH_CONFIG = Path(__file__).with_name("snmp_exporter_netwatch.yml")
# (row label, module name, config file)
MODULES: tuple[tuple[str, str, Path], ...] = (
    ("snmp_exporter if_mib (stock)", "if_mib", STOCK_CONFIG),
    ("snmp_exporter netwatch columns", "netwatch", NETWATCH_CONFIG),
)
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Tally:
    """One level of polls: CPU seconds of the poller, wall seconds, what came back."""

    cpu: float
    wall: float
    varbinds: int
    timeouts: int
    errors: int
    rss_mib: float


@dataclass
class Exporter:
    """A running exporter serving one module on 127.0.0.1:``port``."""

    label: str
    module: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def url(self, target: str) -> str:
        return f"http://127.0.0.1:{self.port}/snmp?target={target}&module={self.module}"

    def cpu_seconds(self) -> float:
        """User + system CPU of the exporter process (all its threads) so far."""
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; field 3 is [0]
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICK

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0


def available() -> str | None:
    """Why the exporter rows cannot run, or ``None`` when they can."""
    if shutil.which(BINARY) is None:
        return f"{BINARY} is not installed (scripts/install-bench-peers)"
    if not STOCK_CONFIG.is_file():
        return f"the stock if_mib module is missing: {STOCK_CONFIG}"
    return None


@dataclass(frozen=True)
class V3Auth:
    """An authPriv SHA-256/AES-128 user, as snmp_exporter 0.21 writes it in a module."""

    username: str
    password: str
    priv_password: str

    def module_keys(self) -> dict[str, Any]:
        auth = {
            "security_level": "authPriv", "username": self.username, "password": self.password,
            "auth_protocol": "SHA256", "priv_protocol": "AES", "priv_password": self.priv_password,
        }  # fmt: skip
        return {"version": 3, "auth": auth}


V3_LABEL = "snmp_exporter netwatch v3"


def write_config(
    source: Path, module: str, community: str, dest: Path, v3: V3Auth | None = None
) -> None:
    """Copy ``module`` of ``source`` to ``dest`` with the agent's v2c community (or ``v3``)."""
    import yaml  # imported here only: it stays out of netwatch's RSS figures

    config: dict[str, Any] = yaml.safe_load(source.read_text())
    if module not in config:
        raise RuntimeError(f"{source} has no module {module!r}")
    auth = v3.module_keys() if v3 is not None else {"auth": {"community": community}}
    config = {module: {**config[module], **auth}}
    dest.write_text(yaml.safe_dump(config, sort_keys=False))


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    try:
        with opener.open(f"http://127.0.0.1:{port}/", timeout=1) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start(label: str, module: str, config: Path, workdir: Path) -> Exporter:
    """Start the exporter on a free loopback port; wait (≤ 10 s per attempt) until it answers."""
    log = workdir / f"{module}.log"
    for _attempt in range(3):  # a free port can be taken between probe and bind
        port = _free_tcp_port()
        argv = [
            BINARY, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ]  # fmt: skip
        with log.open("ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        exporter = Exporter(label, module, port, proc, log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if _answers(port):
                return exporter
            time.sleep(0.05)
        stop(exporter)
    raise RuntimeError(f"{BINARY} did not start:\n{log.read_text(errors='replace')[-2000:]}")


def stop(exporter: Exporter) -> None:
    if exporter.proc.poll() is None:
        exporter.proc.terminate()
        try:
            exporter.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            exporter.proc.kill()
            exporter.proc.wait(timeout=5)


@contextlib.contextmanager
def running(community: str, workdir: Path, v3: V3Auth | None = None) -> Iterator[list[Exporter]]:
    """Both modules' exporters, configured for ``community``, and with ``v3`` a third one
    (the ``netwatch`` module over SNMPv3); stopped afterwards."""
    exporters: list[Exporter] = []
    try:
        for label, module, source in MODULES:
            config = workdir / f"snmp_exporter_{module}.yml"
            write_config(source, module, community, config)
            exporters.append(start(label, module, config, workdir))
        if v3 is not None:
            config = workdir / "snmp_exporter_netwatch_v3.yml"
            write_config(NETWATCH_CONFIG, "netwatch", community, config, v3)
            v3_dir = workdir / "v3"  # its own log file
            v3_dir.mkdir(exist_ok=True)
            exporters.append(start(V3_LABEL, "netwatch", config, v3_dir))
        yield exporters
    finally:
        for exporter in exporters:
            stop(exporter)


def series(body: str) -> tuple[dict[str, int], set[str]]:
    """Series per metric name in an exposition text, and the names labelled by ``ifIndex``."""
    counts: dict[str, int] = {}
    per_interface: set[str] = set()
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        name, brace, rest = line.partition("{")
        if not brace:
            name = line.split(" ", 1)[0]
        elif 'ifIndex="' in rest:
            per_interface.add(name)
        counts[name] = counts.get(name, 0) + 1
    return counts, per_interface


def pdus_returned(body: str) -> int:
    """The exporter's count of varbinds read in this scrape."""
    at = body.rfind("\nsnmp_scrape_pdus_returned ")
    if at < 0:
        return 0
    return int(float(body[at:].split(None, 2)[1]))


async def scrape(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as reply:
        return reply.status, await reply.text()


async def level(
    session: aiohttp.ClientSession, exporter: Exporter, target: str, concurrency: int, polls: int
) -> Tally:
    """``polls`` scrapes, ``concurrency`` at a time; the exporter's CPU over the level."""
    import aiohttp  # imported here only: it stays out of netwatch's RSS figures

    sem = asyncio.Semaphore(concurrency)
    timeouts = errors = varbinds = 0
    url = exporter.url(target)

    async def one() -> None:
        nonlocal timeouts, errors, varbinds
        async with sem:
            try:
                status, body = await scrape(session, url)
            except TimeoutError:
                timeouts += 1
                return
            except aiohttp.ClientError:
                errors += 1
                return
        if status != 200:  # 0.21 answers 500 with the SNMP error as text
            if "timeout" in body.lower():
                timeouts += 1
            else:
                errors += 1
            return
        varbinds += pdus_returned(body)

    cpu0, wall0 = exporter.cpu_seconds(), time.monotonic()
    await asyncio.gather(*(one() for _ in range(polls)))
    cpu, wall = exporter.cpu_seconds() - cpu0, time.monotonic() - wall0
    return Tally(cpu, wall, varbinds, timeouts, errors, exporter.peak_rss_mib())


def check_module(exporter: Exporter, body: str, interfaces: int) -> str:
    """Raise unless every interface column has one series per interface; a summary line.

    ``interfaces`` is how many interfaces netwatch read from the same agent.
    """
    counts, per_interface = series(body)
    wrong = {name: counts[name] for name in per_interface if counts[name] != interfaces}
    if not per_interface or wrong:
        raise RuntimeError(
            f"{exporter.label}: expected {interfaces} series per interface column, got "
            f"{wrong or 'no interface columns'}; see {exporter.log}"
        )
    total = sum(n for name, n in counts.items() if not name.startswith("snmp_scrape_"))
    columns = len(per_interface)
    return (
        f"{exporter.label}: {total} series per scrape, of which {columns} interface columns "
        f"x {interfaces} interfaces = {columns * interfaces}; {pdus_returned(body)} varbinds"
    )


async def best(run: Callable[[], Awaitable[Tally]], repeat: int) -> Tally:
    """The run with the least CPU of ``repeat`` (other work on the machine only adds)."""
    runs = [await run() for _ in range(max(1, repeat))]
    return min(runs, key=lambda t: t.cpu)


async def measure(
    exporters: list[Exporter],
    target: str,
    interfaces: int,
    levels: list[int],
    polls: int,
    repeat: int,
) -> tuple[list[str], dict[tuple[str, int], Tally]]:
    """Check each module once (see :func:`check_module`), then run every level on each."""
    import aiohttp  # imported here only: it stays out of netwatch's RSS figures

    notes: list[str] = []
    results: dict[tuple[str, int], Tally] = {}
    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=0)  # the semaphore of each level bounds it
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        for exporter in exporters:
            status, body = await scrape(session, exporter.url(target))
            if status != 200:
                raise RuntimeError(f"{exporter.label}: HTTP {status}: {body[:500]}")
            notes.append(check_module(exporter, body, interfaces))
        for concurrency in levels:
            for exporter in exporters:
                run = functools.partial(level, session, exporter, target, concurrency, polls)
                results[(exporter.label, concurrency)] = await best(run, repeat)
    return notes, results
