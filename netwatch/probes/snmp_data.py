"""What an SNMP poll collected: the plain values the SNMP probe hands on.

The poller (:mod:`netwatch.probes.snmp`) fills them; the exporter, the pipeline, the web pages
and the reboot detector read them. This module imports nothing of the poller, so a reader of
the data does not load the SNMP clients. :func:`interface_matcher` is here too: the poller
filters interfaces with it, and the exporter filters a poll it renders with the same rule.

>>> SystemInfo("core-rtr", "RouterOS", "1.3.6.1.4.1.14988.1", 86400.0).sys_uptime_seconds
86400.0
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from netwatch.models import Failure, InterfaceFilter
from netwatch.probes.health import HealthData


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """The SNMPv2-MIB system group; uptimes in seconds (``None`` when the agent lacks them)."""

    sys_name: str
    sys_descr: str
    sys_object_id: str
    sys_uptime_seconds: float | None
    engine_time_seconds: int | None = None  # snmpEngineTime: seconds since the engine booted
    hr_system_uptime_seconds: float | None = None  # host uptime (not the agent's)


@dataclass(frozen=True, slots=True)
class Interface:
    """One row of ifTable/ifXTable. Counters are the device's raw values (64-bit when ``hc``)."""

    index: int
    name: str
    alias: str
    oper_up: bool
    admin_up: bool
    speed_bps: int | None
    in_octets: int | None
    out_octets: int | None
    in_ucast_pkts: int | None
    out_ucast_pkts: int | None
    in_errors: int | None
    out_errors: int | None
    in_discards: int | None
    out_discards: int | None
    hc: bool


@dataclass(frozen=True, slots=True)
class Storage:
    """One hrStorageTable row; ``type`` is ``ram``, ``virtual``, ``fixed disk`` or ``other``."""

    index: int
    description: str
    type: str
    size_bytes: int
    used_bytes: int


@dataclass(frozen=True, slots=True)
class HostResources:
    """HOST-RESOURCES-MIB (and UCD load averages when the agent has them)."""

    cpu_loads: tuple[float, ...]  # per processor, ratio 0..1
    storage: tuple[Storage, ...]
    processes: int | None
    load_average: tuple[float, float, float] | None = None  # UCD laLoad 1/5/15 min


@dataclass(frozen=True, slots=True)
class SnmpData:
    """What one poll collected. A set not collected, or one that failed, is ``None``.

    >>> SnmpData(system=None, interfaces=(), host=None).table_failures
    {}
    """

    system: SystemInfo | None
    interfaces: tuple[Interface, ...] | None
    host: HostResources | None
    table_failures: Mapping[str, Failure] = field(default_factory=dict)
    # Rows the agent showed in ifTable/ifXTable, before the interface filter (``None`` when
    # interfaces were not read); 0 means the agent's view has no interface table.
    interface_rows: int | None = None
    health: HealthData | None = None  # what the device's profile read (probes/health.py)


@functools.lru_cache(maxsize=1024)
def interface_matcher(rule: InterfaceFilter) -> Callable[[Interface], bool] | None:
    """The predicate of an interface filter, ``None`` when it keeps everything.

    Cached per filter (a frozen, hashable dataclass), so regexes are compiled once, not on
    every poll or scrape.
    """
    if not rule.include and not rule.exclude and not rule.admin_up_only:
        return None
    include = tuple(re.compile(p) for p in rule.include)
    exclude = tuple(re.compile(p) for p in rule.exclude)

    def keep(row: Interface) -> bool:
        if rule.admin_up_only and not row.admin_up:
            return False
        if include and not any(p.search(row.name) for p in include):
            return False
        return not any(p.search(row.name) for p in exclude)

    return keep
