"""One agent watches a whole province: ICMP and SNMP at scale, scraped in shards, with a fault.

    python -m bench.scale                                   # the goal: 20,000 / 2,000 / 30 min
    python -m bench.scale --icmp 2000 --snmp 200 --minutes 5   # a few minutes
    python -m bench.scale --v3                                  # the same over SNMPv3 authPriv

Builds its world in a network namespace it creates (root only; nothing leaves it): ``lo`` plus
dummy interfaces so each SNMP agent has about 48 interfaces, one net-snmp ``snmpd`` answering on
every 127.x address of the namespace (it replies from the address asked), a province config of
``--icmp`` devices of which ``--snmp`` are polled by SNMP (v2c, or with ``--v3`` SNMPv3 authPriv
SHA-256/AES-128 through netwatch's own USM), a webhook receiver, and the real
``netwatch run``. A scraper reads ``/sd`` and scrapes every shard each ``--scrape-interval``
like Prometheus does: each target on its own loop at its own offset within the interval
(``--scrape-together``: all at the same instant, the worst case). After the warm-up it measures;
near the end ``--down-share`` of the devices go down at once (nftables drop) and it measures how
long their alerts take. It prints a table and deletes the namespace (with everything in it) at
the end.

Measured: poll lag percentiles (from netwatch_poll_lag_seconds, bucket upper bounds), polls
skipped (before and after the cut), false downs before the fault, scrape time per shard
(p50/p99/max) and series per full scrape, CPU (cores, average) and RSS over time (growth over
the last 2/3 of the run) of netwatch and its SNMP worker processes, SNMP polls ok/failed,
snmpd's CPU, alert latency (first dropped packet to webhook received) median and p95.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LISTEN = "127.0.0.1:19430"
V3_USER = "nwbench"
# The passwords are the bench's own, for an agent inside its own namespace: not secrets.
V3_AUTH_PASSWORD, V3_PRIV_PASSWORD = "bench-auth-pass", "bench-priv-pass"
V2C_SETTINGS = ["         version: 2c, community: {env: NW_BENCH_COMMUNITY},"]
V3_SETTINGS = [
    f"         version: 3, user: {V3_USER}, auth_protocol: sha256,",
    "         auth_password: {env: NW_BENCH_AUTH}, priv_protocol: aes,",
    "         priv_password: {env: NW_BENCH_PRIV},",
]
HZ = os.sysconf("SC_CLK_TCK")
COMMUNES_PER_DISTRICT = 20
BASE = (127 << 24) | (16 << 16)  # device k answers at 127.16.0.0 + k (+1 to skip .0)


def address(k: int) -> str:
    n = BASE + k + 1
    return f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


# --------------------------------------------------------------------------- the world


def province_config(args: argparse.Namespace, data: Path, hook_port: int) -> str:
    """A province: 1 data centre, ``--districts`` districts of 20 communes each; every commune
    has a router, its share of SNMP switches/servers and workstations for the rest."""
    communes = args.districts * COMMUNES_PER_DISTRICT
    per_commune = max(2, args.icmp // communes)
    snmp_per_commune = max(1, args.snmp // communes)
    include = json.dumps(args.interfaces_include) if args.interfaces_include else "[]"
    lines = [
        f'agent: {{listen: "{LISTEN}", data_dir: "{data}", max_in_flight: 2048,',
        f"        log_format: text, log_level: {args.log_level}}}",
        "defaults:",
        "  icmp: {interval: 30s, count: 3, timeout: 1s}",
        "  snmp: {interval: 60s, timeout: 2s, retries: 1,",
        *(V3_SETTINGS if args.v3 else V2C_SETTINGS),
        f"         interfaces: {{include: {include}}}}}",
        "  down_after: 3",
        "  retry_interval: 10s",
        "contacts:",
        f'  noc: {{webhook: {{url: "http://127.0.0.1:{hook_port}/hook"}}}}',
        "sites:",
        "  - id: tinh",
        '    name: "Tỉnh (bench)"',
        "    level: province",
        "    contacts: [noc]",
        "    devices:",
        f"      - {{id: dc-rtr, address: {address(0)}, role: router}}",
        "    sites:",
    ]
    k = 1
    for d in range(args.districts):
        lines += [
            f"      - id: h{d}",
            f'        name: "Huyện {d}"',
            "        level: district",
            "        devices:",
            f"          - {{id: h{d}-rtr, address: {address(k)}, role: router}}",
            "        sites:",
        ]
        k += 1
        for c in range(COMMUNES_PER_DISTRICT):
            sid = f"x{d}-{c}"
            lines += [
                f"          - id: {sid}",
                f'            name: "Xã {d}-{c}"',
                "            level: commune",
                "            devices:",
            ]
            for i in range(per_commune):
                role = "router" if i == 0 else ("switch" if i < snmp_per_commune else "workstation")
                snmp = ", snmp: {}" if i < snmp_per_commune else ""
                lines.append(
                    f"              - {{id: {sid}-{i}, address: {address(k)}, role: {role}{snmp}}}"
                )
                k += 1
    return "\n".join(lines) + "\n"


class Receiver:
    """The webhook receiver: remembers when each firing alert arrived."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, dict[str, object]]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                with receiver.lock:
                    receiver.arrivals.append((time.time(), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def start_snmpd(work: Path, interfaces: int) -> subprocess.Popen[bytes]:
    """One snmpd for every device (it answers from the address asked), over v2c and, as the
    SHA-256/AES-128 user ``V3_USER``, v3 authPriv. With one agent every device has the same
    engine ID, so netwatch localizes the user's keys once rather than once per device: that
    is a one-off cost per device at start, not per poll, and the poll path is the same."""
    for i in range(1, interfaces):
        # A bridge is the lightest interface this kernel has without the dummy module.
        subprocess.run(["ip", "link", "add", f"nwd{i}", "type", "bridge"], check=True)
        subprocess.run(["ip", "link", "set", f"nwd{i}", "up"], check=True)
    conf = work / "snmpd.conf"
    conf.write_text(
        "agentaddress udp:0.0.0.0:161\nrocommunity public default\n"
        f'createUser {V3_USER} SHA-256 "{V3_AUTH_PASSWORD}" AES "{V3_PRIV_PASSWORD}"\n'
        f"rouser {V3_USER} priv\n"
    )
    persist = work / "snmp-persist"
    persist.mkdir(exist_ok=True)
    env = {**os.environ, "MIBS": "", "MIBDIRS": str(work), "SNMP_PERSISTENT_DIR": str(persist)}
    proc = subprocess.Popen(
        ["snmpd", "-f", "-Lf", "/dev/null", "-C", "-c", str(conf), "-p", str(work / "snmpd.pid")],
        env=env,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        v3 = ["-v3", "-u", V3_USER, "-l", "authPriv", "-a", "SHA-256", "-A", V3_AUTH_PASSWORD,
              "-x", "AES", "-X", V3_PRIV_PASSWORD]  # fmt: skip
        probe = subprocess.run(
            ["snmpget", *v3, "-t1", "-r0", address(1), "1.3.6.1.2.1.1.3.0"],
            capture_output=True,
            env=env,
        )
        if probe.returncode == 0:
            return proc
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("snmpd did not answer within 20 s")


# --------------------------------------------------------------------------- measuring


def get(path: str, timeout: float = 30.0) -> str:
    with urllib.request.urlopen(f"http://{LISTEN}{path}", timeout=timeout) as resp:
        body: bytes = resp.read()
        return body.decode()


def scrape(shard: str) -> tuple[str, float]:
    """One shard's text and how long netwatch took to serve it, as curl measured it: a client
    of its own, like Prometheus (a Python client here would time its own GIL contention too;
    the bench's scraper threads parse the texts they got)."""
    with tempfile.NamedTemporaryFile(suffix=".prom") as out:
        done = subprocess.run(
            ["curl", "-sS", "--max-time", "30", "-o", out.name, "-w", "%{time_total}",
             f"http://{LISTEN}/metrics?shard={shard}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return Path(out.name).read_text(encoding="utf-8"), float(done.stdout)


def proc_sample(pid: int) -> tuple[float, float]:
    """(CPU seconds so far, RSS MiB) of a process, from /proc; zeros once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0, 0.0
    cpu = (int(fields[11]) + int(fields[12])) / HZ
    rss = 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return cpu, rss


def children(pid: int) -> list[int]:
    """The direct children of a process (netwatch's SNMP workers)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


class Usage:
    """CPU and RSS of netwatch and of its worker processes, per process so a worker that is
    restarted mid-run neither loses nor double-counts CPU."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def pids(self) -> list[int]:
        return [self.pid, *children(self.pid)]

    def begin(self) -> None:
        for pid in self.pids():
            self.start[pid] = self.last[pid] = proc_sample(pid)[0]

    def rss(self) -> tuple[float, float]:
        """(netwatch's RSS, all processes' RSS) in MiB; updates the CPU seen per process."""
        main = total = 0.0
        for pid in self.pids():
            cpu, rss = proc_sample(pid)
            if cpu:
                self.last[pid] = cpu
                self.start.setdefault(pid, 0.0)  # started after begin(): all its CPU counts
            main = rss if pid == self.pid else main
            total += rss
        return main, total

    def cpu(self) -> tuple[float, float]:
        """CPU seconds since begin(): (netwatch's own, all processes)."""
        self.rss()
        spent = {pid: self.last[pid] - self.start.get(pid, 0.0) for pid in self.last}
        return spent.get(self.pid, 0.0), sum(spent.values())


BUCKET = re.compile(r'^netwatch_poll_lag_seconds_bucket\{check="([^"]+)",le="([^"]+)"\} (\S+)$')


def lag_buckets(text: str) -> dict[float, float]:
    """Cumulative lag bucket counts over every check kind."""
    out: dict[float, float] = {}
    for line in text.splitlines():
        m = BUCKET.match(line)
        if m:
            le = float("inf") if m.group(2) == "+Inf" else float(m.group(2))
            out[le] = out.get(le, 0.0) + float(m.group(3))
    return out


def counter(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def quantile_bound(before: dict[float, float], after: dict[float, float], q: float) -> str:
    """The bucket upper bound below which a share ``q`` of the polls in between started."""
    deltas = sorted((le, after.get(le, 0.0) - before.get(le, 0.0)) for le in after)
    total = deltas[-1][1] if deltas else 0.0
    if total <= 0:
        return "n/a"
    for le, cum in deltas:
        if cum >= q * total:
            return f"≤ {le:g} s" if le != float("inf") else "> 60 s"
    return "n/a"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Scrapes:
    """Scrapes every shard each ``interval`` the way Prometheus does: one loop per target, each
    at its own offset within the interval (Prometheus hashes the target to an offset, so its
    scrapes of many targets are spread, not fired together); ``together`` starts them all at
    the same instant instead, the worst case. Times are kept once ``measuring`` is set."""

    def __init__(self, shards: list[str], interval: float, *, together: bool) -> None:
        self.shards, self.interval = shards, interval
        self.offsets = {
            s: 0.0 if together else zlib.crc32(s.encode()) / 2**32 * interval for s in shards
        }
        self.measuring = False
        self.count_downs = True  # devices reported down, until the cut
        self.times: list[float] = []
        self.slowest: list[tuple[float, float, str]] = []  # (took, monotonic start, shard)
        self.lines: list[int] = []  # lines of one full round (every shard's last scrape)
        self._last_lines: dict[str, int] = {}
        self._downs: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, end: float) -> None:
        base = time.monotonic()
        for shard in self.shards:
            t = threading.Thread(target=self._loop, args=(shard, base, end), daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def downs(self) -> int:
        with self._lock:
            return sum(self._downs.values())

    def _loop(self, shard: str, base: float, end: float) -> None:
        at = base + self.offsets[shard]
        while at < end and not self._stop.wait(max(0.0, at - time.monotonic())):
            t0 = time.monotonic()
            text, took = scrape(shard)
            downs = (
                int(counter(text, "netwatch_device_status", status="down"))
                if self.count_downs and self.measuring
                else 0
            )
            with self._lock:
                self._last_lines[shard] = text.count("\n")
                self._downs[shard] = downs
                if self.measuring:
                    self.times.append(took)
                    self.slowest = sorted([*self.slowest, (took, t0, shard)], reverse=True)[:5]
                    if shard == self.shards[0] and len(self._last_lines) == len(self.shards):
                        self.lines.append(sum(self._last_lines.values()))
            at += self.interval
            while at < time.monotonic():  # overran a whole interval: skip, as Prometheus does
                at += self.interval


# --------------------------------------------------------------------------- the run


def inside(args: argparse.Namespace) -> int:
    work = Path(args.workdir)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    snmpd = start_snmpd(work, args.interfaces)
    receiver = Receiver()
    config = work / "netwatch.yaml"
    config.write_text(province_config(args, work / "data", receiver.port), encoding="utf-8")
    env = {**os.environ, "NW_BENCH_COMMUNITY": "public", "NW_BENCH_AUTH": V3_AUTH_PASSWORD,
           "NW_BENCH_PRIV": V3_PRIV_PASSWORD}  # fmt: skip
    log = (work / "netwatch.log").open("w")
    nw = subprocess.Popen(
        [sys.executable, "-m", "netwatch", "-c", str(config), "run"], stderr=log, env=env
    )
    print(
        f"netwatch pid {nw.pid}: {args.icmp} ICMP devices, {args.snmp} by SNMP "
        f"{'v3 authPriv SHA-256/AES-128' if args.v3 else 'v2c'}, "
        f"{args.interfaces} interfaces each; log {work / 'netwatch.log'}",
        flush=True,
    )
    try:
        return measure(args, nw, receiver, snmpd.pid)
    finally:
        nw.terminate()
        try:
            nw.wait(15)
        except subprocess.TimeoutExpired:
            nw.kill()
        snmpd.terminate()
        snmpd.wait(10)
        log.close()


def measure(
    args: argparse.Namespace, nw: subprocess.Popen[bytes], receiver: Receiver, snmpd_pid: int
) -> int:
    deadline = time.monotonic() + 120
    while True:
        try:
            get("/-/ready", 2)
            break
        except OSError:
            if nw.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("netwatch did not become ready; see its log") from None
            time.sleep(0.5)
    shards = [g["labels"]["__param_shard"] for g in json.loads(get("/sd"))]
    start = time.monotonic()
    end = start + args.minutes * 60
    fault_at = end - args.fault_seconds
    warm = start + min(args.warmup, args.minutes * 60 / 3)
    rss: list[tuple[float, float, float]] = []  # (time, netwatch, with its workers)
    false_downs = 0
    lag0: dict[float, float] = {}
    skipped0 = skipped_cut = snmpd_cpu0 = 0.0
    snmp0: dict[str, float] = {}
    usage = Usage(nw.pid)
    t_cpu0 = 0.0
    fault_time: float | None = None
    chosen: list[int] = []
    scrapes = Scrapes(shards, args.scrape_interval, together=args.scrape_together)
    scrapes.start(end)

    while time.monotonic() < end:
        now = time.monotonic()
        if not scrapes.measuring and now >= warm:
            agent = get("/metrics?shard=_agent")
            lag0 = lag_buckets(agent)
            skipped0 = counter(agent, "netwatch_polls_total", result="skipped")
            snmp0 = {r: counter(agent, "netwatch_polls_total", check="snmp", result=r)
                     for r in ("ok", "failed")}  # fmt: skip
            usage.begin()
            snmpd_cpu0 = proc_sample(snmpd_pid)[0]
            t_cpu0 = now
            scrapes.measuring = True
            print(f"[{now - start:6.0f} s] warm-up over, measuring", flush=True)
        if fault_time is None and now >= fault_at:
            agent = get("/metrics?shard=_agent")
            skipped_cut = counter(agent, "netwatch_polls_total", result="skipped")
            rng = random.Random(7)
            total = args.icmp
            chosen = rng.sample(range(1, total), max(1, int(total * args.down_share)))
            nft = ["nft", "-f", "-"]
            elements = ", ".join(address(k) for k in chosen)
            rules = (
                "table inet nwbench {\n chain input {\n type filter hook input priority 0;\n"
                f"  ip daddr {{ {elements} }} drop\n }}\n}}\n"
            )
            subprocess.run(nft, input=rules.encode(), check=True)
            fault_time = time.time()
            scrapes.count_downs = False
            print(f"[{now - start:6.0f} s] {len(chosen)} devices cut", flush=True)
        if scrapes.measuring:
            rss.append((now - start, *usage.rss()))
            if fault_time is None:
                false_downs = max(false_downs, scrapes.downs())
        time.sleep(min(5.0, max(0.1, end - time.monotonic())))
    scrapes.stop()
    scrape_times, series = scrapes.times, scrapes.lines
    elapsed = max(1e-9, time.monotonic() - t_cpu0)
    main_cpu, all_cpu = usage.cpu()
    snmpd_cores = (proc_sample(snmpd_pid)[0] - snmpd_cpu0) / elapsed
    agent = get("/metrics?shard=_agent")
    lag1 = lag_buckets(agent)
    skipped_all = counter(agent, "netwatch_polls_total", result="skipped")
    skipped_before = (skipped_cut if fault_time is not None else skipped_all) - skipped0
    skipped_after = skipped_all - skipped_cut if fault_time is not None else 0.0
    snmp_polls = {r: counter(agent, "netwatch_polls_total", check="snmp", result=r) - snmp0[r]
                  for r in ("ok", "failed")}  # fmt: skip
    with receiver.lock:
        firing = [(t, b) for t, b in receiver.arrivals if b.get("status") == "firing"]
    latencies = [t - fault_time for t, _ in firing if fault_time is not None and t >= fault_time]
    if args.keep and fault_time is not None:  # for a closer look: every alert with its latency
        arrivals = [{"latency": t - fault_time, **b} for t, b in receiver.arrivals]
        (Path(args.workdir) / "alerts.json").write_text(json.dumps(arrivals, indent=1))
    tail = [r for t, _, r in rss if t >= (end - start) / 3]
    main_tail = [r for t, r, _ in rss if t >= (end - start) / 3]
    growth = (tail[-1] - tail[0]) if len(tail) > 1 else float("nan")
    main_growth = (main_tail[-1] - main_tail[0]) if len(main_tail) > 1 else float("nan")
    rows = [
        ("devices (ICMP / SNMP)", f"{args.icmp:,} / {args.snmp:,}"),
        ("SNMP version", "v3 authPriv SHA-256/AES-128" if args.v3 else "v2c"),
        ("measured for", f"{(time.monotonic() - t_cpu0) / 60:.1f} min after warm-up"),
        (
            "poll lag p50 / p99",
            f"{quantile_bound(lag0, lag1, 0.5)} / {quantile_bound(lag0, lag1, 0.99)}",
        ),
        ("polls skipped before / after the cut", f"{skipped_before:.0f} / {skipped_after:.0f}"),
        ("false downs before the fault", str(false_downs)),
        (
            "shards scraped",
            f"{len(shards)}, "
            + ("all at once" if args.scrape_together else "each at its own offset"),
        ),
        (
            "scrape p50 / p99 / max",
            f"{pct(scrape_times, 0.5):.3f} / {pct(scrape_times, 0.99):.3f}"
            f" / {max(scrape_times, default=float('nan')):.3f} s",
        ),
        ("lines per full scrape", f"{statistics.median(series):,.0f}" if series else "n/a"),
        ("SNMP polls ok / failed", f"{snmp_polls['ok']:.0f} / {snmp_polls['failed']:.0f}"),
        (
            "netwatch CPU (cores, avg)",
            f"{all_cpu / elapsed:.3f} (main process {main_cpu / elapsed:.3f}, "
            f"SNMP workers {(all_cpu - main_cpu) / elapsed:.3f})",
        ),
        ("snmpd CPU (cores, avg)", f"{snmpd_cores:.3f}"),
        (
            "RSS start / end / peak (all)",
            f"{tail[0]:.0f} / {tail[-1]:.0f} / {max(r for *_, r in rss):.0f} MiB"
            if tail
            else "n/a",
        ),
        ("RSS growth, last 2/3", f"{growth:+.0f} MiB (main process {main_growth:+.0f} MiB)"),
        ("devices cut at once", str(len(chosen))),
        ("alerts received", str(len(latencies))),
        (
            "alert latency median / p95",
            f"{pct(latencies, 0.5):.1f} / {pct(latencies, 0.95):.1f} s"
            if latencies
            else "none received",
        ),
    ]
    rows.append((
        "slowest scrapes",
        ", ".join(f"{took:.2f} s ({shard} at {t0 - start:.0f} s)"
                  for took, t0, shard in scrapes.slowest),
    ))  # fmt: skip
    width = max(len(k) for k, _ in rows)
    print()
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def outside(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        print("bench.scale needs root: it creates a network namespace (ip netns add)")
        return 2
    for tool in ("ip", "nft", "snmpd", "snmpget", "curl"):
        if shutil.which(tool) is None:
            print(f"bench.scale needs {tool}: run scripts/install-peers")
            return 2
    name = f"nwscale-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    work = Path(tempfile.mkdtemp(prefix="nwscale-"))
    try:
        argv = [a for a in sys.argv[1:]]
        cmd = ["ip", "netns", "exec", name, sys.executable, "-m", "bench.scale", *argv,
               "--inside", "--workdir", str(work)]  # fmt: skip
        return subprocess.call(cmd)
    finally:
        subprocess.run(["ip", "netns", "pids", name], capture_output=True)
        for pid in subprocess.run(
            ["ip", "netns", "pids", name], capture_output=True, text=True
        ).stdout.split():
            subprocess.run(["kill", "-9", pid], check=False)
        subprocess.run(["ip", "netns", "del", name], check=False)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--icmp", type=int, default=20_000, help="devices pinged")
    parser.add_argument("--snmp", type=int, default=2_000, help="of those, polled by SNMP")
    parser.add_argument("--interfaces", type=int, default=48, help="interfaces per SNMP agent")
    parser.add_argument(
        "--v3", action="store_true", help="poll by SNMPv3 authPriv SHA-256/AES-128, not v2c"
    )
    parser.add_argument("--districts", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds not measured")
    parser.add_argument("--scrape-interval", type=float, default=30.0)
    parser.add_argument("--scrape-together", action="store_true",
                        help="scrape every shard at the same instant (default: spread like "
                        "Prometheus)")  # fmt: skip
    parser.add_argument("--down-share", type=float, default=0.05)
    parser.add_argument("--fault-seconds", type=float, default=180.0, help="cut this long")
    parser.add_argument("--interfaces-include", nargs="*", default=[],
                        help="ifName regexes worth series (default: all)")  # fmt: skip
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the work directory (config, netwatch.log, alerts.json)",
    )
    parser.add_argument("--log-level", default="warning", help="netwatch's agent.log_level")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.snmp > args.icmp:
        parser.error("--snmp cannot exceed --icmp")
    return inside(args) if args.inside else outside(args)


if __name__ == "__main__":
    sys.exit(main())
