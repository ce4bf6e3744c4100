"""A small province as a web ``Backend`` made of real objects: the config (its sites built by
:mod:`tests.province`) loaded from YAML, the inventory, a StateTracker fed samples, a real
AlertEngine and a real HistoryStore, one fake clock.

The story it sets up: the district gateway ``nk-rtr`` is down, so its commune ``an-binh`` is
unreachable; the province core and the ``<script>`` site are up; ``ab-pc-01`` was never polled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from netwatch.alerting.engine import AlertEngine
from netwatch.config import load_config
from netwatch.history.store import HistoryStore
from netwatch.inventory import Inventory, build_inventory
from netwatch.models import Failure, FailureKind, IcmpStats, Sample
from netwatch.probes.snmp_data import HostResources, Interface, SnmpData, Storage, SystemInfo
from netwatch.settings.alerting import AlertSettings
from netwatch.state import StateTracker
from netwatch.web.recent import Recent
from tests.province import Dev, Place, config_sites

TOKEN = "tok-3f9a-very-secret"
START = 1_793_500_000.0  # 2026-11-01T09:26:40+07:00

PLACES = [
    Place(
        "can-tho",
        "TP Cần Thơ — Trung tâm dữ liệu",
        "province",
        None,
        (
            Dev(
                "core-rtr",
                "127.0.0.1",
                "router",
                config={
                    "snmp": {"community": {"env": "NW_COMMUNITY"}},
                    "services": [{"name": "portal", "http": "http://127.0.0.1:9/"}],
                },
            ),
        ),
        gateway="core-rtr",
    ),
    Place(
        "ninh-kieu",
        "Quận Ninh Kiều",
        "district",
        "can-tho",
        (Dev("nk-rtr", "127.0.20.1", "router"),),
        gateway="nk-rtr",
    ),
    Place(
        "an-binh",
        "Phường An Bình",
        "commune",
        "ninh-kieu",
        (
            Dev("ab-rtr", "127.0.21.1", "router"),
            Dev("ab-pc-01", "127.0.21.101", "workstation"),
        ),
        gateway="ab-rtr",
    ),
    Place(
        "xss",
        "<script>alert(1)</script>",
        "district",
        "can-tho",
        (Dev("xss-rtr", "127.0.30.1", "router", name="<b>bold</b> & co"),),
        gateway="xss-rtr",
    ),
]


def config_doc(data_dir: Path, *, token: bool) -> dict[str, Any]:
    """The province's netwatch config: ICMP every 30 s, down after 2 failed rounds."""
    agent: dict[str, Any] = {
        "listen": "127.0.0.1:9430",
        "data_dir": str(data_dir),
        "timezone": "Asia/Ho_Chi_Minh",
    }
    if token:
        agent["api_token"] = {"env": "NW_TOKEN"}
    return {
        "agent": agent,
        "defaults": {
            "icmp": {"interval": "30s", "count": 4, "timeout": "1s"},
            "down_after": 2,
            "up_after": 1,
        },
        "sites": config_sites(PLACES),
    }


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Province:
    """Satisfies ``netwatch.web.backend.Backend``."""

    inventory: Inventory
    state: StateTracker
    engine: AlertEngine
    history: HistoryStore | None
    clock: Clock
    # Fed after every sample, as the daemon does (``add_routes`` returns it to the daemon).
    recent: Recent = field(default_factory=Recent)
    transitions: list[object] = field(default_factory=list)

    def icmp(self, device: str, ok: bool, rtts: tuple[float, ...] = (0.01, 0.012)) -> None:
        """One ICMP round of ``device``, through state and engine into history."""
        dev = self.inventory.devices[device]
        now = self.clock()
        if ok:
            sample: Sample[object] = Sample(device, "icmp", now, 0.1, None, IcmpStats(4, rtts))
        else:
            failure = Failure(FailureKind.TIMEOUT, "no reply in 1s")
            sample = Sample(device, "icmp", now, 1.0, failure, IcmpStats(4, ()))
        change = self.state.record(dev, sample)
        self.recent.record(sample)
        if change is not None:
            self.engine.own_changed(change)
        self.tick()

    def snmp(self, device: str, octets: int) -> None:
        dev = self.inventory.devices[device]
        data = SnmpData(
            system=SystemInfo("core", "Linux core 6.1", "1.3.6.1.4.1.8072", 86400.0 * 3),
            interfaces=(
                Interface(
                    1,
                    "eth0",
                    "uplink <to DC>",
                    True,
                    True,
                    1_000_000_000,
                    octets,
                    octets * 2,
                    0,
                    0,
                    1,
                    2,
                    0,
                    0,
                    True,
                ),
                Interface(
                    2,
                    "eth1",
                    "",
                    False,
                    True,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    False,
                ),
            ),
            host=HostResources(
                cpu_loads=(0.2, 0.4),
                storage=(
                    Storage(1, "Physical memory", "ram", 8 << 30, 2 << 30),
                    Storage(2, "/", "fixed disk", 100 << 30, 50 << 30),
                ),
                processes=120,
            ),
        )
        sample = Sample(device, "snmp", self.clock(), 0.2, None, data)
        self.state.record(dev, sample)
        self.recent.record_snmp(sample)

    def tick(self) -> None:
        out = self.engine.tick()
        self.transitions.extend(out.transitions)
        if self.history is not None:
            self.history.record(out.transitions)

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds


def build(tmp_path: Path, *, token: bool = True, history: bool = True) -> Province:
    """The province, with its story played (see the module docstring)."""
    doc = config_doc(tmp_path / "data", token=token)
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    path = tmp_path / "netwatch.yaml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path, environ={"NW_TOKEN": TOKEN, "NW_COMMUNITY": "community-secret"})
    inventory = build_inventory(config)
    clock = Clock(START)
    state = StateTracker(clock=clock)
    engine = AlertEngine(
        inventory,
        AlertSettings(),
        clock=clock,
        suspect=lambda d: state.check(d, "icmp").suspect,
        last_polled=lambda d: clock(),
        timezone=config.agent.timezone,
    )
    store = HistoryStore.open(tmp_path / "history.sqlite", clock=clock) if history else None
    if store is not None:
        store.agent_started(START)
    p = Province(inventory, state, engine, store, clock)
    for device in ("core-rtr", "nk-rtr", "ab-rtr", "xss-rtr"):
        p.icmp(device, ok=True)
    p.snmp("core-rtr", 1_000_000)
    p.advance(60)
    p.snmp("core-rtr", 1_750_000)  # 750,000 bytes in 60 s: 100,000 bit/s
    for _ in range(2):  # down_after: 2
        p.icmp("core-rtr", ok=True)
        p.icmp("nk-rtr", ok=False)
        p.icmp("ab-rtr", ok=False)
        p.icmp("xss-rtr", ok=True, rtts=(0.02, 0.03))
        p.advance(30)
    p.tick()
    if store is not None:
        store.flush()
    return p
