"""A small province for history tests (built by :mod:`tests.province`), and their helpers."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from netwatch.models import Device, Site, Status, Transition
from tests.province import Dev, Place, models

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def ts(year: int, month: int, day: int, hour: int = 0) -> float:
    """Epoch seconds of a local (Asia/Ho_Chi_Minh) date-time."""
    return datetime(year, month, day, hour, tzinfo=TZ).timestamp()


def _place(id: str, name: str, level: str, parent: str | None, devs: tuple[str, ...]) -> Place:
    roles = {"ab-pc1": "workstation", "ab-pc2": "workstation"}
    devices = tuple(Dev(d, "127.0.0.1", roles.get(d, "router"), name=d.upper()) for d in devs)
    return Place(id, name, level, parent, devices, gateway=devs[0] if devs else None)


PLACES = [
    _place("can-tho", "TP Cần Thơ — Trung tâm dữ liệu", "province", None, ("core",)),
    _place("ninh-kieu", "Quận Ninh Kiều", "district", "can-tho", ("nk-rtr",)),
    _place("an-binh", "Phường An Bình", "commune", "ninh-kieu", ("ab-rtr", "ab-pc1", "ab-pc2")),
    _place("cai-khe", "Phường Cái Khế", "commune", "ninh-kieu", ("ck-rtr",)),
    _place("phong-dien", "Huyện Phong Điền", "district", "can-tho", ("pd-rtr",)),
    _place("nhon-ai", "Xã Nhơn Ái", "commune", "phong-dien", ("na-rtr",)),
]


def province() -> tuple[dict[str, Site], dict[str, Device]]:
    """The province above, as the report and the store take it (by id)."""
    sites, devices = models(PLACES)
    return {s.id: s for s in sites}, {d.id: d for d in devices}


def tr(
    subject: str, new: Status, at: float, kind: str = "site", cause: str | None = None
) -> Transition:
    return Transition(subject, kind, Status.UNKNOWN, new, at, cause)  # type: ignore[arg-type]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
