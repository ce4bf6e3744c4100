"""SNMP benchmark: netwatch's poller beside Debian's snmp_exporter, against the same agent.

Starts a real net-snmp ``snmpd`` on 127.0.0.1 (tests/snmpd.py), then polls it ``--polls`` times
at each concurrency level (interfaces + system + host, v2c by default, ``--v3`` for SHA/AES).
In the same run, against the same agent, it scrapes Debian's ``prometheus-snmp-exporter`` the
same number of times at the same concurrency, once with the stock ``if_mib`` module and once
with a module that reads only what netwatch reads (bench/snmp_exporter.py says where the
modules come from and how the exporter's CPU, RSS and varbinds are measured). One table, per
level: CPU milliseconds per device poll, devices polled per CPU-second and per CPU-minute,
varbinds per CPU-second, polls per wall second, timeouts and errors (must be 0), peak RSS::

    .venv/bin/python bench/snmp.py --levels 1,10,50,100 --polls 400 --repeat 3
    .venv/bin/python bench/snmp.py --snmpsim core-router --levels 10 --polls 100
    .venv/bin/python bench/snmp.py --devices 2000
    .venv/bin/python bench/snmp.py --snmpd-directive 'maxGetbulkResponses 10' --no-exporter
    .venv/bin/python bench/snmp.py --v3-column --no-exporter --levels 1,10 --polls 200

``--v3-column`` adds, in the same run against the same agent, netwatch's SNMPv3 rows
(authPriv SHA-256/AES-128 through its own codec, :mod:`netwatch.probes.snmp_v3`) and their
CPU ratio to the v2c rows (the goal: at most 1.3x); v2c and v3 runs alternate. Unless
``--no-exporter``, snmp_exporter's ``netwatch`` module is also scraped over SNMPv3 as the same
user (row ``snmp_exporter netwatch v3``), and its CPU per poll compared to netwatch's v3.

``--interfaces N`` gives snmpd N interfaces: the benchmark runs itself again inside a new
network namespace (``unshare --net``, as root) holding lo, veth pairs and a bridge, so a real
net-snmp agent answers like a 48-port switch, over v2c and v3 alike (snmpsim's 48-port
recording cannot be read with privacy: see tests/integration/test_snmp_v3_sim.py)::

    .venv/bin/python bench/snmp.py --interfaces 48 --v3-column --no-exporter --levels 1,10

CPU is the poller's own: netwatch's is this process's (``time.process_time``), the exporter's
is its process's (``/proc``); neither counts the agent, and the exporter's includes rendering
its text for the scrape. netwatch's varbinds are the values it keeps (:func:`varbinds_of`);
the exporter's are its ``snmp_scrape_pdus_returned``. All netwatch levels run before the
exporters are scraped, so the scraping client's memory never counts in netwatch's peak RSS.
On a shared machine other work inflates CPU figures: ``--repeat`` keeps the best of several
runs of each level. The exporter rows are left out (with a note) when it is not installed
(``scripts/install-bench-peers``) or with ``--no-exporter``.

``--snmpsim RECORDING`` polls a simulated device instead (e.g. the 48-port core-router);
snmpsim answers slowly (it is pure Python), so use it for CPU per poll, not for throughput.

``--devices N`` measures memory instead: snmpd listens on N distinct loopback addresses
(127.2.x.y, one port) and netwatch's poller polls each once at concurrency 100, keeping every
sample as the daemon keeps the last one per device; it prints RSS before and after, the peak,
and timeouts (the goal: peak RSS under 150 MiB for 2,000 devices).

``--profile`` runs one more level under cProfile and prints where the poll CPU goes (by
package, then the top functions by own time). ``--export N`` renders the last poll as N devices
through ``netwatch.exporters.snmp.write_snmp`` and prints the cost
per series (what a scrape of a province costs).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script
    sys.path.insert(0, str(ROOT))


from bench import snmp_exporter  # noqa: E402
from bench.snmp_exporter import Tally, best  # noqa: E402
from netwatch.exporters.snmp import SnmpRow, write_snmp  # noqa: E402
from netwatch.exporters.text import MetricsText, label_pairs  # noqa: E402
from netwatch.models import Device, FailureKind, Role, Sample, Secret, SnmpSettings  # noqa: E402
from netwatch.probes.snmp import SnmpPoller  # noqa: E402
from netwatch.probes.snmp_data import SnmpData  # noqa: E402
from netwatch.state import CheckState  # noqa: E402
from tests.snmpd import (  # noqa: E402
    AUTH_PASSWORD,
    COMMUNITY,
    EXCLUDED_MODULES,
    PRIV_PASSWORD,
    SnmpAgent,
    free_udp_port,
    start_snmpd,
    stop_snmpd,
    tool_env,
    write_config,
)
from tests.snmpsim import DATA, running  # noqa: E402


def varbinds_of(data: SnmpData | None) -> int:
    """Values read in one poll (approximate: the columns netwatch keeps)."""
    if data is None:
        return 0
    n = 6 if data.system else 0
    n += 13 * len(data.interfaces or ())
    if data.host:
        n += 1 + 5 * len(data.host.storage) + len(data.host.cpu_loads) + 3
    return n


async def level(poller: SnmpPoller, settings: SnmpSettings, concurrency: int, polls: int) -> Tally:
    sem = asyncio.Semaphore(concurrency)
    timeouts = errors = varbinds = 0

    async def one(i: int) -> None:
        nonlocal timeouts, errors, varbinds
        async with sem:
            # As in the daemon, the same devices again and again: the poller learns each one's
            # tables (row count, columns per request) on its first poll.
            sample = await poller.poll(f"dev{i % concurrency}", "127.0.0.1", settings)
        if sample.failure is not None:
            if sample.failure.kind is FailureKind.TIMEOUT:
                timeouts += 1
            else:
                errors += 1
        varbinds += varbinds_of(sample.data)

    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.gather(*(one(i) for i in range(polls)))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    return Tally(cpu, wall, varbinds, timeouts, errors, peak_rss_mib())


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


HEADER = (
    f"{'poller':<30} {'conc':>4} {'polls':>5} {'CPU ms/poll':>11} {'dev/CPU-s':>9} "
    f"{'dev/CPU-min':>11} {'varbinds/CPU-s':>14} {'polls/s':>7} {'timeouts':>8} {'errors':>6} "
    f"{'peak RSS MiB':>12}"
)


def row(who: str, concurrency: int, polls: int, t: Tally) -> str:
    per_s = polls / t.cpu if t.cpu > 0 else float("inf")
    varbinds = t.varbinds / t.cpu if t.cpu > 0 else float("inf")
    return (
        f"{who:<30} {concurrency:>4} {polls:>5} {1000 * t.cpu / polls:>11.2f} {per_s:>9,.0f} "
        f"{60 * per_s:>11,.0f} {varbinds:>14,.0f} {polls / t.wall:>7.1f} {t.timeouts:>8} "
        f"{t.errors:>6} {t.rss_mib:>12.1f}"
    )


def package(filename: str) -> str:
    """Which library a profiled function belongs to."""
    for name in ("pyasn1", "pysnmp", "netwatch", "asyncio"):
        if f"/{name}/" in filename:
            return name
    return "other (stdlib, builtins)"


def print_profile(profile: cProfile.Profile, polls: int, top: int = 15) -> None:
    stats = pstats.Stats(profile)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _cc, _nc, tt, _ct, _callers in raw.values())
    by_package: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, tt, _ct, _callers) in raw.items():
        by_package[package(filename)] = by_package.get(package(filename), 0.0) + tt
    print(f"\nprofile of {polls} polls: {1000 * total / polls:.2f} ms own time per poll")
    for name, tt in sorted(by_package.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<26} {100 * tt / total:5.1f} %")
    print(f"\ntop {top} functions by own time:")
    rows = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
    for (filename, line, name), (_cc, calls, tt, _ct, _callers) in rows:
        where = f"{Path(filename).parent.name}/{Path(filename).name}:{line}"
        print(f"  {100 * tt / total:5.1f} %  {calls / polls:7.1f} calls/poll  {name}  ({where})")


def export_cost(sample: Sample[SnmpData], settings: SnmpSettings, devices: int) -> None:
    """Render one poll's data as ``devices`` devices; print the per-series cost."""
    names = ["device", "site", "role", "province", "district", "commune"]
    rows = []
    for i in range(devices):
        check = CheckState(last=sample, last_ok=sample)
        device = Device(f"dev{i}", "127.0.0.1", Role.SERVER, "site", snmp=settings)
        labels = label_pairs(names, [f"dev{i}", "site", "server", "p", "d", "c"])
        rows.append(SnmpRow(device, labels, check, 0))
    out = MetricsText()
    cpu0 = time.process_time()
    write_snmp(out, rows, sample.at)
    text = out.text()
    cpu1 = time.process_time()
    series = sum(1 for line in text.splitlines() if not line.startswith("#"))
    print(
        f"\nexport of {devices} devices: {series:,} series, {len(text) / 1e6:.1f} MB\n"
        f"  write_snmp to text {1e6 * (cpu1 - cpu0) / series:6.2f} us CPU per series"
    )


def settings_for(args: argparse.Namespace, port: int) -> SnmpSettings:
    settings = _settings_for(args, port)
    if args.no_health:  # what the poll cost before device profiles (probes/health.py)
        return replace(settings, collect=("system", "interfaces", "host"))
    return settings


def _settings_for(args: argparse.Namespace, port: int) -> SnmpSettings:
    if args.snmpsim:
        return SnmpSettings(community=Secret("bench", args.snmpsim), port=port, timeout=5)
    if args.v3:
        return SnmpSettings(
            version="3", user="sha_aes", auth_protocol="sha",
            auth_password=Secret("bench", AUTH_PASSWORD), priv_protocol="aes",
            priv_password=Secret("bench", PRIV_PASSWORD), port=port, timeout=5, retries=1,
        )  # fmt: skip
    return SnmpSettings(community=Secret("bench", COMMUNITY), port=port, timeout=5)


async def main(args: argparse.Namespace, port: int, workdir: Path) -> None:
    settings = settings_for(args, port)
    poller = await SnmpPoller.create()
    try:
        warm = await poller.poll("warmup", "127.0.0.1", settings)
        assert warm.data is not None, warm.failure
        interfaces = len(warm.data.interfaces or ())
        agent = f"snmpsim {args.snmpsim}" if args.snmpsim else "snmpd"
        version = "v3 SHA/AES" if args.v3 and not args.snmpsim else "v2c"
        print(
            f"SNMP {version} against {agent} on 127.0.0.1:{port} ({interfaces} interfaces), "
            f"best of {args.repeat}",
            flush=True,
        )
        ours: dict[int, Tally] = {}
        v3_rows: dict[int, Tally] = {}
        v3_settings = v3_column_settings(port) if args.v3_column else None
        if v3_settings is not None:
            warm3 = await poller.poll("warmup-v3", "127.0.0.1", v3_settings)
            assert warm3.data is not None, warm3.failure
        for conc in args.levels:
            run = functools.partial(level, poller, settings, conc, args.polls)
            if v3_settings is None:
                ours[conc] = await best(run, args.repeat)
                continue
            # v2c and v3 runs alternate, so that other work on the machine weighs on both.
            run3 = functools.partial(level, poller, v3_settings, conc, args.polls)
            pairs = [(await run(), await run3()) for _ in range(max(1, args.repeat))]
            ours[conc] = min((p[0] for p in pairs), key=lambda t: t.cpu)
            v3_rows[conc] = min((p[1] for p in pairs), key=lambda t: t.cpu)
        theirs: dict[tuple[str, int], Tally] = {}
        labels: list[str] = []
        why_not = exporter_skipped(args)
        if why_not is None:
            community = args.snmpsim or COMMUNITY
            v3_auth = (
                snmp_exporter.V3Auth("sha256_aes", AUTH_PASSWORD, PRIV_PASSWORD)
                if args.v3_column
                else None
            )
            with snmp_exporter.running(community, workdir, v3_auth) as exporters:
                notes, theirs = await snmp_exporter.measure(
                    exporters, f"127.0.0.1:{port}", interfaces, args.levels, args.polls,
                    args.repeat,
                )  # fmt: skip
                labels = [e.label for e in exporters]
            print("\n".join(notes))
        else:
            print(f"snmp_exporter rows left out: {why_not}")
        print(HEADER)
        for conc in args.levels:
            print(row("netwatch", conc, args.polls, ours[conc]))
            if conc in v3_rows:
                print(row("netwatch v3 SHA-256/AES own", conc, args.polls, v3_rows[conc]))
            for label in labels:
                print(row(label, conc, args.polls, theirs[(label, conc)]))
        print(
            "CPU is the poller's own (netwatch: this process; snmp_exporter: its process, "
            "rendering included), not the agent's."
        )
        for conc, t in v3_rows.items():
            ratio = t.cpu / ours[conc].cpu if ours[conc].cpu > 0 else float("inf")
            print(f"v3 own codec / v2c CPU at concurrency {conc}: {ratio:.2f}x (goal <= 1.3x)")
            theirs_v3 = theirs.get((snmp_exporter.V3_LABEL, conc))
            if theirs_v3 is not None and t.cpu > 0:
                versus = theirs_v3.cpu / t.cpu
                print(f"snmp_exporter v3 / netwatch v3 CPU per poll at concurrency {conc}: "
                      f"{versus:.2f}x (goal > 1)")  # fmt: skip
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            await level(poller, settings, args.levels[-1], args.polls)
            profile.disable()
            print_profile(profile, args.polls)
        if args.export:
            sample = await poller.poll("export", "127.0.0.1", settings)
            assert sample.data is not None, sample.failure
            export_cost(sample, settings, args.export)
    finally:
        poller.close()


def v3_column_settings(port: int) -> SnmpSettings:
    """authPriv SHA-256/AES-128 as tests/snmpd.py's user ``sha256_aes``."""
    return SnmpSettings(
        version="3", user="sha256_aes", auth_protocol="sha256",
        auth_password=Secret("bench", AUTH_PASSWORD), priv_protocol="aes",
        priv_password=Secret("bench", PRIV_PASSWORD), port=port, timeout=5, retries=1,
    )  # fmt: skip


def exporter_skipped(args: argparse.Namespace) -> str | None:
    if args.no_exporter:
        return "--no-exporter"
    if args.v3 and not args.snmpsim:
        return "--v3 (the modules here are v2c)"
    return snmp_exporter.available()


# --------------------------------------------------------------------------- many devices


def device_addresses(n: int) -> list[str]:
    """N distinct loopback addresses 127.2.x.y, 250 per /24 (no .0 or .255)."""
    if not 0 < n <= 250 * 256:
        raise SystemExit(f"--devices must be between 1 and {250 * 256}")
    return [f"127.2.{i // 250}.{i % 250 + 1}" for i in range(n)]


def start_snmpd_on(workdir: Path, addresses: list[str]) -> SnmpAgent:
    """One snmpd answering on every address (one socket each, the same UDP port)."""
    conf = workdir / "snmpd.conf"
    write_config(conf, [])  # requests come from 127.0.0.1, which the community allows
    for _attempt in range(3):  # a free port can be taken between probe and bind
        port = free_udp_port()
        listen = [f"udp:{a}:{port}" for a in addresses]
        # Several arguments of 500 addresses: one argument may not exceed 128 KiB.
        chunks = [",".join(listen[i : i + 500]) for i in range(0, len(listen), 500)]
        argv = [
            "snmpd", "-f", "-Lf", str(workdir / "snmpd.log"), "-C", "-c", str(conf),
            "-I", f"-{EXCLUDED_MODULES}", "-p", str(workdir / "snmpd.pid"), *chunks,
        ]  # fmt: skip
        proc = subprocess.Popen(
            argv, env=tool_env(workdir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        agent = SnmpAgent(addresses[-1], port, workdir, proc)  # the last socket opened
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                agent.cli("snmpget", "1.3.6.1.2.1.1.3.0")
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                time.sleep(0.2)
                continue
            return agent
        stop_snmpd(agent)
    log = (workdir / "snmpd.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"snmpd did not start on {len(addresses)} addresses:\n{log}")


async def many_devices(
    addresses: list[str], port: int, rounds: int, concurrency: int, lazy: bool = False
) -> int:
    """Poll every address ``rounds`` times; print RSS and failures. 1 if any poll failed.

    Like the daemon, it registers every device with the SNMP engine first (``prepare``);
    ``lazy`` leaves that to each device's first poll, which pysnmp makes quadratic."""
    settings = SnmpSettings(community=Secret("bench", COMMUNITY), port=port, timeout=5)
    poller = await SnmpPoller.create()
    kept: dict[str, Sample[SnmpData]] = {}  # the last sample per device, as the daemon keeps
    try:
        warm = await poller.poll("warmup", addresses[0], settings)  # pysnmp's code paths
        assert warm.data is not None, warm.failure
        print(
            f"{len(addresses)} devices (127.2.x.y, one snmpd), concurrency {concurrency}, "
            f"v2c; RSS after start-up and one poll: {current_rss_mib():.1f} MiB"
        )
        if not lazy:
            cpu0 = time.process_time()
            await poller.prepare((a, a, settings) for a in addresses)
            print(f"registered ahead (SnmpPoller.prepare): {time.process_time() - cpu0:.1f} CPU-s")
        print(
            f"{'round':>5} {'polls':>6} {'CPU s':>7} {'dev/CPU-s':>9} {'wall s':>7} "
            f"{'timeouts':>8} {'errors':>6} {'RSS MiB':>8} {'peak RSS MiB':>12}"
        )
        sem = asyncio.Semaphore(concurrency)
        failed = 0
        for n in range(1, rounds + 1):
            timeouts = errors = 0

            async def one(i: int, address: str) -> None:
                nonlocal timeouts, errors
                async with sem:
                    sample = await poller.poll(f"dev{i}", address, settings)
                kept[sample.device] = sample
                if sample.failure is not None:
                    if sample.failure.kind is FailureKind.TIMEOUT:
                        timeouts += 1
                    else:
                        errors += 1

            cpu0, wall0 = time.process_time(), time.monotonic()
            await asyncio.gather(*(one(i, a) for i, a in enumerate(addresses)))
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
            print(
                f"{n:>5} {len(addresses):>6} {cpu:>7.1f} {len(addresses) / cpu:>9,.0f} "
                f"{wall:>7.1f} {timeouts:>8} {errors:>6} {current_rss_mib():>8.1f} "
                f"{peak_rss_mib():>12.1f}",
                flush=True,
            )
            failed += timeouts + errors
        print(f"{len(kept)} samples kept (one per device)")
    finally:
        poller.close()
    return 1 if failed else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--levels", default="1,10,50,100", type=lambda s: [int(x) for x in s.split(",")]
    )
    parser.add_argument("--polls", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=1, help="runs per level; the best is kept")
    parser.add_argument("--v3", action="store_true")
    parser.add_argument(
        "--interfaces", type=int, default=0, metavar="N",
        help="give snmpd N interfaces (veth pairs in a new network namespace; root)",
    )  # fmt: skip
    parser.add_argument(
        "--v3-column", action="store_true",
        help="also poll by SNMPv3 authPriv SHA-256/AES (own codec) and print the CPU ratio",
    )  # fmt: skip
    parser.add_argument(
        "--snmpd-directive",
        action="append",
        default=[],
        metavar="LINE",
        help="an extra snmpd.conf line, e.g. 'maxGetbulkResponses 10' (repeatable)",
    )
    parser.add_argument("--no-health", action="store_true", help="no device-profile health")
    parser.add_argument("--no-exporter", action="store_true", help="netwatch's rows only")
    parser.add_argument("--profile", action="store_true", help="cProfile one more level")
    parser.add_argument("--export", type=int, default=0, metavar="N", help="render N devices")
    parser.add_argument(
        "--snmpsim", metavar="RECORDING", help="poll a tests/data/snmprec/devices recording"
    )
    parser.add_argument(
        "--devices", type=int, default=0, metavar="N",
        help="instead: poll N distinct devices (snmpd on N loopback addresses) for peak RSS",
    )  # fmt: skip
    parser.add_argument("--device-rounds", type=int, default=1, help="with --devices")
    parser.add_argument(
        "--lazy", action="store_true", help="with --devices: register each device at its first poll"
    )
    return parser.parse_args()


def in_namespace_with_interfaces(count: int) -> None:
    """Run this benchmark again in a new network namespace with ``count`` interfaces."""
    pairs, bridge = divmod(max(0, count - 1), 2)
    script = ["ip link set lo up"]
    script += [
        f"ip link add va{i} type veth peer name vb{i} && ip link set va{i} up "
        f"&& ip link set vb{i} up"
        for i in range(pairs)
    ]
    if bridge:
        script.append("ip link add br0 type bridge && ip link set br0 up")
    script.append('exec "$@"')
    argv = [a for a in sys.argv[1:] if not a.startswith("--interfaces")]
    if "--interfaces" in sys.argv:  # "--interfaces N" as two words
        at = sys.argv.index("--interfaces")
        argv = sys.argv[1:at] + sys.argv[at + 2 :]
    env = {**os.environ, "NETWATCH_BENCH_NETNS": "1"}
    command = ["unshare", "--net", "sh", "-ec", " && ".join(script[:-1]) + "\n" + script[-1]]
    command += ["sh", sys.executable, "-m", "bench.snmp", *argv]
    sys.exit(subprocess.run(command, env=env, cwd=ROOT, check=False).returncode)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.interfaces and not os.environ.get("NETWATCH_BENCH_NETNS"):
        in_namespace_with_interfaces(arguments.interfaces)
    if arguments.devices:
        with tempfile.TemporaryDirectory(prefix="netwatch-bench-snmpd-") as tmp:
            addresses = device_addresses(arguments.devices)
            agent = start_snmpd_on(Path(tmp), addresses)
            try:
                code = asyncio.run(
                    many_devices(
                        addresses, agent.port, max(1, arguments.device_rounds), 100, arguments.lazy
                    )
                )
            finally:
                stop_snmpd(agent)
        sys.exit(code)
    with tempfile.TemporaryDirectory(prefix="netwatch-bench-snmp-") as tmp:
        if arguments.snmpsim:
            for sim in running(DATA / "devices"):
                asyncio.run(main(arguments, sim.port, Path(tmp)))
            sys.exit(0)
        agent = start_snmpd(Path(tmp), directives=arguments.snmpd_directive)
        try:
            asyncio.run(main(arguments, agent.port, Path(tmp)))
        finally:
            stop_snmpd(agent)
