"""Benchmark: a year of synthetic history for 5,000 devices, then the planners' reports.

    .venv/bin/python -m bench.history [--devices 5000] [--keep DIR]

The province: 10 districts of 15 communes; each commune has a router and ~32 workstations,
servers and switches. Outage rates: routers about twice a month for 1-4 h (a fifth of them
upstream), workstations about every two months for 1-5 days, a 2 h maintenance window per
district each month, and a dozen agent restarts with gaps of minutes. Everything goes through
``HistoryStore.record`` (the writer thread), as in the daemon.

Goal: a monthly report by commune and a yearly report by district each under 5 s.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from netwatch.history import HistoryStore, build_report, month_period, render
from netwatch.models import Device, Role, Site, Status, Transition

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
YEAR_START = datetime(2026, 1, 1, tzinfo=TZ).timestamp()
YEAR_END = datetime(2027, 1, 1, tzinfo=TZ).timestamp()


def inventory(n_devices: int) -> tuple[dict[str, Site], dict[str, Device]]:
    sites: dict[str, Site] = {}
    devices: dict[str, Device] = {}
    districts, communes = 10, 15
    spare = n_devices - 1 - districts
    per_commune, extra = divmod(spare, districts * communes)

    def add_site(sid: str, name: str, level: str, parent: str | None, devs: list[Device]) -> None:
        for d in devs:
            devices[d.id] = d
        ids = tuple(d.id for d in devs)
        sites[sid] = Site(sid, name, level, parent, (), ids[0], ids, ())

    add_site(
        "tinh",
        "Tỉnh — Trung tâm dữ liệu",
        "province",
        None,
        [Device("tinh-rtr", "127.0.0.1", Role.ROUTER, "tinh")],
    )
    for d in range(districts):
        did = f"huyen-{d:02d}"
        add_site(
            did,
            f"Huyện Đông Phước {d}",
            "district",
            "tinh",
            [Device(f"{did}-rtr", "127.0.0.1", Role.ROUTER, did)],
        )
        for c in range(communes):
            cid = f"{did}-xa-{c:02d}"
            devs = [Device(f"{cid}-rtr", "127.0.0.1", Role.ROUTER, cid)]
            size = max(2, per_commune + (1 if d * communes + c < extra else 0))
            for k in range(size - 1):
                role = Role.WORKSTATION if k < size - 3 else Role.SERVER
                devs.append(Device(f"{cid}-h{k:02d}", "127.0.0.1", role, cid))
            add_site(cid, f"Xã Nhơn Nghĩa Ấp {c} ({d})", "commune", did, devs)
    return sites, devices


def outages(
    rng: random.Random, per_year: float, low: float, high: float
) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    t = YEAR_START
    while True:
        t += rng.expovariate(per_year / (YEAR_END - YEAR_START))
        if t >= YEAR_END:
            return out
        length = rng.uniform(low, high)
        out.append((t, min(t + length, YEAR_END)))
        t += length


def generate(path: Path, sites: dict[str, Site], devices: dict[str, Device]) -> int:
    rng = random.Random(6)
    restarts = sorted(rng.uniform(YEAR_START, YEAR_END) for _ in range(12))
    runs: list[tuple[float, float]] = []
    t = YEAR_START
    for r in restarts:
        runs.append((t, r))
        t = r + rng.uniform(60, 1800)
    runs.append((t, YEAR_END))

    # Each subject's timeline as (at, status, cause) changes, then cut into runs.
    timelines: dict[tuple[str, str], list[tuple[float, Status, str | None]]] = {}
    for d in devices.values():
        if d.role is Role.ROUTER:
            outs = outages(rng, 24, 3600, 4 * 3600)
        elif d.role is Role.WORKSTATION:
            outs = outages(rng, 6, 86400, 5 * 86400)
        else:
            outs = outages(rng, 4, 600, 3 * 3600)
        changes: list[tuple[float, Status, str | None]] = [(YEAR_START, Status.UP, None)]
        for a, b in outs:
            upstream = d.role is Role.ROUTER and rng.random() < 0.2
            changes.append(
                (
                    a,
                    Status.UNREACHABLE if upstream else Status.DOWN,
                    "upstream" if upstream else None,
                )
            )
            changes.append((b, Status.UP, None))
        timelines[("device", d.id)] = changes
    for s in sites.values():
        changes = list(timelines[("device", s.devices[0])])  # a site follows its gateway
        if s.level == "district":
            for month in range(1, 13):
                a = datetime(2026, month, 15, 22, tzinfo=TZ).timestamp()
                changes += [(a, Status.MAINTENANCE, None), (a + 7200, Status.UP, None)]
        changes.sort(key=lambda c: c[0])
        timelines[("site", s.id)] = changes

    clock_now = [YEAR_START]
    store = HistoryStore.open(path, clock=lambda: clock_now[0], heartbeat_seconds=3600)
    n = 0
    for r0, r1 in runs:
        clock_now[0] = r0
        store.agent_started(r0)
        batch: list[Transition] = []
        for (kind, sid), changes in timelines.items():
            status = None
            for at, st, cause in changes:
                if at <= r0:
                    status = (st, cause)
            if status is not None:
                # first poll a few seconds after the start
                batch.append(Transition(sid, kind, Status.UNKNOWN, status[0], r0 + 5, status[1]))  # type: ignore[arg-type]
            batch += [
                Transition(sid, kind, Status.UNKNOWN, st, at, cause)  # type: ignore[arg-type]
                for at, st, cause in changes
                if r0 < at < r1
            ]
        batch.sort(key=lambda t: t.at)
        store.record(batch)
        n += len(batch)
        clock_now[0] = r1  # the heartbeat at the end of the run
        store.flush(None)
        store.agent_stopped(r1)
    store.close()
    return n


def measure(fn: Callable[[], object]) -> tuple[float, float]:
    """(seconds, peak MiB of Python allocations); timed without tracemalloc's overhead."""
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--devices", type=int, default=5000)
    ap.add_argument("--keep", type=Path, help="keep the database in this directory")
    args = ap.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="netwatch-bench-history-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "history.sqlite"
    path.unlink(missing_ok=True)
    sites, devices = inventory(args.devices)
    try:
        t0 = time.perf_counter()
        rows = generate(path, sites, devices)
        gen = time.perf_counter() - t0
        month = month_period("2026-10", TZ)
        year = (datetime(2026, 1, 1, tzinfo=TZ), datetime(2027, 1, 1, tzinfo=TZ))
        cases: list[tuple[str, Callable[[], object]]] = [
            (
                "monthly by commune",
                lambda: build_report(
                    path, sites, devices, start=month[0], end=month[1], by="commune"
                ),
            ),
            (
                "yearly by district",
                lambda: build_report(
                    path, sites, devices, start=year[0], end=year[1], by="district"
                ),
            ),
            (
                "monthly by device",
                lambda: build_report(
                    path, sites, devices, start=month[0], end=month[1], by="device"
                ),
            ),
            (
                "monthly by commune + html",
                lambda: render(
                    build_report(path, sites, devices, start=month[0], end=month[1], by="commune"),
                    "html",
                ),
            ),
        ]
        results = [(name, *measure(fn)) for name, fn in cases]
        size = path.stat().st_size / 2**20
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"history: {len(devices)} devices, {len(sites)} sites, {rows:,} transitions "
            f"written in {gen:.1f} s ({rows / gen:,.0f}/s), database {size:.1f} MiB"
        )
        print(f"{'report':<28} {'time s':>8} {'peak MiB':>9} {'goal':>6}")
        for name, seconds, peak in results:
            goal = "ok" if seconds < 5 else "MISS"
            print(f"{name:<28} {seconds:>8.2f} {peak:>9.1f} {goal:>6}")
        print(f"process max RSS {rss:.0f} MiB")
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
