"""A harness around the alert engine with a fake clock and fake poll bookkeeping, and the small
province the topology and alerting tests run it on (built by :mod:`tests.province`).

tinh (province, DC): core-rtr, srv-mail, srv-portal
└── huyen (district, gateway huyen-rtr -> core-rtr)
    ├── xa-1 (commune, gateway xa-1-rtr -> huyen-rtr; pcs xa-1-pc-1, xa-1-pc-2 -> xa-1-rtr)
    ├── xa-2 (same shape)
    └── xa-3 (same shape, its own contacts)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from netwatch.alerting.engine import AlertEngine, EngineOutput
from netwatch.models import AgentSettings, Contact, Device, Failure, FailureKind, Site, Status
from netwatch.settings.alerting import AlertSettings, MaintenanceWindow
from netwatch.settings.config import Config
from netwatch.state import Change
from tests.province import Dev, Place, models

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# Wednesday 2026-03-04 10:00 local: far from the 08:00 digest.
START = datetime(2026, 3, 4, 10, 0, tzinfo=TZ).timestamp()
FAIL = Failure(FailureKind.TIMEOUT, "no reply in 1s")

CONTACTS = {
    "dc-admin": Contact("dc-admin", email=("dc@tinh.example.gov.vn",), telegram_chat_id="-1"),
    "it-huyen": Contact("it-huyen", email=("it@huyen.example.gov.vn",), telegram_chat_id="-2"),
    "it-xa3": Contact("it-xa3", email=("it@xa3.example.gov.vn",)),
}
COMMUNES = ("xa-1", "xa-2", "xa-3")


@dataclass
class FakeInventory:
    """Shaped like netwatch.inventory.Inventory (the fields the engine reads)."""

    config: Config
    sites: Mapping[str, Site]
    devices: Mapping[str, Device]
    hierarchy: tuple[str, ...] = ("province", "district", "commune")
    _labels: dict[str, dict[str, str]] = field(default_factory=dict)

    def labels(self, device_id: str) -> dict[str, str]:
        device = self.devices[device_id]
        chain = []
        cur: str | None = device.site
        while cur is not None:
            chain.append(self.sites[cur])
            cur = self.sites[cur].parent
        labels = {"device": device.id, "site": device.site, "role": device.role.value}
        for level in self.hierarchy:
            labels[level] = next((s.id for s in chain if s.level == level), "")
        return labels


def build(sites: list[Site], devices: list[Device]) -> FakeInventory:
    config = Config(AgentSettings(), CONTACTS, tuple(sites), tuple(devices), ("test.yaml",))
    return FakeInventory(config, {s.id: s for s in sites}, {d.id: d for d in devices})


def _commune(xa: str) -> Place:
    rtr = f"{xa}-rtr"
    pcs = (f"{xa}-pc-1", f"{xa}-pc-2")
    devices = (
        Dev(rtr, "10.2.0.1", "router", depends_on=("huyen-rtr",)),
        *(Dev(pc, "10.2.0.9", "workstation", depends_on=(rtr,)) for pc in pcs),
    )
    contacts = ("it-xa3",) if xa == "xa-3" else ("it-huyen",)  # xa-1, xa-2 inherit
    return Place(xa, f"Xã {xa}", "commune", "huyen", devices, contacts, rtr)


PLACES = [
    Place(
        "tinh",
        "Tỉnh — Trung tâm dữ liệu",
        "province",
        None,
        (
            Dev("core-rtr", "10.0.0.1", "router"),
            Dev("srv-mail", "10.0.1.10", "server", depends_on=("core-rtr",)),
            Dev("srv-portal", "10.0.1.11", "server", depends_on=("core-rtr",)),
        ),
        ("dc-admin",),
    ),
    Place(
        "huyen",
        "Huyện Phong Điền",
        "district",
        "tinh",
        (Dev("huyen-rtr", "10.1.0.1", "router", depends_on=("core-rtr",)),),
        ("it-huyen",),
        "huyen-rtr",
    ),
    *(_commune(xa) for xa in COMMUNES),
]


def province() -> FakeInventory:
    """The province of the module docstring."""
    return build(*models(PLACES))


BEHIND_HUYEN = tuple(d for xa in COMMUNES for d in (f"{xa}-rtr", f"{xa}-pc-1", f"{xa}-pc-2"))


class Harness:
    """An engine on a fake clock; every device answers polls 'now' unless told otherwise."""

    def __init__(
        self,
        inventory: FakeInventory | None = None,
        settings: AlertSettings | None = None,
        windows: tuple[MaintenanceWindow, ...] = (),
        *,
        start: float = START,
        recovering: bool = False,
        power_cut: Callable[[str], bool] | None = None,
    ) -> None:
        self.now = start
        self.inventory = inventory or province()
        self.suspects: set[str] = set()
        self.recovering: set[str] = set()
        self.polled: dict[str, float] = {}  # device -> last poll time; default: now
        self.own: dict[str, Status] = {}
        self.engine = AlertEngine(
            self.inventory,
            settings or AlertSettings(),
            clock=lambda: self.now,
            suspect=self.suspects.__contains__,
            last_polled=self.last_polled,
            windows=windows,
            recovering=self.recovering.__contains__ if recovering else None,
            power_cut=power_cut,
        )

    def last_polled(self, device_id: str) -> float:
        return self.polled.get(device_id, self.now)

    def set(self, device_id: str, status: Status) -> None:
        old = self.own.get(device_id, Status.UNKNOWN)
        self.own[device_id] = status
        failure = FAIL if status is Status.DOWN else None
        self.engine.own_changed(Change(device_id, old, status, self.now, "icmp", failure))

    def all_up(self) -> EngineOutput:
        for device_id in self.inventory.devices:
            self.set(device_id, Status.UP)
        return self.tick()

    def tick(self, advance: float = 0.0) -> EngineOutput:
        self.now += advance
        return self.engine.tick()

    def run(self, seconds: float, step: float = 1.0) -> EngineOutput:
        """Tick every ``step`` seconds for ``seconds``; everything produced, merged."""
        merged = EngineOutput()
        for _ in range(int(seconds / step)):
            out = self.tick(step)
            merged.transitions += out.transitions
            merged.deliveries += out.deliveries
            merged.recheck += out.recheck
            merged.suppressed += out.suppressed
        return merged


def sent(out: EngineOutput) -> list[tuple[str, str, str, str]]:
    """(alert kind, state, subject, contact/channel) for each delivery."""
    return [
        (d.alert.kind, d.alert.state, d.alert.subject, f"{d.contact}/{d.channel}")
        for d in out.deliveries
    ]


def alerts(out: EngineOutput) -> list[tuple[str, str, str]]:
    """Distinct (kind, state, subject) of the alerts delivered."""
    return list(
        dict.fromkeys((d.alert.kind, d.alert.state, d.alert.subject) for d in out.deliveries)
    )
