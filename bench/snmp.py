"""SNMP benchmark: netwatch's poller against one real net-snmp agent on 127.0.0.1.

Starts ``snmpd`` (tests/snmpd.py), then polls it ``--polls`` times at each concurrency level
(interfaces + system + host, v2c by default, ``--v3`` for SHA/AES), and prints per level:
CPU milliseconds per device poll, varbinds decoded per CPU-second, timeouts (must be 0) and
peak RSS::

    .venv/bin/python bench/snmp.py --levels 1,10,50,100 --polls 400
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script
    sys.path.insert(0, str(ROOT))

from netwatch.models import FailureKind, Secret, SnmpSettings  # noqa: E402
from netwatch.probes.snmp import SnmpData, SnmpPoller  # noqa: E402
from tests.snmpd import AUTH_PASSWORD, PRIV_PASSWORD, start_snmpd, stop_snmpd  # noqa: E402


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


async def main(args: argparse.Namespace, port: int) -> None:
    if args.v3:
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
        print(f"SNMP {'v3 SHA/AES' if args.v3 else 'v2c'} against snmpd 127.0.0.1:{port}")
        print(
            "concurrency  polls  CPU ms/poll  varbinds/CPU-s  polls/s  timeouts errors  "
            "peak RSS MiB"
        )
        for conc in args.levels:
            print(await level(poller, settings, conc, args.polls), flush=True)
    finally:
        poller.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--levels", default="1,10,50,100", type=lambda s: [int(x) for x in s.split(",")]
    )
    parser.add_argument("--polls", type=int, default=400)
    parser.add_argument("--v3", action="store_true")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="netwatch-bench-snmpd-") as tmp:
        agent = start_snmpd(Path(tmp))
        try:
            asyncio.run(main(arguments, agent.port))
        finally:
            stop_snmpd(agent)
