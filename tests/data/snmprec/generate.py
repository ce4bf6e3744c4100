"""Writes the snmpsim recordings netwatch's tests poll (run it after editing; output is kept).

    .venv/bin/python tests/data/snmprec/generate.py

Each ``<name>.snmprec`` answers to community ``<name>`` (snmpsim's rule). Records are
``OID|TAG|VALUE`` sorted by OID; ``TAG:numeric`` makes a value grow with time (counters,
uptimes) and ``TAG:delay`` makes the simulator wait before answering.

- ``devices/``: access-switch (24 ports, ifX), core-router (48 ports, ifX, growing HC
  counters), linux-server (host resources + UCD load), windows-ws (host resources, no UCD),
  old-device (ifTable only: 32-bit counters, no ifXTable).
- ``wrap/``: uptime-wrap, whose sysUpTime crosses 2^32 ticks ~15 s after snmpsim starts while
  snmpEngineTime and hrSystemUptime count on.
- ``slow/``: slow-device, which answers every request after 1.5 s.
- ``reboot/``: fresh-boot, whose uptimes start at 0 when snmpsim starts: restarting the
  simulator is a reboot of the device.
"""

from __future__ import annotations

import string
from pathlib import Path

HERE = Path(__file__).resolve().parent
SYS = "1.3.6.1.2.1.1"
IF = "1.3.6.1.2.1.2.2.1"
IFX = "1.3.6.1.2.1.31.1.1.1"
HR = "1.3.6.1.2.1.25"
ENGINE_TIME = "1.3.6.1.6.3.10.2.1.3.0"
WRAP_TICKS = 2**32
WRAP_AFTER_SECONDS = 15

Record = tuple[str, str, str]  # oid, tag (with ":module" for variations), value
_SAFE = set(string.ascii_letters + string.digits + " .,:;/-_()[]+=#@!?*'")


def octets(text: str) -> tuple[str, str]:
    """Tag and value of an OCTET STRING: plain when safe, hex (``4x``) otherwise."""
    if set(text) <= _SAFE:
        return "4", text
    return "4x", text.encode().hex()


def system(descr: str, object_id: str, name: str, uptime: Record | None = None) -> list[Record]:
    tag, value = octets(descr)
    return [
        (f"{SYS}.1.0", tag, value),
        (f"{SYS}.2.0", "6", object_id),
        uptime or (f"{SYS}.3.0", "67:numeric", "rate=100,initial=360000000"),
        (f"{SYS}.4.0", "4", "noc@example.gov.vn"),
        (f"{SYS}.5.0", "4", name),
        (f"{SYS}.6.0", "4", "Can Tho"),
        (ENGINE_TIME, "2:numeric", "rate=1,initial=3600000"),
    ]


def interface(
    index: int, name: str, *, alias: str = "", speed_mbps: int = 1000, up: bool = True,
    admin: bool = True, rate: int = 0, ifx: bool = True, type_: int = 6,
) -> list[Record]:  # fmt: skip
    """One ifTable row (and its ifXTable row). ``rate`` > 0: octets grow by ``rate`` bytes/s."""
    speed32 = min(speed_mbps * 1_000_000, 2**32 - 1)
    base = 1_000_000 * index

    def counter(tag: str, start: int, per_second: int) -> tuple[str, str]:
        if per_second:
            return f"{tag}:numeric", f"rate={per_second},initial={start}"
        return tag, str(start)

    rows: list[Record] = [
        (f"{IF}.1.{index}", "2", str(index)),
        (f"{IF}.2.{index}", *octets(name)),
        (f"{IF}.3.{index}", "2", str(type_)),
        (f"{IF}.5.{index}", "66", str(speed32)),
        (f"{IF}.7.{index}", "2", "1" if admin else "2"),
        (f"{IF}.8.{index}", "2", "1" if up else "2"),
        (f"{IF}.10.{index}", *counter("65", base * 3 % 2**31, rate)),
        (f"{IF}.11.{index}", *counter("65", base // 1000, rate // 500)),
        (f"{IF}.13.{index}", "65", str(index % 3)),
        (f"{IF}.14.{index}", "65", str(index % 5)),
        (f"{IF}.16.{index}", *counter("65", base * 2 % 2**31, rate // 2)),
        (f"{IF}.17.{index}", *counter("65", base // 2000, rate // 1000)),
        (f"{IF}.19.{index}", "65", str(index % 2)),
        (f"{IF}.20.{index}", "65", str(index % 7)),
    ]
    if ifx:
        big = 2**40 + base
        rows += [
            (f"{IFX}.1.{index}", *octets(name)),
            (f"{IFX}.6.{index}", *counter("70", big * 3, rate)),
            (f"{IFX}.7.{index}", *counter("70", big // 1000, rate // 500)),
            (f"{IFX}.10.{index}", *counter("70", big * 2, rate // 2)),
            (f"{IFX}.11.{index}", *counter("70", big // 2000, rate // 1000)),
            (f"{IFX}.15.{index}", "66", str(speed_mbps)),
            (f"{IFX}.18.{index}", *octets(alias)),
        ]
    return rows


def storage(index: int, kind: int, descr: str, units: int, size: int, used: int) -> list[Record]:
    """One hrStorageTable row; ``kind`` 2 ram, 3 virtual memory, 4 fixed disk."""
    e = f"{HR}.2.3.1"
    return [
        (f"{e}.1.{index}", "2", str(index)),
        (f"{e}.2.{index}", "6", f"{HR}.2.1.{kind}"),
        (f"{e}.3.{index}", *octets(descr)),
        (f"{e}.4.{index}", "2", str(units)),
        (f"{e}.5.{index}", "2", str(size)),
        (f"{e}.6.{index}", "2", str(used)),
    ]


def host(processes: int, cpus: list[int], disks: list[list[Record]]) -> list[Record]:
    rows: list[Record] = [
        (f"{HR}.1.1.0", "67:numeric", "rate=100,initial=864000000"),
        (f"{HR}.1.6.0", "66", str(processes)),
    ]
    for disk in disks:
        rows += disk
    for i, load in enumerate(cpus):
        rows.append((f"{HR}.3.3.1.2.{196608 + i}", "2", str(load)))
    return rows


def access_switch() -> list[Record]:
    rows = system(
        "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E4",
        "1.3.6.1.4.1.9.1.1208", "ninh-kieu-sw-01",
    )  # fmt: skip
    for port in range(1, 25):
        rows += interface(
            10100 + port, f"Gi1/0/{port}", alias=f"phong {port}" if port % 4 else "",
            up=port % 3 != 0, admin=port != 24, rate=12_500 if port == 1 else 0,
        )  # fmt: skip
    rows += interface(1, "Vl1", alias="quan ly", type_=53)
    return rows


def core_router() -> list[Record]:
    rows = system(
        "Juniper Networks, Inc. mx204 internet router, kernel JUNOS 21.4R3-S5",
        "1.3.6.1.4.1.2636.1.1.1.2.146", "can-tho-core",
    )  # fmt: skip
    for port in range(48):
        rows += interface(
            500 + port, f"xe-0/0/{port}", alias=f"WAN huyen {port}", speed_mbps=10_000,
            up=port < 40, rate=1_250_000 * (1 + port % 4) if port < 8 else 0,
        )  # fmt: skip
    return rows


def linux_server() -> list[Record]:
    rows = system(
        "Linux eoffice 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 x86_64",
        "1.3.6.1.4.1.8072.3.2.10", "eoffice",
    )  # fmt: skip
    rows += interface(1, "lo", speed_mbps=10, type_=24)
    rows += interface(2, "ens18", alias="LAN TTDL", rate=250_000)
    rows += host(
        187, [12, 34, 8, 90],
        [
            storage(1, 2, "Physical memory", 1024, 16_384_000, 9_830_400),
            storage(3, 3, "Virtual memory", 1024, 20_480_000, 10_240_000),
            storage(31, 4, "/", 4096, 25_600_000, 10_240_000),
            storage(36, 4, "/var", 4096, 51_200_000, 46_080_000),
        ],
    )  # fmt: skip
    la = "1.3.6.1.4.1.2021.10.1.3"
    rows += [(f"{la}.1", "4", "0.42"), (f"{la}.2", "4", "0.35"), (f"{la}.3", "4", "0.30")]
    return rows


def windows_ws() -> list[Record]:
    rows = system(
        "Hardware: Intel64 Family 6 Model 158 Stepping 10 AT/AT COMPATIBLE - Software: "
        "Windows Version 6.3 (Build 19045 Multiprocessor Free)",
        "1.3.6.1.4.1.311.1.1.3.1.1", "AN-BINH-PC-01",
    )  # fmt: skip
    rows += interface(1, "loopback_0", speed_mbps=1073, type_=24)
    rows += interface(6, "ethernet_32768", alias="Ethernet", rate=4_000)
    rows += interface(7, "wireless_32768", alias="Wi-Fi", up=False, speed_mbps=0)
    rows += host(
        143, [5, 7, 3, 11, 2, 4, 6, 9],
        [
            storage(1, 4, "C:\\ Label:  Serial Number 1a2b3c4d", 4096, 61_000_000, 30_500_000),
            storage(2, 4, "D:\\ Label:Data  Serial Number 5e6f7a8b", 4096, 122_000_000, 1_000),
            storage(3, 3, "Virtual Memory", 65536, 300_000, 150_000),
            storage(4, 2, "Physical Memory", 65536, 130_000, 90_000),
        ],
    )  # fmt: skip
    return rows


def old_device() -> list[Record]:
    rows = system("Old Router Software Release 11.0(3)", "1.3.6.1.4.1.9.1.17", "an-binh-rtr")
    rows = [r for r in rows if r[0] != ENGINE_TIME]  # an SNMPv1/v2c-era agent
    for index, name in ((1, "Ethernet0"), (2, "Serial0"), (3, "Serial1")):
        speed = 10 if index == 1 else 2
        rows += interface(index, name, speed_mbps=speed, rate=50_000, ifx=False, up=index != 3)
    return rows


def uptime_wrap() -> list[Record]:
    start = WRAP_TICKS - 100 * WRAP_AFTER_SECONDS
    uptime = (f"{SYS}.3.0", "67:numeric", f"rate=100,initial={start},max={WRAP_TICKS - 1},wrap=1")
    rows = system("Cisco IOS Software, 497 days up", "1.3.6.1.4.1.9.1.1208", "wrap-sw", uptime)
    rows = [r for r in rows if r[0] != ENGINE_TIME]
    rows.append((ENGINE_TIME, "2:numeric", f"rate=1,initial={start // 100}"))
    rows.append((f"{HR}.1.1.0", "67:numeric", "rate=100,initial=100000"))
    return rows


def slow_device() -> list[Record]:
    return [
        (f"{SYS}.1.0", "4:delay", "value=Slow device behind a saturated link,wait=1500"),
        (f"{SYS}.3.0", "67:delay", "value=500000,wait=1500"),
        (f"{SYS}.5.0", "4:delay", "value=slow-device,wait=1500"),
    ]


def fresh_boot() -> list[Record]:
    uptime = (f"{SYS}.3.0", "67:numeric", "rate=100,initial=0")
    rows = system("Cisco IOS Software, just booted", "1.3.6.1.4.1.9.1.1208", "fresh-sw", uptime)
    rows = [r for r in rows if r[0] != ENGINE_TIME]
    rows.append((ENGINE_TIME, "2:numeric", "rate=1,initial=0"))
    return rows


RECORDINGS = {
    "devices/access-switch": access_switch,
    "devices/core-router": core_router,
    "devices/linux-server": linux_server,
    "devices/windows-ws": windows_ws,
    "devices/old-device": old_device,
    "wrap/uptime-wrap": uptime_wrap,
    "slow/slow-device": slow_device,
    "reboot/fresh-boot": fresh_boot,
}


def render(records: list[Record]) -> str:
    def key(record: Record) -> tuple[int, ...]:
        return tuple(int(part) for part in record[0].split("."))

    return "".join(f"{oid}|{tag}|{value}\n" for oid, tag, value in sorted(records, key=key))


def main() -> None:
    for name, build in RECORDINGS.items():
        path = HERE / f"{name}.snmprec"
        path.parent.mkdir(exist_ok=True)
        path.write_text(render(build()))


if __name__ == "__main__":
    main()
