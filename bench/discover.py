"""Benchmark: a /22 discovered inside a network namespace.

    .venv/bin/python -m bench.discover [--rate 200] [--live-every 8] [--timeout 1]   (root)

Inside a namespace, 127.4.0.0/22 (1,022 hosts) is a province's address plan: one address in
``--live-every`` answers the ping (nftables drops the rest, as dead hosts never answer), and six
of them are SNMP agents (one snmpsim, the LLDP/CDP recordings of tests/data/snmprec/province).
``netwatch discover 127.4.0.0/22 --rate R`` runs as an operator runs it (a fresh process); an
nftables counter on the echo requests, read every second, gives the packets sent per second.

Goal: a /22 discovered in < 60 s at ≤ 200 packets/s.
"""

from __future__ import annotations

import argparse
import ipaddress
import itertools
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script
    sys.path.insert(0, str(ROOT))

from tests.netns import TABLE, Netns  # noqa: E402
from tests.snmpsim import start_agents_in  # noqa: E402

GOAL_SECONDS = 60.0
GOAL_RATE = 200
NETWORK = ipaddress.ip_network("127.4.0.0/22")
PORT = 1161
COMMUNITY = "disc"
RECORDINGS = ROOT / "tests" / "data" / "snmprec" / "province"


def counter(ns: Netns) -> int:
    out = ns.run(["nft", "list", "chain", "inet", TABLE, "input"]).stdout
    found = re.search(r"counter packets (\d+)", out)
    return int(found.group(1)) if found else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=GOAL_RATE)
    parser.add_argument("--live-every", type=int, default=8, help="one address in N answers")
    parser.add_argument("--timeout", type=float, default=1.0)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.discover needs root: it creates a network namespace (ip netns add)")
        return 2
    hosts = [str(ip) for ip in NETWORK.hosts()]
    live = hosts[:: args.live_every]
    recordings = sorted(RECORDINGS.iterdir())
    agents = {live[i * 7]: path for i, path in enumerate(recordings)}  # spread over the /22
    with tempfile.TemporaryDirectory(prefix="netwatch-bench-disc-") as tmp, Netns() as ns:
        start_agents_in(ns, agents, Path(tmp), port=PORT, community=COMMUNITY)
        rule = ["nft", "add", "rule", "inet", TABLE, "input"]
        ns.run([*rule, "ip", "daddr", str(NETWORK), "icmp", "type", "echo-request", "counter"])
        ns.run([*rule, "ip", "daddr", str(NETWORK), "ip", "daddr", "!=",
                "{ " + ", ".join(live) + " }", "drop"])  # fmt: skip
        samples: list[tuple[float, int]] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append((time.monotonic(), counter(ns)))
                done.wait(1.0)

        env = {**os.environ, "PYTHONPATH": str(ROOT), "DISC_COMMUNITY": COMMUNITY}
        argv_ = [sys.executable, "-m", "netwatch", "discover", str(NETWORK),
                 "--rate", f"{args.rate:g}", "--timeout", f"{args.timeout:g}",
                 "--community", "env:DISC_COMMUNITY", "--snmp-port", str(PORT)]  # fmt: skip
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        run = ns.run(argv_, check=False, timeout=300, env=env)
        seconds = time.monotonic() - started
        done.set()
        sampler.join(timeout=10)
        sent = counter(ns)
    if run.returncode != 0:
        print(run.stderr)
        return 1
    summary = re.search(r"(\d+) of (\d+) answered the ping, (\d+) SNMP", run.stderr)
    assert summary is not None, run.stderr
    per_second = max(
        ((nb - na) / (tb - ta) for (ta, na), (tb, nb) in itertools.pairwise(samples)),
        default=float(sent),
    )
    inside = re.search(r"SNMP, in ([\d.]+) s", run.stderr)
    ok = seconds < GOAL_SECONDS and per_second <= GOAL_RATE * 1.05 and sent == len(hosts)
    print(f"{'addresses':<34}{len(hosts):>10}")
    print(f"{'answered the ping / SNMP':<34}{summary.group(1):>6} / {summary.group(3)}")
    print(f"{'expected ping / SNMP':<34}{len(live):>6} / {len(agents)}")
    print(f"{'echo requests sent':<34}{sent:>10}")
    print(f"{'highest rate over ~1 s (pkt/s)':<34}{per_second:>10.0f}")
    print(f"{'sweep + SNMP, as discover says (s)':<34}{inside.group(1) if inside else '?':>10}")
    print(f"{'wall time, fresh process (s)':<34}{seconds:>10.1f}")
    print(f"{'subtrees (commune sites) proposed':<34}{run.stdout.count('level: commune'):>10}")
    print(f"goal: < {GOAL_SECONDS:.0f} s at <= {GOAL_RATE}/s: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
