"""Benchmark: a province's 2,000-row device list imported and checked.

    .venv/bin/python -m bench.onboarding [--rows 2000] [--runs 3]

Writes a CSV as a province's sheet looks (Vietnamese headers, merged province/district cells
saved as blanks, SNMP on the routers), then times, as an operator runs them, the two commands
``netwatch import FILE -o netwatch.yaml`` and ``netwatch check-config`` (each a fresh process,
so the interpreter's start is counted), and the same work in-process.

Goal: import and check of 2,000 rows under 5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from netwatch.config import load_config
from netwatch.onboarding import import_table, read_table, render_files
from netwatch.onboarding.render import MAIN_FILE

GOAL_SECONDS = 5.0
DISTRICTS = 10
HEAD = "Tỉnh;Huyện;Xã/Phường;Tên thiết bị;Địa chỉ IP;Vai trò;SNMP;Community"


def write_sheet(path: Path, rows: int) -> None:
    per_commune = 10
    communes = max(1, rows // per_commune)
    lines = [HEAD, "Tỉnh Cà Mau;;;Router lõi;10.0.0.1;router;2c;env:SNMP_COMMUNITY"]
    made = 1
    for c in range(communes):
        district = c * DISTRICTS // communes
        first_of_district = c == 0 or (c - 1) * DISTRICTS // communes != district
        for d in range(per_commune):
            if made >= rows:
                break
            name_district = f"Huyện Số {district + 1}" if first_of_district and d == 0 else ""
            name_commune = f"Xã Thứ {c + 1}" if d == 0 else ""
            address = f"10.{1 + c // 250}.{c % 250}.{d + 1}"
            if d == 0:
                device = (
                    f";{name_district};{name_commune};Router;{address};router;2c;env:SNMP_COMMUNITY"
                )
            else:
                device = f";;;Máy trạm {d:02d};{address};máy trạm;;"
            lines.append(device)
            made += 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    env = {**os.environ, "SNMP_COMMUNITY": "bench", "PYTHONPATH": os.getcwd()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sheet = folder / "danh-sach.csv"
        write_sheet(sheet, args.rows)
        config = folder / MAIN_FILE
        cli, inproc = [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            for command in (
                ["import", str(sheet), "-o", str(config)],
                ["check-config", "-c", str(config)],
            ):
                subprocess.run(
                    [sys.executable, "-m", "netwatch", *command],
                    env=env,
                    check=True,
                    capture_output=True,
                )
            cli.append(time.perf_counter() - started)
            started = time.perf_counter()
            text = render_files(import_table(read_table(sheet)), split=False)[MAIN_FILE]
            config.write_text(text, encoding="utf-8")
            devices = len(load_config(config, environ={"SNMP_COMMUNITY": "bench"}).devices)
            inproc.append(time.perf_counter() - started)
    print(f"rows: {args.rows}, devices: {devices}, runs: {args.runs}")
    print(f"{'':<34} {'median s':>9} {'max s':>7}")
    for label, times in (("import + check-config (2 processes)", cli), ("in process", inproc)):
        print(f"{label:<34} {statistics.median(times):>9.2f} {max(times):>7.2f}")
    ok = max(cli) < GOAL_SECONDS
    print(f"goal: under {GOAL_SECONDS:.0f} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
