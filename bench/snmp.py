"""SNMP benchmark: netwatch's poller against one real net-snmp agent on 127.0.0.1.

Starts ``snmpd`` (tests/snmpd.py), then polls it ``--polls`` times at each concurrency level
(interfaces + system + host, v2c by default, ``--v3`` for SHA/AES), and prints per level:
CPU milliseconds per device poll, varbinds decoded per CPU-second, timeouts (must be 0) and
peak RSS::

    .venv/bin/python bench/snmp.py --levels 1,10,50,100 --polls 400
    .venv/bin/python bench/snmp.py --snmpsim core-router --levels 10 --polls 200

``--snmpsim RECORDING`` polls a simulated device instead (e.g. the 48-port core-router);
snmpsim answers slowly (it is pure Python), so use it for CPU per poll, not for throughput.

``--profile`` runs one more level under cProfile and prints where the poll CPU goes (by
package, then the top functions by own time). ``--export N`` renders the last poll as N devices
through ``netwatch.exporters.snmp.write_snmp`` and prints the cost
per series (what a scrape of a province costs).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script
    sys.path.insert(0, str(ROOT))


from netwatch.exporters.snmp import SnmpRow, write_snmp  # noqa: E402
from netwatch.exporters.text import MetricsText, label_pairs  # noqa: E402
from netwatch.models import Device, FailureKind, Role, Sample, Secret, SnmpSettings  # noqa: E402
from netwatch.probes.snmp import SnmpData, SnmpPoller  # noqa: E402
from netwatch.state import CheckState  # noqa: E402
from tests.snmpd import AUTH_PASSWORD, PRIV_PASSWORD, start_snmpd, stop_snmpd  # noqa: E402
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


async def level(poller: SnmpPoller, settings: SnmpSettings, concurrency: int, polls: int) -> str:
    sem = asyncio.Semaphore(concurrency)
    timeouts = errors = varbinds = 0

    async def one(i: int) -> None:
        nonlocal timeouts, errors, varbinds
        async with sem:
            sample = await poller.poll(f"dev{i}", "127.0.0.1", settings)
        if sample.failure is not None:
            if sample.failure.kind is FailureKind.TIMEOUT:
                timeouts += 1
            else:
                errors += 1
        varbinds += varbinds_of(sample.data)

    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.gather(*(one(i) for i in range(polls)))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (
        f"{concurrency:>11} {polls:>6} {1000 * cpu / polls:>13.2f} {varbinds / cpu:>15,.0f} "
        f"{polls / wall:>9.1f} {timeouts:>8} {errors:>6} {rss_mib:>13.1f}"
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


async def main(args: argparse.Namespace, port: int) -> None:
    if args.snmpsim:
        settings = SnmpSettings(community=Secret("bench", args.snmpsim), port=port, timeout=5)
    elif args.v3:
        settings = SnmpSettings(
            version="3", user="sha_aes", auth_protocol="sha",
            auth_password=Secret("bench", AUTH_PASSWORD), priv_protocol="aes",
            priv_password=Secret("bench", PRIV_PASSWORD), port=port, timeout=5, retries=1,
        )  # fmt: skip
    else:
        settings = SnmpSettings(community=Secret("bench", "public"), port=port, timeout=5)
    poller = await SnmpPoller.create()
    try:
        await poller.poll("warmup", "127.0.0.1", settings)
        agent = f"snmpsim {args.snmpsim}" if args.snmpsim else "snmpd"
        version = "v3 SHA/AES" if args.v3 and not args.snmpsim else "v2c"
        print(f"SNMP {version} against {agent} on 127.0.0.1:{port}")
        print(
            "concurrency  polls  CPU ms/poll  varbinds/CPU-s  polls/s  timeouts errors  "
            "peak RSS MiB"
        )
        for conc in args.levels:
            print(await level(poller, settings, conc, args.polls), flush=True)
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--levels", default="1,10,50,100", type=lambda s: [int(x) for x in s.split(",")]
    )
    parser.add_argument("--polls", type=int, default=400)
    parser.add_argument("--v3", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile one more level")
    parser.add_argument("--export", type=int, default=0, metavar="N", help="render N devices")
    parser.add_argument(
        "--snmpsim", metavar="RECORDING", help="poll a tests/data/snmprec/devices recording"
    )
    arguments = parser.parse_args()
    if arguments.snmpsim:
        for sim in running(DATA / "devices"):
            asyncio.run(main(arguments, sim.port))
        sys.exit(0)
    with tempfile.TemporaryDirectory(prefix="netwatch-bench-snmpd-") as tmp:
        agent = start_snmpd(Path(tmp))
        try:
            asyncio.run(main(arguments, agent.port))
        finally:
            stop_snmpd(agent)
