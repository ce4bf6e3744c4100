"""Run the benchmarks one after another, each in its own process, each printing its table.

    python -m bench                 # all of them (what `make bench` runs)
    python -m bench icmp history    # only these
    python -m bench.icmp --help     # one benchmark's own options

Each benchmark runs in a fresh process so its peak RSS is its own. The slow, namespaced scale
test is not part of this list: `make bench-scale` runs it.
"""

from __future__ import annotations

import subprocess
import sys
import time

# name -> extra arguments for the default run (kept to a few minutes in total)
BENCHMARKS: dict[str, list[str]] = {
    "config_load": [],
    "onboarding": [],
    "discover": [],  # root: a /22 in a network namespace, ~20 s
    "icmp": [],
    "snmp": [],
    "render": [],
    "alerting_engine": [],
    # the full run (30 s interval, 50 cuts, 30 min of loss) takes ~35 min: python -m bench.alerting
    "alerting": ["--interval", "3", "--failures", "20", "--loss-minutes", "2"],
    "history": [],
    "hostile": ["--minutes", "2"],  # the full run is 10 minutes: python -m bench.hostile
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    failed = []
    for name in names:
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}", *BENCHMARKS[name]])
        print(f"--- bench.{name}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
