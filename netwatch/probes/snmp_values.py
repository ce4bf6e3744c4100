"""Reading an agent's values into the SNMP data types (:mod:`netwatch.probes.snmp_data`).

Replies are decoded by :mod:`netwatch.probes.snmp_v2c` (v3's PDUs too) into plain
``int`` / ``bytes`` / ``tuple`` values and the codec's singletons (noSuchObject,
endOfMibView, NULL...). The helpers here read those values, and build a ``SystemInfo``,
an ``Interface`` row and a ``HostResources`` from the scalars and table columns the poller
fetched. Pure functions: no I/O, unit-testable on plain dicts.

>>> as_int(7), as_int(b"7"), text(b"eth0"), oid_text((1, 3, 6))
(7, None, 'eth0', '1.3.6')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from netwatch.probes import snmp_oids as oids
from netwatch.probes import snmp_v2c as v2c
from netwatch.probes.health import decode_text
from netwatch.probes.snmp_data import HostResources, Interface, Storage, SystemInfo
from netwatch.probes.snmp_exact import exact_speed

Column = dict[tuple[int, ...], Any]  # row index -> raw value

# The ifXTable counters: an interface with all four has 64-bit counters (``Interface.hc``).
HC_NAMES: Final = ("ifHCInOctets", "ifHCOutOctets", "ifHCInUcastPkts", "ifHCOutUcastPkts")


def absent(value: Any) -> bool:
    return value is None or (isinstance(value, v2c.Special) and value is not v2c.NULL)


def end_of_view(value: Any) -> bool:
    return value is v2c.END_OF_MIB_VIEW


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def text(value: Any) -> str:
    if isinstance(value, bytes):
        return decode_text(value)
    return ""


def oid_text(value: Any) -> str:
    return ".".join(map(str, value)) if isinstance(value, tuple) else ""


def _float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def system_from(scalars: Mapping[tuple[int, ...], Any]) -> SystemInfo | None:
    """The system group from a GET's values, ``None`` when the agent showed none of it."""

    def present(oid: tuple[int, ...]) -> bool:
        return not absent(scalars.get(oid))

    system_oids = (oids.SYS_DESCR, oids.SYS_UPTIME, oids.SYS_NAME, oids.SYS_OBJECT_ID)
    if not any(present(oid) for oid in system_oids):
        return None
    uptime = as_int(scalars.get(oids.SYS_UPTIME))
    hr_uptime = as_int(scalars.get(oids.HR_SYSTEM_UPTIME))
    return SystemInfo(
        sys_name=text(scalars.get(oids.SYS_NAME)),
        sys_descr=text(scalars.get(oids.SYS_DESCR)),
        sys_object_id=oid_text(scalars.get(oids.SYS_OBJECT_ID)),
        sys_uptime_seconds=None if uptime is None else uptime / 100,
        engine_time_seconds=as_int(scalars.get(oids.SNMP_ENGINE_TIME)),
        hr_system_uptime_seconds=None if hr_uptime is None else hr_uptime / 100,
    )


def needs_fallback(cols: Mapping[str, Column], indices: set[tuple[int, ...]]) -> bool:
    """Whether the ifXTable walk left rows without a name, a speed or 64-bit counters, so
    ifTable's 32-bit counters and ifDescr must be read too."""
    return any(
        idx not in cols["ifName"]
        or not text(cols["ifName"][idx])  # empty: the name comes from ifDescr
        or idx not in cols["ifHighSpeed"]
        or any(idx not in cols[name] for name in HC_NAMES)
        for idx in indices
    )


def interface_row(index: int, idx: tuple[int, ...], cols: Mapping[str, Column]) -> Interface:
    """Row ``idx`` of the interface columns; 64-bit counters when it has all of them."""

    def get(name: str) -> Any:
        column = cols.get(name)
        return None if column is None else column.get(idx)

    hc = all(as_int(get(name)) is not None for name in HC_NAMES)
    # ifHighSpeed is in whole Mb/s: a slow link (E1, 512k) takes ifSpeed (see snmp_exact).
    speed = exact_speed(as_int(get("ifHighSpeed")), as_int(get("ifSpeed")))
    return Interface(
        index=index,
        name=text(get("ifName")) or text(get("ifDescr")),
        alias=text(get("ifAlias")),
        oper_up=as_int(get("ifOperStatus")) == 1,
        admin_up=as_int(get("ifAdminStatus")) == 1,
        speed_bps=speed,
        in_octets=as_int(get("ifHCInOctets" if hc else "ifInOctets")),
        out_octets=as_int(get("ifHCOutOctets" if hc else "ifOutOctets")),
        in_ucast_pkts=as_int(get("ifHCInUcastPkts" if hc else "ifInUcastPkts")),
        out_ucast_pkts=as_int(get("ifHCOutUcastPkts" if hc else "ifOutUcastPkts")),
        in_errors=as_int(get("ifInErrors")),
        out_errors=as_int(get("ifOutErrors")),
        in_discards=as_int(get("ifInDiscards")),
        out_discards=as_int(get("ifOutDiscards")),
        hc=hc,
    )


def host_from(cols: Mapping[str, Column], scalars: Mapping[tuple[int, ...], Any]) -> HostResources:
    """HOST-RESOURCES-MIB from a walk of ``oids.HOST_COLUMNS`` and the scalars' GET."""
    storage = []
    for idx, kind in sorted(cols["hrStorageType"].items()):
        units = as_int(cols["hrStorageAllocationUnits"].get(idx)) or 0
        size = as_int(cols["hrStorageSize"].get(idx))
        used = as_int(cols["hrStorageUsed"].get(idx))
        if size is None or used is None or len(idx) != 1:
            continue
        type_oid = kind if isinstance(kind, tuple) else ()
        storage.append(
            Storage(
                index=idx[0],
                description=text(cols["hrStorageDescr"].get(idx)),
                type=oids.STORAGE_TYPES.get(type_oid, "other"),
                size_bytes=size * units,
                used_bytes=used * units,
            )
        )
    loads = [as_int(v) for _, v in sorted(cols["hrProcessorLoad"].items())]
    la = [_float(text(cols["laLoad"].get((i,)))) for i in (1, 2, 3)]
    load_average = (la[0], la[1], la[2]) if None not in la else None
    return HostResources(
        cpu_loads=tuple(v / 100 for v in loads if v is not None),
        storage=tuple(storage),
        processes=as_int(scalars.get(oids.HR_SYSTEM_PROCESSES)),
        load_average=load_average,  # type: ignore[arg-type]
    )
