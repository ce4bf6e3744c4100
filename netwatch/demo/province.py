"""The simulated province: Hậu Giang's data centre, four districts and sixteen communes.

Every device is a loopback address, and each district with its communes owns one ``/16`` of
127.0.0.0/8 (Châu Thành is 127.23.0.0/16): cutting a district's line is one nftables rule on
that block, exactly as a real WAN line takes the whole district and everything behind it.

>>> p = build_province()
>>> len(p.devices()), len(p.communes()), p.site(p.cut_district).subnet
(83, 16, '127.23.0.0/16')
>>> "Tỉnh Hậu Giang (demo)" in render_config(p, Endpoints.default("/tmp/d"))
True
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

APP_PORT = 8080  # every office web application, on its server's own address
SMTP_PORT = 2525  # the mail sink, on the mail server's address
DEMO_TIMEZONE = "Asia/Ho_Chi_Minh"  # the agent's zone: the mails and the mailbox page use it
SNMP_PORT = 1161  # snmpsim, on every SNMP device's own address


@dataclass(frozen=True, slots=True)
class App:
    """An office web application a server hosts (served by ``world.OfficeApps``)."""

    name: str  # the service check's name, e.g. "qlvb"
    title: str  # what the page says, and what the check expects in the body


@dataclass(frozen=True, slots=True)
class DemoDevice:
    id: str
    name: str
    address: str
    role: str  # router | switch | firewall | server | workstation
    snmp: bool = False
    app: App | None = None
    smtp: bool = False  # hosts the mail sink the daemon sends its e-mail to


@dataclass(frozen=True, slots=True)
class DemoSite:
    id: str
    name: str
    level: str  # province | district | commune
    devices: tuple[DemoDevice, ...]
    sites: tuple[DemoSite, ...] = ()
    subnet: str | None = None  # the address block behind this site's line
    contact: str | None = None  # the IT officer responsible (a key of ``Province.contacts``)


@dataclass(frozen=True, slots=True)
class Province:
    """The whole simulated province and the two things the scripted incident breaks."""

    root: DemoSite
    contacts: dict[str, str]  # contact name -> e-mail address
    cut_district: str  # the district whose line is cut
    failing_device: str  # the server whose web application fails

    def sites(self) -> Iterator[DemoSite]:
        def walk(site: DemoSite) -> Iterator[DemoSite]:
            yield site
            for child in site.sites:
                yield from walk(child)

        return walk(self.root)

    def devices(self) -> list[DemoDevice]:
        return [d for s in self.sites() for d in s.devices]

    def communes(self) -> list[DemoSite]:
        return [s for s in self.sites() if s.level == "commune"]

    def site(self, site_id: str) -> DemoSite:
        return next(s for s in self.sites() if s.id == site_id)

    def device(self, device_id: str) -> DemoDevice:
        return next(d for d in self.devices() if d.id == device_id)

    def smtp_address(self) -> str:
        return next(d.address for d in self.devices() if d.smtp)


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the generated config points the daemon: its own listen address and data."""

    listen: str  # the daemon's HTTP address, inside the demo's network
    data_dir: str
    community_dir: str  # one file per SNMP device holds its community (never inline)
    external_url: str  # the status page as the user's browser reaches it

    @classmethod
    def default(cls, directory: str) -> Endpoints:
        return cls(
            listen="127.0.0.1:9430",
            data_dir=f"{directory}/data",
            community_dir=f"{directory}/communities",
            external_url="http://127.0.0.1:9430/",
        )


def community_of(device: DemoDevice) -> str:
    """Each device's SNMP community is its id: snmpsim picks the device's recording by it."""
    return device.id


# (id, name, [(commune id, commune name)...]); a district's index k gives it 127.(20+k).0.0/16.
_DISTRICTS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "vi-thanh",
        "Thành phố Vị Thanh",
        (("phuong-1", "Phường I"), ("phuong-3", "Phường III"),
         ("vi-tan", "Xã Vị Tân"), ("hoa-luu", "Xã Hỏa Lựu")),
    ),
    (
        "nga-bay",
        "Thành phố Ngã Bảy",
        (("p-nga-bay", "Phường Ngã Bảy"), ("lai-hieu", "Phường Lái Hiếu"),
         ("hiep-thanh", "Phường Hiệp Thành"), ("tan-thanh", "Xã Tân Thành")),
    ),
    (
        "chau-thanh",
        "Huyện Châu Thành",
        (("nga-sau", "Thị trấn Ngã Sáu"), ("mai-dam", "Thị trấn Mái Dầm"),
         ("dong-thanh", "Xã Đông Thạnh"), ("phu-huu", "Xã Phú Hữu")),
    ),
    (
        "phung-hiep",
        "Huyện Phụng Hiệp",
        (("cay-duong", "Thị trấn Cây Dương"), ("kinh-cung", "Thị trấn Kinh Cùng"),
         ("tan-binh", "Xã Tân Bình"), ("hoa-an", "Xã Hòa An")),
    ),
)  # fmt: skip
WORKSTATIONS_PER_COMMUNE = 3
QLVB = App("qlvb", "Hệ thống quản lý văn bản và điều hành")
MOT_CUA = App("mot-cua", "Cổng dịch vụ công một cửa")


def build_province() -> Province:
    """The demo province: 83 devices, 35 of them with SNMP, three web applications."""
    data_centre = (
        DemoDevice("core-rtr", "Router lõi", "127.10.0.1", "router", snmp=True),
        DemoDevice("core-fw", "Tường lửa biên", "127.10.0.2", "firewall", snmp=True),
        DemoDevice("core-sw", "Switch lõi", "127.10.0.3", "switch", snmp=True),
        DemoDevice("qlvb", QLVB.title, "127.10.1.20", "server", snmp=True, app=QLVB),
        DemoDevice("mail", "Thư điện tử công vụ", "127.10.1.21", "server", snmp=True, smtp=True),
        DemoDevice("mot-cua", MOT_CUA.title, "127.10.1.22", "server", snmp=True, app=MOT_CUA),
        DemoDevice("hop-truc-tuyen", "Hội nghị truyền hình", "127.10.1.30", "server", snmp=True),
    )
    districts = tuple(_district(k, *district) for k, district in enumerate(_DISTRICTS, start=1))
    contacts = {"trung-tam-du-lieu": "trungtamdulieu@haugiang.example.gov.vn"}
    for district_id, _, _ in _DISTRICTS:
        contacts[f"it-{district_id}"] = (
            f"cntt.{district_id.replace('-', '')}@haugiang.example.gov.vn"
        )
    root = DemoSite(
        "hau-giang",
        "Tỉnh Hậu Giang (demo) — Trung tâm dữ liệu tỉnh",
        "province",
        data_centre,
        districts,
        subnet="127.10.0.0/16",
        contact="trung-tam-du-lieu",
    )
    return Province(root, contacts, cut_district="chau-thanh", failing_device="qlvb")


def _district(
    k: int, district_id: str, district_name: str, communes: tuple[tuple[str, str], ...]
) -> DemoSite:
    """The ``k``-th district (from 1): its office on 127.(20+k).0.x, commune ``j`` on
    127.(20+k).j.x, the whole district behind one line (its ``/16``)."""
    net = f"127.{20 + k}"
    devices = (
        DemoDevice(f"{district_id}-rtr", "Router UBND", f"{net}.0.1", "router", snmp=True),
        DemoDevice(f"{district_id}-sw", "Switch UBND", f"{net}.0.2", "switch", snmp=True),
        DemoDevice(f"{district_id}-srv", "Máy chủ ứng dụng", f"{net}.0.10", "server", snmp=True),
    )
    sites = tuple(
        _commune(f"{net}.{j}", commune_id, commune_name)
        for j, (commune_id, commune_name) in enumerate(communes, start=1)
    )
    return DemoSite(
        district_id,
        district_name,
        "district",
        devices,
        sites,
        subnet=f"{net}.0.0/16",
        contact=f"it-{district_id}",
    )


def _commune(net: str, commune_id: str, commune_name: str) -> DemoSite:
    """A commune office on ``net``.x: its router at .1, its workstations from .101."""
    workstations = (
        DemoDevice(
            f"{commune_id}-pc-{n:02d}", f"Máy một cửa {n:02d}", f"{net}.{100 + n}", "workstation"
        )
        for n in range(1, WORKSTATIONS_PER_COMMUNE + 1)
    )
    router = DemoDevice(f"{commune_id}-rtr", "Router UBND xã", f"{net}.1", "router", snmp=True)
    return DemoSite(commune_id, commune_name, "commune", (router, *workstations))


def render_config(
    province: Province, endpoints: Endpoints, *, snmp: bool = True, peers: bool = True
) -> str:
    """The netwatch config (YAML) that watches ``province``; timings short for a demo.

    ``snmp=False`` leaves SNMP out (when snmpsim is not installed), rather than showing every
    router with a failing SNMP check. ``peers=False`` also leaves out the web applications and
    the mail relay: what remains (ping) works without ``netwatch demo`` running them.
    """
    doc: dict[str, Any] = {
        "agent": {
            "listen": endpoints.listen,
            "data_dir": endpoints.data_dir,
            "language": "vi",
            "hierarchy": ["province", "district", "commune"],
            "timezone": DEMO_TIMEZONE,
            "log_level": "info",
        },
        "defaults": {
            # Short intervals so that a cut shows within seconds; a real province uses 30 s.
            "icmp": {"interval": "5s", "count": 3, "timeout": "1s"},
            "snmp": {
                "interval": "15s",
                "timeout": "1s",
                "retries": 1,
                "version": "2c",
                "port": SNMP_PORT,
            },
            "down_after": 3,
            "up_after": 2,
            "retry_interval": "2s",
            "service_interval": "5s",
            "service_timeout": "2s",
        },
        "contacts": {name: {"email": [email]} for name, email in province.contacts.items()},
        # The province's mail relay is the demo's mail sink, plain SMTP on loopback.
        "notify": {
            "smtp": {
                "host": province.smtp_address(),
                "port": SMTP_PORT,
                "security": "none",
                "from": "netwatch demo <netwatch@haugiang.example.gov.vn>",
            },
            "external_url": endpoints.external_url,
        },
        "sites": [_site(province.root, endpoints if snmp else None, peers)],
    }
    if not peers:  # no mail relay, so no contacts: the alerts go to the log only
        del doc["notify"], doc["contacts"], doc["defaults"]["snmp"]
    header = (
        "# Generated by `netwatch demo` for its simulated province; every address is loopback.\n"
    )
    return header + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)


STATIC_HEADER = """\
# The demo province of `netwatch demo` (make run), ping only: every device is a loopback address
# of this machine, so `netwatch -c config/demo.yaml run` works anywhere without the demo's
# peers (snmpsim, the web applications, the mail sink). Generated; do not edit. Regenerate with
#   .venv/bin/python -c 'import netwatch.demo.province as p; print(p.static_config(), end="")' \\
#       > config/demo.yaml
"""


def static_config() -> str:
    """``config/demo.yaml``: the demo province without its peers (a test keeps them equal)."""
    endpoints = Endpoints(
        listen="127.0.0.1:9430",
        data_dir="./var/demo",
        community_dir="",
        external_url="http://127.0.0.1:9430/",
    )
    rendered = render_config(build_province(), endpoints, snmp=False, peers=False)
    return STATIC_HEADER + rendered.split("\n", 1)[1]


def _site(site: DemoSite, endpoints: Endpoints | None, peers: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"id": site.id, "name": site.name, "level": site.level}
    if site.contact and peers:
        out["contacts"] = [site.contact]
    if site.level != "commune":
        out["gateway"] = site.devices[0].id
    out["devices"] = [_device(d, endpoints, peers) for d in site.devices]
    if site.sites:
        out["sites"] = [_site(s, endpoints, peers) for s in site.sites]
    return out


def _device(device: DemoDevice, endpoints: Endpoints | None, peers: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": device.id,
        "name": device.name,
        "address": device.address,
        "role": device.role,
    }
    if device.snmp and endpoints is not None:
        out["snmp"] = {"community": {"file": f"{endpoints.community_dir}/{device.id}"}}
    services: list[dict[str, Any]] = []
    if device.app is not None and peers:
        url = f"http://{device.address}:{APP_PORT}/"
        services.append(
            {"name": device.app.name, "http": url, "expect_status": 200,
             "body_contains": device.app.title}
        )  # fmt: skip
    if device.smtp and peers:
        services.append({"name": "smtp", "tcp": SMTP_PORT, "expect_banner": "220"})
    if services:
        out["services"] = services
    return out


def write_config(
    province: Province, directory: Path, endpoints: Endpoints, *, snmp: bool = True
) -> Path:
    """Write the config and the community files into ``directory``; return the config's path."""
    communities = Path(endpoints.community_dir)
    communities.mkdir(parents=True, exist_ok=True)
    for device in province.devices():
        if device.snmp:
            (communities / device.id).write_text(community_of(device) + "\n", encoding="utf-8")
    path = directory / "netwatch-demo.yaml"
    path.write_text(render_config(province, endpoints, snmp=snmp), encoding="utf-8")
    return path
