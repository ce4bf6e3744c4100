"""ICMP benchmark: netwatch's prober against fping on thousands of loopback targets.

Runs inside a fresh network namespace (it re-executes itself under ``unshare --net``), so every
packet stays on that namespace's ``lo``. For each size N it pings N distinct 127.1.x.y targets
with ``count`` 3, their starts spread over ``--window`` seconds as the scheduler would (launched
on the scheduler's grid, a task per ping), and then runs ``fping -C 3 -q -i 0`` on the same list,
and prints CPU seconds per 1,000 echo requests, loss, median RTT, the event loop's wake-ups
(voluntary context switches) and peak RSS::

    .venv/bin/python bench/icmp.py --sizes 1000,5000,20000 --window 10
    .venv/bin/python -m bench.icmp --sizes 1000 --repeat 3 --gc-threshold 7000

CPU is measured from the first ping to the last result (imports, interpreter start-up and the
target list are outside the window; fping's own start-up is inside its figure). On a shared
machine other processes inflate both figures: ``--repeat`` keeps the best of several runs.
Wake-ups matter because on a small VM each wake-up of an idle process costs 60-400 µs of CPU,
several times the work of an echo; see ``netwatch/probes/icmp_socket.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script
    sys.path.insert(0, str(ROOT))

from netwatch.models import ICMP_GRID, IcmpSettings  # noqa: E402
from netwatch.probes.icmp import IcmpProber  # noqa: E402
from netwatch.probes.icmp_socket import tick  # noqa: E402
from netwatch.scheduler import GRID as START_GRID  # noqa: E402

_INSIDE = "NETWATCH_BENCH_NETNS"
COUNT = 3


@dataclass(frozen=True)
class Result:
    echoes: int
    cpu: float  # seconds, user + system
    loss: float
    median_rtt: float  # seconds
    wall: float
    wakeups: int = 0  # voluntary context switches: the process slept and was woken


def targets(n: int) -> list[str]:
    """N distinct loopback addresses, 250 per /24 (no .0 or .255)."""
    if n > 250 * 256:
        raise ValueError("at most 64,000 targets")
    return [f"127.1.{i // 250}.{i % 250 + 1}" for i in range(n)]


def _cpu(who: int) -> float:
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


async def run_netwatch(
    addresses: list[str], window: float, concurrency: int, mode: Literal["raw", "dgram"] = "raw"
) -> Result:
    """Ping every address once (COUNT echoes), starts spread evenly over ``window`` seconds.

    Like the daemon, it keeps no finished task or sample: holding 20,000 of them would make the
    garbage collector's full passes, not the prober, the cost being measured."""
    loop = asyncio.get_running_loop()
    settings = IcmpSettings(count=COUNT, timeout=1.0, spacing=0.2)
    prober = IcmpProber(mode)
    limit = asyncio.Semaphore(concurrency)
    sent = 0
    rtts: list[float] = []

    async def one(address: str) -> None:
        nonlocal sent
        async with limit:
            sample = await prober.ping(address, address, settings)
        if sample.data is not None:
            sent += sample.data.sent
            rtts.extend(sample.data.rtts)

    cpu0, wall0 = _cpu(resource.RUSAGE_SELF), time.perf_counter()
    switches0 = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
    start, step = loop.time(), window / len(addresses)
    async with asyncio.TaskGroup() as group:  # forgets each task when it is done
        for k, address in enumerate(addresses):
            due = start + k * step
            if due > loop.time():  # launch whatever is due on the scheduler's grid
                await asyncio.sleep(tick(due, START_GRID) - loop.time())
            group.create_task(one(address))
    await prober.close()
    cpu, wall = _cpu(resource.RUSAGE_SELF) - cpu0, time.perf_counter() - wall0
    wakeups = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw - switches0
    return Result(sent, cpu, 1 - len(rtts) / sent, statistics.median(rtts), wall, wakeups)


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
    parser.add_argument(
        "--mode", choices=("raw", "dgram"), default="raw", help="netwatch's ICMP socket kind"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; the best is shown")
    parser.add_argument(
        "--gc-threshold",
        type=int,
        default=0,
        help="set the garbage collector's generation-0 threshold (Python's default: 700)",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if os.environ.get(_INSIDE) != "1":
        return _reexec(argv)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=30)
    # Unprivileged ping in this namespace only (the setting is per network namespace).
    subprocess.run(
        ["sysctl", "-q", "-w", "net.ipv4.ping_group_range=0 2147483647"], check=True, timeout=30
    )
    if args.gc_threshold:
        gc.set_threshold(args.gc_threshold, *gc.get_threshold()[1:])

    header = (
        f"{'N':>7} {'echoes':>7} {'nw CPU-s/1k':>11} {'fping CPU-s/1k':>14} {'ratio':>6} "
        f"{'nw loss':>8} {'fping loss':>10} {'nw med RTT':>10} {'fping med RTT':>13} "
        f"{'nw wall':>8} {'wake-ups':>8} {'peak RSS':>9}"
    )
    print(
        f"window {args.window:g}s, count {COUNT}, spacing 0.2s, timeout 1s, {args.mode} sockets, "
        f"starts on a {START_GRID:g}s grid, prober ticks {ICMP_GRID:g}s, "
        f"gc threshold {gc.get_threshold()[0]}, best of {args.repeat}"
    )
    print(header)
    failed = False
    for n in sizes:
        addresses = targets(n)
        runs = [
            asyncio.run(run_netwatch(addresses, args.window, args.concurrency, args.mode))
            for _ in range(args.repeat)
        ]
        rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        fp = min((run_fping(addresses) for _ in range(args.repeat)), key=lambda r: r.cpu)
        nw = min(runs, key=lambda r: r.cpu)
        nw_k, fp_k = nw.cpu / nw.echoes * 1000, fp.cpu / fp.echoes * 1000
        print(
            f"{n:>7} {nw.echoes:>7} {nw_k:>11.4f} {fp_k:>14.4f} {nw_k / fp_k:>6.2f} "
            f"{nw.loss:>8.2%} {fp.loss:>10.2%} {nw.median_rtt * 1e3:>8.3f}ms "
            f"{fp.median_rtt * 1e3:>11.3f}ms {nw.wall:>7.1f}s {nw.wakeups:>8} {rss_mib:>6.0f}MiB",
            flush=True,
        )
        failed = failed or any(r.loss > 0 for r in runs)
    print("ratio = netwatch CPU per echo / fping CPU per echo (goal <= 2); nw = netwatch")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
