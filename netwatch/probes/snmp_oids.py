"""The numeric OIDs netwatch polls, with their MIB names.

Debian ships no IETF MIBs and MIB lookups cost CPU, so the SNMP probe works with numeric OIDs
only; this table is the one place that names them.

>>> ".".join(map(str, IF_X_COLUMNS["ifHCInOctets"]))
'1.3.6.1.2.1.31.1.1.1.6'
"""

from __future__ import annotations

from typing import Final

Oid = tuple[int, ...]

# SNMPv2-MIB system group, SNMP-FRAMEWORK-MIB and HOST-RESOURCES-MIB scalars (instance .0).
SYS_DESCR: Final[Oid] = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_OBJECT_ID: Final[Oid] = (1, 3, 6, 1, 2, 1, 1, 2, 0)
SYS_UPTIME: Final[Oid] = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME: Final[Oid] = (1, 3, 6, 1, 2, 1, 1, 5, 0)
SNMP_ENGINE_TIME: Final[Oid] = (1, 3, 6, 1, 6, 3, 10, 2, 1, 3, 0)
HR_SYSTEM_UPTIME: Final[Oid] = (1, 3, 6, 1, 2, 1, 25, 1, 1, 0)
HR_SYSTEM_PROCESSES: Final[Oid] = (1, 3, 6, 1, 2, 1, 25, 1, 6, 0)

SYSTEM_SCALARS: Final[tuple[Oid, ...]] = (
    SYS_DESCR,
    SYS_OBJECT_ID,
    SYS_UPTIME,
    SYS_NAME,
    SNMP_ENGINE_TIME,
    HR_SYSTEM_UPTIME,
)
HOST_SCALARS: Final[tuple[Oid, ...]] = (HR_SYSTEM_PROCESSES,)

# IF-MIB ifTable (1.3.6.1.2.1.2.2.1.N): columns read from every device.
_IF_ENTRY: Final[Oid] = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IF_COLUMNS: Final[dict[str, Oid]] = {
    "ifAdminStatus": (*_IF_ENTRY, 7),
    "ifOperStatus": (*_IF_ENTRY, 8),
    "ifInDiscards": (*_IF_ENTRY, 13),
    "ifInErrors": (*_IF_ENTRY, 14),
    "ifOutDiscards": (*_IF_ENTRY, 19),
    "ifOutErrors": (*_IF_ENTRY, 20),
}
# ifTable columns read only when ifXTable lacks the interface (old devices): name and 32-bit
# counters. Walking them on every device would cost ~30 % more decoding for nothing.
IF_FALLBACK_COLUMNS: Final[dict[str, Oid]] = {
    "ifDescr": (*_IF_ENTRY, 2),
    "ifSpeed": (*_IF_ENTRY, 5),
    "ifInOctets": (*_IF_ENTRY, 10),
    "ifInUcastPkts": (*_IF_ENTRY, 11),
    "ifOutOctets": (*_IF_ENTRY, 16),
    "ifOutUcastPkts": (*_IF_ENTRY, 17),
}
# IF-MIB ifXTable (1.3.6.1.2.1.31.1.1.1.N): names and 64-bit (HC) counters.
_IF_X_ENTRY: Final[Oid] = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
IF_X_COLUMNS: Final[dict[str, Oid]] = {
    "ifName": (*_IF_X_ENTRY, 1),
    "ifHCInOctets": (*_IF_X_ENTRY, 6),
    "ifHCInUcastPkts": (*_IF_X_ENTRY, 7),
    "ifHCOutOctets": (*_IF_X_ENTRY, 10),
    "ifHCOutUcastPkts": (*_IF_X_ENTRY, 11),
    "ifHighSpeed": (*_IF_X_ENTRY, 15),
    "ifAlias": (*_IF_X_ENTRY, 18),
}

# HOST-RESOURCES-MIB hrStorageTable (1.3.6.1.2.1.25.2.3.1.N) and hrProcessorTable.
_HR_STORAGE_ENTRY: Final[Oid] = (1, 3, 6, 1, 2, 1, 25, 2, 3, 1)
HR_STORAGE_COLUMNS: Final[dict[str, Oid]] = {
    "hrStorageType": (*_HR_STORAGE_ENTRY, 2),
    "hrStorageDescr": (*_HR_STORAGE_ENTRY, 3),
    "hrStorageAllocationUnits": (*_HR_STORAGE_ENTRY, 4),
    "hrStorageSize": (*_HR_STORAGE_ENTRY, 5),
    "hrStorageUsed": (*_HR_STORAGE_ENTRY, 6),
}
HR_PROCESSOR_LOAD: Final[Oid] = (1, 3, 6, 1, 2, 1, 25, 3, 3, 1, 2)
# UCD-SNMP-MIB laTable laLoad (DisplayString "0.42"), rows 1/5/15-minute.
UCD_LA_LOAD: Final[Oid] = (1, 3, 6, 1, 4, 1, 2021, 10, 1, 3)
HOST_COLUMNS: Final[dict[str, Oid]] = {
    **HR_STORAGE_COLUMNS,
    "hrProcessorLoad": HR_PROCESSOR_LOAD,
    "laLoad": UCD_LA_LOAD,
}

# hrStorageTypes (1.3.6.1.2.1.25.2.1.N) -> the kinds netwatch reports.
_HR_STORAGE_TYPES: Final[Oid] = (1, 3, 6, 1, 2, 1, 25, 2, 1)
STORAGE_TYPES: Final[dict[Oid, str]] = {
    (*_HR_STORAGE_TYPES, 2): "ram",
    (*_HR_STORAGE_TYPES, 3): "virtual",
    (*_HR_STORAGE_TYPES, 4): "fixed disk",
}
