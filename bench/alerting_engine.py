"""Benchmark: the alert engine's tick on a 20,000-device province.

    .venv/bin/python -m bench.alerting_engine [--devices 20000] [--repeat 200]

The province: a core router and servers, 10 districts (gateway router each) of 15 communes
(router + workstations). The daemon calls ``tick()`` every second and after every change, so a
quiet tick must cost next to nothing and a change must cost what is below it, not the province.
Prints one row per scenario: median and worst tick time, and how many transitions it produced.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from netwatch.alerting.engine import AlertEngine
from netwatch.models import AgentSettings, Contact, Device, Role, Site, Status
from netwatch.settings.alerting import AlertSettings
from netwatch.settings.config import Config
from netwatch.state import Change


class Inventory:
    def __init__(self, sites: list[Site], devices: list[Device]) -> None:
        contacts = {"it": Contact("it", email=("it@example.gov.vn",))}
        self.config = Config(AgentSettings(), contacts, tuple(sites), tuple(devices), ())
        self.sites = {s.id: s for s in sites}
        self.devices = {d.id: d for d in devices}

    def labels(self, device_id: str) -> dict[str, str]:
        device = self.devices[device_id]
        return {"device": device.id, "site": device.site, "role": device.role.value}


def province(n_devices: int) -> Inventory:
    districts, communes = 10, 15
    per_commune = max(2, (n_devices - 4 - districts) // (districts * communes))
    devices = [Device("core", "10.0.0.1", Role.ROUTER, "tinh")]
    devices += [
        Device(f"srv-{i}", "10.0.1.1", Role.SERVER, "tinh", depends_on=("core",)) for i in range(3)
    ]
    sites: list[Site] = []
    district_ids = [f"h{d}" for d in range(districts)]
    sites.append(
        Site(
            "tinh",
            "Tỉnh",
            "province",
            None,
            ("it",),
            None,
            tuple(d.id for d in devices),
            tuple(district_ids),
        )
    )
    for hid in district_ids:
        gw = f"{hid}-rtr"
        devices.append(Device(gw, "10.1.0.1", Role.ROUTER, hid, depends_on=("core",)))
        commune_ids = [f"{hid}-x{c}" for c in range(communes)]
        sites.append(Site(hid, hid, "district", "tinh", ("it",), gw, (gw,), tuple(commune_ids)))
        for xid in commune_ids:
            rtr = f"{xid}-rtr"
            members = [Device(rtr, "10.2.0.1", Role.ROUTER, xid, depends_on=(gw,))]
            members += [
                Device(f"{xid}-pc{i}", "10.2.0.9", Role.WORKSTATION, xid, depends_on=(rtr,))
                for i in range(per_commune - 1)
            ]
            devices += members
            sites.append(
                Site(xid, xid, "commune", hid, ("it",), rtr, tuple(m.id for m in members), ())
            )
    return Inventory(sites, devices)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()

    inv = province(args.devices)
    now = [1.8e9]
    engine = AlertEngine(
        inv,
        AlertSettings(),
        clock=lambda: now[0],
        suspect=lambda d: False,
        last_polled=lambda d: now[0],
    )
    own: dict[str, Status] = {}

    def change(device_id: str, status: Status) -> None:
        old = own.get(device_id, Status.UNKNOWN)
        own[device_id] = status
        engine.own_changed(Change(device_id, old, status, now[0], "icmp", None))

    rows: list[tuple[str, list[float], int]] = []

    def measure(name: str, prepare: Callable[[], None], repeat: int) -> None:
        times: list[float] = []
        produced = 0
        for _ in range(repeat):
            prepare()
            now[0] += 1.0
            t0 = time.perf_counter()
            out = engine.tick()
            times.append(time.perf_counter() - t0)
            produced = max(produced, len(out.transitions))
        rows.append((name, times, produced))

    t0 = time.perf_counter()
    for d in inv.devices:
        change(d, Status.UP)
    engine.tick()
    startup = time.perf_counter() - t0

    flip = {"state": Status.UP}

    def toggle(device_id: str) -> Callable[[], None]:
        def prepare() -> None:
            flip["state"] = Status.DOWN if own[device_id] is Status.UP else Status.UP
            change(device_id, flip["state"])

        return prepare

    measure("quiet tick (nothing changed)", lambda: None, args.repeat * 10)
    measure("one workstation up/down", toggle("h3-x7-pc5"), args.repeat)
    measure("one commune router up/down", toggle("h3-x7-rtr"), args.repeat)
    measure("one district gateway up/down", toggle("h3-rtr"), max(args.repeat // 10, 4))
    measure("core router up/down (everything)", toggle("core"), 4)

    print(
        f"{len(inv.devices):,} devices, {len(inv.sites):,} sites; "
        f"first evaluation (all up) {startup * 1e3:.0f} ms"
    )
    print(f"{'scenario':<36} {'median ms':>10} {'max ms':>10} {'transitions':>12}")
    for name, times, produced in rows:
        print(
            f"{name:<36} {statistics.median(times) * 1e3:>10.3f} "
            f"{max(times) * 1e3:>10.3f} {produced:>12,}"
        )


if __name__ == "__main__":
    main()
