"""SNMP recordings (snmpsim ``.snmprec``) for the demo's devices: system, interfaces, host.

One line per OID, ``OID|TAG|VALUE``, sorted by OID (snmpsim walks the file in order). Counters
grow with snmpsim's ``numeric`` variation (``rate`` per second since snmpsim started), so the
dashboards show traffic; a server's CPU load swings on a sine.

snmpsim picks the file by community: ``DATA/<community>.snmprec``. Each device has its own
community (its id), so each answers with its own recording. (snmpsim can also pick by the address
asked, ``DATA/<community>/<transport id>.snmprec``, but that hook is not called under pysnmp 7:
snmpsim 1.2.2 overrides ``handleMgmtOperation``, which pysnmp 7 renamed.)

>>> from netwatch.demo.province import DemoDevice
>>> text = render(DemoDevice("core-rtr", "Router lõi", "127.10.0.1", "router", snmp=True), 1)
>>> text.splitlines()[4]
'1.3.6.1.2.1.1.5.0|4|core-rtr'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from netwatch.demo.province import DemoDevice, community_of

_SYS_DESCR = {
    "router": "Cisco IOS Software, ISR4331 (demo)",
    "switch": "Cisco IOS Software, C2960X (demo)",
    "firewall": "FortiGate-100F v7.2 (demo)",
    "server": "Linux 6.1.0-demo x86_64",
}
# (ifName, ifAlias, speed Mbit/s, bytes per second in, out) per role; a router's WAN is slow.
_INTERFACES: dict[str, tuple[tuple[str, str, int, int, int], ...]] = {
    "router": (("Gi0/0/0", "WAN", 100, 1_200_000, 400_000),
               ("Gi0/0/1", "LAN", 1000, 380_000, 1_150_000)),
    "switch": (("Gi1/0/1", "uplink", 1000, 900_000, 300_000),
               ("Gi1/0/2", "tang-1", 1000, 120_000, 400_000),
               ("Gi1/0/3", "tang-2", 1000, 80_000, 250_000)),
    "firewall": (("port1", "outside", 1000, 2_000_000, 700_000),
                 ("port2", "inside", 1000, 650_000, 1_900_000)),
    "server": (("eth0", "", 1000, 250_000, 1_500_000),),
}  # fmt: skip


def render(device: DemoDevice, index: int) -> str:
    """The recording of ``device``; ``index`` varies the numbers between devices."""
    records: list[tuple[str, int, str]] = [
        ("1.3.6.1.2.1.1.1.0", 4, _SYS_DESCR.get(device.role, "demo device")),
        ("1.3.6.1.2.1.1.2.0", 6, "1.3.6.1.4.1.9.1.1"),
        # sysUpTime in hundredths of a second: as if booted some days ago, growing in real time.
        ("1.3.6.1.2.1.1.3.0", 67, f"numeric|rate=100,initial={(3 + index) * 8_640_000}"),
        ("1.3.6.1.2.1.1.4.0", 4, "cntt@haugiang.example.gov.vn"),
        ("1.3.6.1.2.1.1.5.0", 4, device.id),
        ("1.3.6.1.2.1.1.6.0", 4, device.name),
    ]
    interfaces = _INTERFACES.get(device.role, ())
    for n, (name, alias, speed, rx, tx) in enumerate(interfaces, start=1):
        scale = 1 + (index % 5) / 4
        records += [
            (f"1.3.6.1.2.1.2.2.1.1.{n}", 2, str(n)),
            (f"1.3.6.1.2.1.2.2.1.2.{n}", 4, name),
            (f"1.3.6.1.2.1.2.2.1.3.{n}", 2, "6"),
            (f"1.3.6.1.2.1.2.2.1.5.{n}", 66, str(min(speed * 1_000_000, 4_294_967_295))),
            (f"1.3.6.1.2.1.2.2.1.7.{n}", 2, "1"),
            (f"1.3.6.1.2.1.2.2.1.8.{n}", 2, "1"),
            (f"1.3.6.1.2.1.2.2.1.13.{n}", 65, "0"),
            (f"1.3.6.1.2.1.2.2.1.14.{n}", 65, "numeric|rate=0.01,initial=3"),
            (f"1.3.6.1.2.1.2.2.1.19.{n}", 65, "0"),
            (f"1.3.6.1.2.1.2.2.1.20.{n}", 65, "0"),
            (f"1.3.6.1.2.1.31.1.1.1.1.{n}", 4, name),
            (f"1.3.6.1.2.1.31.1.1.1.6.{n}", 70, _counter(rx * scale, index)),
            (f"1.3.6.1.2.1.31.1.1.1.7.{n}", 70, _counter(rx * scale / 800, index)),
            (f"1.3.6.1.2.1.31.1.1.1.10.{n}", 70, _counter(tx * scale, index)),
            (f"1.3.6.1.2.1.31.1.1.1.11.{n}", 70, _counter(tx * scale / 800, index)),
            (f"1.3.6.1.2.1.31.1.1.1.15.{n}", 66, str(speed)),
            (f"1.3.6.1.2.1.31.1.1.1.18.{n}", 4, alias),
        ]
    records.append(("1.3.6.1.2.1.2.1.0", 2, str(len(interfaces))))
    if device.role == "server":
        records += _host(index)
    records.sort(key=lambda r: tuple(int(p) for p in r[0].split(".")))
    return "".join(_line(*record) for record in records)


def _line(oid: str, tag: int, value: str) -> str:
    # A variation is written in the tag field: ``OID|70:numeric|rate=10,initial=0``.
    module, _, options = value.partition("|")
    if module == "numeric" and options:
        return f"{oid}|{tag}:numeric|{options}\n"
    return f"{oid}|{tag}|{value}\n"


def _counter(per_second: float, index: int) -> str:
    return f"numeric|rate={round(per_second)},initial={index * 1_000_003}"


def _host(index: int) -> list[tuple[str, int, str]]:
    """HOST-RESOURCES-MIB: a CPU whose load swings, RAM and a disk."""
    gib = 1024**3
    storages = (  # (index, type OID, description, allocation unit, size, used)
        (1, "1.3.6.1.2.1.25.2.1.2", "Physical memory", 1024, 16 * gib // 1024, 9 * gib // 1024),
        (31, "1.3.6.1.2.1.25.2.1.4", "/", 4096, 200 * gib // 4096, (60 + index) * gib // 4096),
    )
    records: list[tuple[str, int, str]] = [
        ("1.3.6.1.2.1.25.1.1.0", 67, f"numeric|rate=100,initial={(2 + index) * 8_640_000}"),
        ("1.3.6.1.2.1.25.1.6.0", 66, str(120 + index)),
        # hrProcessorLoad: 35 % ± 25 % over about two minutes.
        ("1.3.6.1.2.1.25.3.3.1.2.196608", 2,
         f"numeric|function=sin,rate=0.05,scale=25,offset={35 + index % 10},min=0,max=100"),
    ]  # fmt: skip
    for row, type_oid, descr, unit, size, used in storages:
        records += [
            (f"1.3.6.1.2.1.25.2.3.1.1.{row}", 2, str(row)),
            (f"1.3.6.1.2.1.25.2.3.1.2.{row}", 6, type_oid),
            (f"1.3.6.1.2.1.25.2.3.1.3.{row}", 4, descr),
            (f"1.3.6.1.2.1.25.2.3.1.4.{row}", 2, str(unit)),
            (f"1.3.6.1.2.1.25.2.3.1.5.{row}", 2, str(size)),
            (f"1.3.6.1.2.1.25.2.3.1.6.{row}", 2, str(used)),
        ]
    return records


def write_data(devices: Sequence[DemoDevice], data_dir: Path) -> None:
    """Write one recording per device, named after its community."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for index, device in enumerate(devices):
        path = data_dir / f"{community_of(device)}.snmprec"
        path.write_text(render(device, index), encoding="utf-8")
