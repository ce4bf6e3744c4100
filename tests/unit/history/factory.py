"""A small province for history tests, built from models directly."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from netwatch.models import Device, Role, Site, Status, Transition

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def ts(year: int, month: int, day: int, hour: int = 0) -> float:
    """Epoch seconds of a local (Asia/Ho_Chi_Minh) date-time."""
    return datetime(year, month, day, hour, tzinfo=TZ).timestamp()


def province() -> tuple[dict[str, Site], dict[str, Device]]:
    def site(id: str, name: str, level: str, parent: str | None, devs: tuple[str, ...]) -> Site:
        return Site(id, name, level, parent, (), devs[0] if devs else None, devs, ())

    sites = {
        "can-tho": site("can-tho", "TP Cần Thơ — Trung tâm dữ liệu", "province", None, ("core",)),
        "ninh-kieu": site("ninh-kieu", "Quận Ninh Kiều", "district", "can-tho", ("nk-rtr",)),
        "an-binh": site(
            "an-binh", "Phường An Bình", "commune", "ninh-kieu", ("ab-rtr", "ab-pc1", "ab-pc2")
        ),
        "cai-khe": site("cai-khe", "Phường Cái Khế", "commune", "ninh-kieu", ("ck-rtr",)),
        "phong-dien": site("phong-dien", "Huyện Phong Điền", "district", "can-tho", ("pd-rtr",)),
        "nhon-ai": site("nhon-ai", "Xã Nhơn Ái", "commune", "phong-dien", ("na-rtr",)),
    }
    roles = {"ab-pc1": Role.WORKSTATION, "ab-pc2": Role.WORKSTATION}
    devices = {
        d: Device(d, "127.0.0.1", roles.get(d, Role.ROUTER), s.id, name=d.upper())
        for s in sites.values()
        for d in s.devices
    }
    return sites, devices


def tr(
    subject: str, new: Status, at: float, kind: str = "site", cause: str | None = None
) -> Transition:
    return Transition(subject, kind, Status.UNKNOWN, new, at, cause)  # type: ignore[arg-type]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
