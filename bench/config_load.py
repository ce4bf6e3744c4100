"""Benchmark: load and index a 5,000-device province config.

    .venv/bin/python bench/config_load.py [--devices 5000] [--runs 5] [--keep DIR]

Writes a province (a data centre, 10 districts, 200 communes) into a temporary folder: the
main file holds the province and includes one file per district (``parent: can-tho``), as a
real deployment would. Each commune has a router with SNMP, a switch, a server with an HTTP
check and workstations. Then times ``load_config`` + ``build_inventory`` over several runs.

Goal: under 2 s per load.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from netwatch.config import load_config, summarize
from netwatch.inventory import build_inventory

DISTRICTS = 10
COMMUNES_PER_DISTRICT = 20
GOAL_SECONDS = 2.0

MAIN = """\
agent:
  listen: "127.0.0.1:9430"
  hierarchy: [province, district, commune]
defaults:
  icmp: {{interval: 30s, count: 3, timeout: 1s}}
  snmp: {{interval: 60s, timeout: 2s, retries: 1, version: 2c, community: {{env: SNMP_COMMUNITY}}}}
  down_after: 3
  up_after: 2
notify:
  smtp: {{host: 10.0.0.25, from: netwatch@cantho.example.gov.vn}}
contacts:
  dc-admin: {{email: [dc@cantho.example.gov.vn]}}
include: ["districts/*.yaml"]
sites:
  - id: can-tho
    name: "TP Cần Thơ — Trung tâm dữ liệu"
    level: province
    contacts: [dc-admin]
    devices:
      - {{id: core-rtr, address: 10.0.0.1, role: router, snmp: {{}}}}
      - {{id: core-fw, address: 10.0.0.2, role: firewall, snmp: {{}}}}
{dc_servers}
"""


def _device(device_id: str, address: str, role: str, indent: str, extra: str = "") -> str:
    return f"{indent}- {{id: {device_id}, address: {address}, role: {role}{extra}}}\n"


def _district(d: int, per_commune: int) -> str:
    lines = [
        "sites:\n",
        f"  - id: district-{d:02d}\n",
        f'    name: "Quận {d:02d}"\n',
        "    level: district\n",
        "    parent: can-tho\n",
        "    snmp: {port: 161}\n",
        "    devices:\n",
        _device(f"d{d:02d}-rtr", f"10.{d}.0.1", "router", "      ", ", snmp: {}"),
        _device(f"d{d:02d}-sw", f"10.{d}.0.2", "switch", "      ", ", snmp: {}"),
        "    sites:\n",
    ]
    for c in range(COMMUNES_PER_DISTRICT):
        prefix = f"d{d:02d}c{c:02d}"
        lines += [
            f"      - id: {prefix}\n",
            f'        name: "Phường {c:02d}"\n',
            "        devices:\n",
        ]
        indent = "          "
        lines.append(_device(f"{prefix}-rtr", f"10.{d}.{c + 1}.1", "router", indent, ", snmp: {}"))
        lines.append(_device(f"{prefix}-sw", f"10.{d}.{c + 1}.2", "switch", indent))
        service = ', services: [{http: "https://portal.example.gov.vn/", expect_status: 200}]'
        lines.append(_device(f"{prefix}-srv", f"10.{d}.{c + 1}.3", "server", indent, service))
        for w in range(per_commune - 3):
            address = f"10.{d}.{c + 1}.{10 + w}"
            lines.append(_device(f"{prefix}-pc{w:03d}", address, "workstation", indent))
    return "".join(lines)


def write_province(folder: Path, n_devices: int) -> Path:
    """The main file and one file per district; returns the main file's path."""
    communes = DISTRICTS * COMMUNES_PER_DISTRICT
    fixed = 2 + DISTRICTS * 2
    per_commune = max(3, (n_devices - fixed) // communes)
    dc_count = max(0, n_devices - fixed - per_commune * communes)
    dc_servers = "".join(
        _device(f"dc-srv-{i:03d}", f"10.0.1.{i + 1}", "server", "      ") for i in range(dc_count)
    )
    main = folder / "netwatch.yaml"
    main.write_text(MAIN.format(dc_servers=dc_servers), encoding="utf-8")
    (folder / "districts").mkdir()
    for d in range(DISTRICTS):
        text = _district(d + 1, per_commune)
        (folder / "districts" / f"district-{d + 1:02d}.yaml").write_text(text, encoding="utf-8")
    return main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="write the config here and keep it")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="netwatch-bench-config-"))
    folder.mkdir(parents=True, exist_ok=True)
    environ = {"SNMP_COMMUNITY": "bench-community"}
    try:
        path = write_province(folder, args.devices)
        timings = []
        for _ in range(args.runs):
            start = time.perf_counter()
            config = load_config(path, environ=environ)
            build_inventory(config)
            timings.append(time.perf_counter() - start)
    finally:
        if args.keep is None:
            shutil.rmtree(folder)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"config: {summarize(config)}")
    print(f"{'runs':>5} {'min s':>8} {'median s':>9} {'max s':>8} {'peak RSS MiB':>13}")
    print(
        f"{len(timings):>5} {min(timings):>8.3f} {statistics.median(timings):>9.3f} "
        f"{max(timings):>8.3f} {peak_mib:>13.1f}"
    )
    verdict = "meets" if statistics.median(timings) < GOAL_SECONDS else "MISSES"
    print(f"goal: load + index under {GOAL_SECONDS:g} s: {verdict}")
    return 0 if verdict == "meets" else 1


if __name__ == "__main__":
    sys.exit(main())
