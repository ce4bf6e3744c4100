"""ICMP benchmark: netwatch's prober against fping on thousands of loopback targets.

Runs inside a fresh network namespace (it re-executes itself under ``unshare --net``), so every
packet stays on that namespace's ``lo``. For each size N it pings N distinct 127.1.x.y targets
with ``count`` 3, their starts spread over ``--window`` seconds as the scheduler would, and then
runs ``fping -C 3 -q -i 0`` on the same list, and prints CPU seconds per 1,000 echo requests,
loss, median RTT and peak RSS::

    .venv/bin/python bench/icmp.py --sizes 1000,5000,20000 --window 10
    .venv/bin/python -m bench.icmp --sizes 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script
    sys.path.insert(0, str(ROOT))

from netwatch.models import IcmpSettings, Sample  # noqa: E402
from netwatch.probes.icmp import SEND_STEP, IcmpProber  # noqa: E402
from netwatch.probes.icmp_socket import tick  # noqa: E402

_INSIDE = "NETWATCH_BENCH_NETNS"
COUNT = 3


@dataclass(frozen=True)
class Result:
    echoes: int
    cpu: float  # seconds, user + system
    loss: float
    median_rtt: float  # seconds
    wall: float


def targets(n: int) -> list[str]:
    """N distinct loopback addresses, 250 per /24 (no .0 or .255)."""
    if n > 250 * 256:
        raise ValueError("at most 64,000 targets")
    return [f"127.1.{i // 250}.{i % 250 + 1}" for i in range(n)]


def _cpu(who: int) -> float:
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


async def run_netwatch(addresses: list[str], window: float, concurrency: int) -> Result:
    """Ping every address once (COUNT echoes), starts spread evenly over ``window`` seconds."""
    loop = asyncio.get_running_loop()
    settings = IcmpSettings(count=COUNT, timeout=1.0, spacing=0.2)
    prober = IcmpProber("raw")
    limit = asyncio.Semaphore(concurrency)
    samples: list[Sample[object]] = []

    async def one(address: str) -> None:
        async with limit:
            samples.append(await prober.ping(address, address, settings))  # type: ignore[arg-type]

    cpu0, wall0 = _cpu(resource.RUSAGE_SELF), time.perf_counter()
    start, step = loop.time(), window / len(addresses)
    tasks = []
    for k, address in enumerate(addresses):
        due = start + k * step
        if due > loop.time():  # launch whatever is due on a 20 ms grid, like the prober's
            await asyncio.sleep(tick(due, SEND_STEP) - loop.time())
        tasks.append(asyncio.create_task(one(address)))
    await asyncio.gather(*tasks)
    await prober.close()
    cpu, wall = _cpu(resource.RUSAGE_SELF) - cpu0, time.perf_counter() - wall0

    sent = sum(s.data.sent for s in samples if s.data is not None)  # type: ignore[attr-defined]
    rtts = [r for s in samples if s.data is not None for r in s.data.rtts]  # type: ignore[attr-defined]
    return Result(sent, cpu, 1 - len(rtts) / sent, statistics.median(rtts), wall)


def run_fping(addresses: list[str]) -> Result:
    """``fping -C 3 -q -i 0`` over the same targets; its CPU from this process's children."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
        f.write("\n".join(addresses) + "\n")
        f.flush()
        cpu0, wall0 = _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
        done = subprocess.run(
            ["fping", "-C", str(COUNT), "-q", "-i", "0", "-f", f.name],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,  # fping exits 1 when some target did not answer
        )
        cpu, wall = _cpu(resource.RUSAGE_CHILDREN) - cpu0, time.perf_counter() - wall0
    rtts: list[float] = []
    lost = 0
    for line in done.stderr.splitlines():  # "127.1.0.1 : 0.05 - 0.04", RTTs in ms
        _, _, values = line.partition(" : ")
        for value in values.split():
            if value == "-":
                lost += 1
            else:
                rtts.append(float(value) / 1000)
    echoes = len(rtts) + lost
    if echoes != COUNT * len(addresses):
        raise RuntimeError(f"fping reported {echoes} echoes: {done.stderr[-500:]}")
    return Result(echoes, cpu, lost / echoes, statistics.median(rtts), wall)


def _reexec(argv: list[str]) -> int:
    # A network namespace of our own: only lo, so nothing can leave this machine.
    prefix = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--net", "--map-root-user"]
    cmd = [*prefix, sys.executable, "-m", "bench.icmp", *argv]
    env = {**os.environ, _INSIDE: "1"}
    return subprocess.run(cmd, env=env, cwd=ROOT, timeout=3600, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="bench.icmp", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,5000,20000", help="target counts, comma-separated")
    parser.add_argument("--window", type=float, default=10.0, help="seconds to spread starts over")
    parser.add_argument("--concurrency", type=int, default=4096, help="pings in flight at most")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if os.environ.get(_INSIDE) != "1":
        return _reexec(argv)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=30)

    header = (
        f"{'N':>7} {'echoes':>7} {'nw CPU-s/1k':>11} {'fping CPU-s/1k':>14} {'ratio':>6} "
        f"{'nw loss':>8} {'fping loss':>10} {'nw med RTT':>10} {'fping med RTT':>13} "
        f"{'nw wall':>8} {'peak RSS':>9}"
    )
    print(f"window {args.window:g}s, count {COUNT}, spacing 0.2s, timeout 1s, raw sockets")
    print(header)
    failed = False
    for n in sizes:
        addresses = targets(n)
        nw = asyncio.run(run_netwatch(addresses, args.window, args.concurrency))
        rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        fp = run_fping(addresses)
        nw_k, fp_k = nw.cpu / nw.echoes * 1000, fp.cpu / fp.echoes * 1000
        print(
            f"{n:>7} {nw.echoes:>7} {nw_k:>11.4f} {fp_k:>14.4f} {nw_k / fp_k:>6.2f} "
            f"{nw.loss:>8.2%} {fp.loss:>10.2%} {nw.median_rtt * 1e3:>8.3f}ms "
            f"{fp.median_rtt * 1e3:>11.3f}ms {nw.wall:>7.1f}s {rss_mib:>6.0f}MiB",
            flush=True,
        )
        failed = failed or nw.loss > 0
    print("ratio = netwatch CPU per echo / fping CPU per echo (goal <= 2); nw = netwatch")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
