"""Hostile SNMP peers beside good devices: does netwatch keep serving the good ones?

    python -m bench.hostile                  # 10 minutes
    python -m bench.hostile --minutes 2      # a short run

Starts one net-snmp ``snmpd`` answering for ``--good`` devices (one address each, 127.0.1.x),
every hostile mode of ``tests/hostile_snmp.py`` (numbers past their type's range, absurd OIDs,
a 60 kB OID, garbage, truncated and mutated replies, floods of unsolicited datagrams) on
127.0.2.x, a flooder spraying netwatch's own SNMP socket(s) from 127.0.3.1 with unsolicited
responses and junk at ``--flood-rate`` datagrams a second, and the real ``netwatch run`` on a
temporary config polling them all. Every ``--scrape-interval`` it scrapes ``/metrics`` and
checks: the answer is 200, ``promtool check metrics`` accepts it, every good device's
``netwatch_snmp_up`` is 1 and every hostile one's 0; and samples the RSS of netwatch and its
SNMP workers. Prints a table; exits 1 if a check failed. All traffic stays on 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.* helpers

from bench.scale import children, proc_sample
from tests.daemon import RunningDaemon, free_port
from tests.hostile_snmp import MODES, udp_ports
from tests.snmpd import EXCLUDED_MODULES, free_udp_port

COMMUNITY = "bench-community"
GOOD_HOSTS = "127.0.1"
EVIL_HOSTS = "127.0.2"
FLOOD_SOURCE = "127.0.3.1"
SNMP_UP = re.compile(r'^netwatch_snmp_up\{[^}]*device="([^"]+)"[^}]*\} (\S+)$', re.M)
FAILURES = re.compile(
    r'^netwatch_snmp_failures_total\{[^}]*device="([^"]+)"[^}]*reason="([^"]+)"[^}]*\} (\S+)$',
    re.M,
)


def start_snmpd(work: Path, good: int) -> tuple[subprocess.Popen[bytes], int]:
    """One snmpd answering on GOOD_HOSTS.1 .. .good, all on one port."""
    port = free_udp_port()
    conf = work / "snmpd.conf"
    conf.write_text(f"rocommunity {COMMUNITY} 127.0.0.0/8\n")
    env = {**os.environ, "MIBS": "", "MIBDIRS": str(work), "SNMP_PERSISTENT_DIR": str(work)}
    listen = ",".join(f"udp:{GOOD_HOSTS}.{k}:{port}" for k in range(1, good + 1))
    argv = [
        "snmpd",
        "-f",
        "-Lf",
        str(work / "snmpd.log"),
        "-C",
        "-c",
        str(conf),
        "-I",
        f"-{EXCLUDED_MODULES}",
        "-p",
        str(work / "snmpd.pid"),
        listen,
    ]
    proc = subprocess.Popen(argv, env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        probes = [
            subprocess.run(
                [
                    "snmpget",
                    "-v2c",
                    f"-c{COMMUNITY}",
                    "-t1",
                    "-r0",
                    f"{GOOD_HOSTS}.{k}:{port}",
                    "1.3.6.1.2.1.1.3.0",
                ],
                capture_output=True,
                env=env,
                check=False,
            )
            for k in (1, good)
        ]
        if all(p.returncode == 0 for p in probes):
            return proc, port
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("snmpd did not answer within 20 s")


def start_hostile(seconds: float) -> tuple[subprocess.Popen[str], dict[str, tuple[str, int]]]:
    """The hostile responders (one process): {mode: (host, port)}."""
    argv = [
        sys.executable,
        "-m",
        "tests.hostile_snmp",
        "serve",
        "--hosts",
        EVIL_HOSTS,
        "--seconds",
        str(seconds),
    ]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    served: dict[str, tuple[str, int]] = {}
    for line in proc.stdout:
        if line.strip() == "ready":
            return proc, served
        mode, host, port = line.split()
        served[mode] = (host, int(port))
    raise SystemExit("the hostile responders did not start")


def config(
    data: Path, listen: str, args: argparse.Namespace, port: int, evil: dict[str, tuple[str, int]]
) -> str:
    workers = "" if args.workers == "auto" else f", snmp_workers: {int(args.workers)}"
    lines = [
        f'agent: {{listen: "{listen}", data_dir: {data}{workers}}}',
        "defaults:",
        f"  snmp: {{interval: {args.interval}s, timeout: 1s, retries: 1,"
        " community: {env: NW_BENCH_COMMUNITY}}",
        "sites:",
        "  - id: bench",
        "    name: Bench",
        "    level: province",
        "    devices:",
    ]
    for k in range(1, args.good + 1):
        lines.append(
            f"      - {{id: good-{k:03}, address: {GOOD_HOSTS}.{k}, role: switch,"
            f" icmp: false, snmp: {{port: {port}}}}}"
        )
    for mode, (host, evil_port) in evil.items():
        lines.append(
            f"      - {{id: evil-{mode}, address: {host}, role: switch, icmp: false,"
            f" snmp: {{port: {evil_port}}}}}"
        )
    return "\n".join(lines) + "\n"


def snmp_up(text: str) -> dict[str, float]:
    return {device: float(value) for device, value in SNMP_UP.findall(text)}


def scrape(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def promtool_ok(text: str) -> bool:
    done = subprocess.run(
        ["promtool", "check", "metrics"],
        input=text,
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return done.returncode == 0


def rss_mib(pid: int) -> float:
    return sum(proc_sample(p)[1] for p in (pid, *children(pid)))


def cpu_seconds(pid: int) -> float:
    return sum(proc_sample(p)[0] for p in (pid, *children(pid)))


def run(args: argparse.Namespace, work: Path) -> int:
    seconds = args.minutes * 60
    snmpd, port = start_snmpd(work, args.good)
    hostile, evil = start_hostile(seconds + 300)
    listen = f"127.0.0.1:{free_port()}"
    path = work / "netwatch.yaml"
    path.write_text(config(work / "data", listen, args, port, evil))
    flooders: list[subprocess.Popen[str]] = []
    failed_checks: list[str] = []
    try:
        with RunningDaemon(
            path, int(listen.rsplit(":", 1)[1]), env={"NW_BENCH_COMMUNITY": COMMUNITY}
        ) as daemon:
            daemon.wait_ready(60)
            assert daemon.proc is not None
            pid = daemon.proc.pid
            url = daemon.url("/metrics")
            # Warm-up: every good device polled once, and up.
            deadline = time.monotonic() + 3 * args.interval + 60
            while True:
                _status, text = scrape(url)
                up = snmp_up(text)
                good_up = sum(up.get(f"good-{k:03}") == 1 for k in range(1, args.good + 1))
                if good_up == args.good and all(f"evil-{mode}" in up for mode in evil):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit("the good devices did not all come up within the warm-up")
                time.sleep(1)
            ports = set().union(*(udp_ports(p) for p in (pid, *children(pid))))
            ports.discard(int(listen.rsplit(":", 1)[1]))
            for n, target in enumerate(sorted(ports)):
                flooders.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "tests.hostile_snmp",
                            "flood",
                            "127.0.0.1",
                            str(target),
                            "--source",
                            FLOOD_SOURCE,
                            "--rate",
                            str(max(1, args.flood_rate // max(1, len(ports)))),
                            "--seconds",
                            str(seconds),
                            "--seed",
                            str(n),
                        ],
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                )
            started, cpu0 = time.monotonic(), cpu_seconds(pid)
            rss: list[float] = []
            scrapes = non_200 = lint_bad = good_drops = evil_up = 0
            dropped_devices: set[str] = set()
            evil_seen: dict[str, str] = {}
            evil_bad: set[str] = set()
            end = started + seconds
            while time.monotonic() < end:
                tick = time.monotonic()
                status, text = scrape(url)
                scrapes += 1
                rss.append(rss_mib(pid))
                if status != 200:
                    non_200 += 1
                else:
                    if not promtool_ok(text):
                        lint_bad += 1
                    up = snmp_up(text)
                    for k in range(1, args.good + 1):
                        if up.get(f"good-{k:03}") != 1:
                            good_drops += 1
                            dropped_devices.add(f"good-{k:03}")
                    for mode in evil:
                        value = up.get(f"evil-{mode}")
                        evil_seen[mode] = "absent" if value is None else f"{value:g}"
                        if value != 0 and "ok" not in MODES[mode]:
                            evil_up += 1
                            evil_bad.add(mode)
                time.sleep(max(0.0, args.scrape_interval - (time.monotonic() - tick)))
            cpu = cpu_seconds(pid) - cpu0
            elapsed = time.monotonic() - started
            _status, text = scrape(url)
            reasons: dict[str, list[str]] = {}
            for device, reason, count in FAILURES.findall(text):
                if device.startswith("evil-") and float(count) > 0:
                    reasons.setdefault(device[5:], []).append(f"{reason} {float(count):.0f}")
            sent = 0
            for flooder in flooders:  # each stops by itself at the end of the measured time
                try:
                    out, _ = flooder.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    flooder.kill()
                    out, _ = flooder.communicate()
                sent += int(out or 0)
            flooders.clear()
            code, _took = daemon.stop()
            exit_ok = code == 0
    finally:
        for flooder in flooders:
            flooder.kill()
            flooder.wait()
        if hostile.stdin is not None:
            hostile.stdin.close()
        hostile.wait(timeout=30)
        snmpd.terminate()
        snmpd.wait(timeout=30)

    third = max(1, len(rss) // 3)
    growth = (sum(rss[-third:]) / third) - (sum(rss[third : 2 * third]) / third or rss[0])
    checks = [
        ("scrapes answered 200", non_200 == 0, f"{scrapes - non_200} of {scrapes}"),
        (
            "promtool check metrics clean",
            lint_bad == 0,
            f"{scrapes - non_200 - lint_bad} of {scrapes - non_200}",
        ),
        (
            "good devices' snmp_up never dropped",
            good_drops == 0,
            f"{good_drops} drops ({len(dropped_devices)} devices) in {scrapes} x {args.good}",
        ),
        (
            "hostile devices' snmp_up 0",
            evil_up == 0,
            f"{evil_up} not 0 ({', '.join(sorted(evil_bad)) or 'none'}; flipped may pass)",
        ),
        (
            "RSS flat (last third - middle third)",
            growth < 20,
            f"{growth:+.1f} MiB; {min(rss):.0f}..{max(rss):.0f} MiB",
        ),
        ("netwatch stopped cleanly", exit_ok, "exit 0" if exit_ok else "exit != 0"),
    ]
    print(
        f"\nbench.hostile: {args.good} good devices, {len(evil)} hostile modes, "
        f"flood {args.flood_rate}/s into {len(ports)} socket(s), {elapsed / 60:.1f} min, "
        f"snmp_workers {args.workers}, SNMP interval {args.interval}s"
    )
    print(f"{'check':40} {'ok':4} detail")
    for name, ok, detail in checks:
        print(f"{name:40} {'yes' if ok else 'NO':4} {detail}")
        if not ok:
            failed_checks.append(name)
    print(f"{'netwatch CPU (+ workers)':40} {'':4} {cpu / elapsed:.2f} cores on average")
    print(f"{'flood datagrams sent':40} {'':4} {sent} ({sent / elapsed:.0f}/s)")
    print(f"\n{'hostile mode':18} {'snmp_up':8} failures by reason (netwatch_snmp_failures_total)")
    for mode in evil:
        print(f"{mode:18} {evil_seen.get(mode, '?'):8} {', '.join(reasons.get(mode, [])) or '-'}")
    return 1 if failed_checks else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.hostile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="measured time (max 60)")
    parser.add_argument("--good", type=int, default=100, help="good devices (max 250)")
    parser.add_argument("--interval", type=int, default=10, help="SNMP poll interval, seconds")
    parser.add_argument("--scrape-interval", type=float, default=5.0)
    parser.add_argument("--flood-rate", type=int, default=5000, help="datagrams/s, in total")
    parser.add_argument("--workers", default="auto", help="agent.snmp_workers: auto, 0, 1...")
    args = parser.parse_args()
    if not 0 < args.minutes <= 60 or not 1 <= args.good <= 250:
        parser.error("--minutes in (0, 60], --good in [1, 250]")
    for tool in ("snmpd", "snmpget", "promtool"):
        if shutil.which(tool) is None:
            print(f"bench.hostile needs {tool}")
            return 2
    with tempfile.TemporaryDirectory(prefix="netwatch-bench-hostile-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
