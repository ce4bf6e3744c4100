"""Device health (CPU, memory, temperatures, fans, power supplies, UPS) read by a profile.

:class:`HealthReader` reads what a device's :class:`~netwatch.configuration.profiles.Profile` names,
through the SNMP poller's own requests (it is handed a ``get`` and a ``walk``). Cost per
poll: tables are walked once (all their columns side by side, one GETBULK for a small table)
to find the rows that matter and their names; after that every value, of the scalars and of
the kept rows, is read by one GET of several OIDs (split in a few concurrent GETs past
:data:`GET_BATCH` OIDs). Rows are found again every :data:`REDISCOVER_SECONDS`, or at once
when a kept row disappears or the device's profile changes. Scalars absent at discovery (a
UPS-MIB object on a device that is no UPS) are not asked again until the next discovery.

>>> reader = HealthReader()
>>> reader.forget("core-rtr")
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import unicodedata
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from netwatch.configuration.profiles import Oid, Profile, Source
from netwatch.probes import snmp_v2c as v2c

REDISCOVER_SECONDS: Final = 3600.0
GET_BATCH: Final = 40  # OIDs per GET: well under any agent's reply size
# ENTITY-SENSOR-MIB entPhySensorEntry (1.3.6.1.2.1.99.1.1.1.N) and ENTITY-MIB entPhysicalName.
_SENSOR: Final[Oid] = (1, 3, 6, 1, 2, 1, 99, 1, 1, 1)
SENSOR_TYPE: Final[Oid] = (*_SENSOR, 1)  # entPhySensorType
SENSOR_SCALE: Final[Oid] = (*_SENSOR, 2)  # entPhySensorScale (9 = units, 3 arcs per 10^3)
SENSOR_PRECISION: Final[Oid] = (*_SENSOR, 3)  # entPhySensorPrecision (decimal places)
SENSOR_VALUE: Final[Oid] = (*_SENSOR, 4)  # entPhySensorValue
SENSOR_STATUS: Final[Oid] = (*_SENSOR, 5)  # entPhySensorOperStatus (1 = ok)
PHYSICAL_NAME: Final[Oid] = (1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 7)  # entPhysicalName

Get = Callable[[Sequence[Oid]], Awaitable[Mapping[Oid, Any]]]
Walk = Callable[[Mapping[str, Oid]], Awaitable[Mapping[str, Mapping[Oid, Any]]]]


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class Reading:
    """One named value: a CPU's load ratio (0..1) or a temperature (celsius)."""

    name: str
    value: float


@dataclass(frozen=True, slots=True)
class MemoryPool:
    name: str
    used_ratio: float
    used_bytes: float | None = None
    total_bytes: float | None = None


@dataclass(frozen=True, slots=True)
class Status:
    """A fan's or power supply's state: ``ok``, and the device's raw status value."""

    name: str
    ok: bool
    raw: int


@dataclass(frozen=True, slots=True)
class UpsStatus:
    """A UPS as RFC 1628 or PowerNet-MIB tells it; ``None`` where the agent does not say."""

    on_battery: bool | None = None
    seconds_on_battery: float | None = None
    charge_ratio: float | None = None
    runtime_seconds: float | None = None
    battery_status: str | None = None
    replace_battery: bool | None = None
    battery_temperature_celsius: float | None = None
    output_source: str | None = None


@dataclass(frozen=True, slots=True)
class HealthData:
    """What a device's profile read in one poll (empty tuples where it has nothing)."""

    profile: str
    cpu: tuple[Reading, ...] = ()
    memory: tuple[MemoryPool, ...] = ()
    temperatures: tuple[Reading, ...] = ()
    fans: tuple[Status, ...] = ()
    psus: tuple[Status, ...] = ()
    ups: UpsStatus | None = None


# --------------------------------------------------------------------------- values


def absent(value: Any) -> bool:
    return value is None or isinstance(value, v2c.Special)


def number(value: Any) -> float | None:
    """An integer, or a decimal in text (FortiGate's sensors); ``None`` otherwise."""
    if absent(value):
        return None
    if isinstance(value, int):
        return float(value)
    if not isinstance(value, bytes):
        try:
            raw = value.asOctets()
        except AttributeError:
            try:
                return float(int(value))
            except (TypeError, ValueError):
                return None
        except Exception:  # pyasn1 raises its own errors for non-octet values
            try:
                return float(int(value))
            except Exception:
                return None
        value = raw
    if isinstance(value, tuple):
        return None
    try:
        result = float(bytes(value).decode("ascii", "replace").strip().rstrip("\x00"))
    except ValueError:
        return None
    return result if math.isfinite(result) else None


def text(value: Any) -> str:
    if absent(value):
        return ""
    if isinstance(value, bytes):
        raw = value
    else:
        try:
            raw = value.asOctets()
        except Exception:
            return str(value)
    return decode_text(raw)


def decode_text(raw: bytes) -> str:
    """UTF-8, else Windows-1258 (Vietnamese Windows), NUL padding removed. cp1258 maps every
    byte but five; those few become U+FFFD, and no other byte is lost.

    >>> decode_text(bytes.fromhex("5861de20416e204269cc6e68"))
    'Xã An Bình'
    """
    raw = raw.rstrip(b"\x00")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # Windows-1258 writes tones as combining marks after the letter: compose them.
        return unicodedata.normalize("NFC", raw.decode("cp1258", "replace"))


# --------------------------------------------------------------------------- reader


@dataclass(slots=True)
class _Rows:
    """The kept rows of one table source, and what discovery learned of each."""

    rows: tuple[Oid, ...]
    names: dict[Oid, str] = field(default_factory=dict)
    extra: dict[Oid, tuple[int, int]] = field(default_factory=dict)  # entity sensors


@dataclass(slots=True)
class _Device:
    profile: str
    at: float
    tables: dict[int, _Rows]  # by source position in the profile
    scalars: tuple[Oid, ...]  # scalar OIDs that answered at discovery
    stale: bool = False


class HealthReader:
    """Reads the health of devices by their profiles; keeps each device's discovered rows."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._devices: dict[str, _Device] = {}
        self._clock = clock

    def forget(self, device: str) -> None:
        self._devices.pop(device, None)

    async def read(self, device: str, profile: Profile, get: Get, walk: Walk) -> HealthData | None:
        """The health of ``device`` (``None`` if its profile reads nothing).

        Raises what ``get``/``walk`` raise (the poller turns it into a failure of "health")."""
        if profile.empty:
            return None
        state = self._devices.get(device)
        now = self._clock()
        values: dict[Oid, Any] = {}
        if (
            state is None
            or state.stale
            or state.profile != profile.name
            # spread over 10 minutes per device: a province started at once does not
            # rediscover at once every hour
            or now - state.at > REDISCOVER_SECONDS + zlib.crc32(device.encode()) % 600
        ):
            state, values = await self._discover(profile, get, walk, now)
            self._devices[device] = state
        else:
            oids: list[Oid] = list(state.scalars)
            for position, rows in state.tables.items():
                oids.extend(_row_oids(profile.sources[position], rows))
            values = dict(await _get_all(get, oids))
        health, missing = _build(profile, state, values)
        if missing:
            state.stale = True  # a kept row went away: find the rows again next poll
        return health

    async def _discover(
        self, profile: Profile, get: Get, walk: Walk, now: float
    ) -> tuple[_Device, dict[Oid, Any]]:
        columns: dict[Oid, None] = {}
        scalars: dict[Oid, None] = {}
        for source in profile.sources:
            if source.scalar:
                scalars.update((oid, None) for _role, oid in source.live)
            else:
                columns.update((oid, None) for oid in _discovery_columns(source))
        scalars.update((f.oid, None) for f in profile.ups.values())
        walked: Mapping[str, Mapping[Oid, Any]] = {}
        got: Mapping[Oid, Any] = {}
        named = {".".join(map(str, oid)): oid for oid in columns}
        walked, got = await asyncio.gather(
            walk(named) if named else _empty_walk(), _get_all(get, list(scalars))
        )
        by_oid = {named[key]: rows for key, rows in walked.items()}
        tables: dict[int, _Rows] = {}
        values: dict[Oid, Any] = {oid: v for oid, v in got.items() if not absent(v)}
        names_wanted: dict[Oid, None] = {}
        for position, source in enumerate(profile.sources):
            if source.scalar:
                continue
            rows = _keep_rows(source, by_oid)
            if source.entity_sensor is not None:
                rows = _Rows(
                    rows.rows,
                    extra={
                        idx: (
                            int(number(by_oid[SENSOR_SCALE].get(idx)) or 9),
                            int(number(by_oid[SENSOR_PRECISION].get(idx)) or 0),
                        )
                        for idx in rows.rows
                    },
                )
                names_wanted.update(((*PHYSICAL_NAME, *idx), None) for idx in rows.rows)
            elif source.name is not None:
                column = by_oid.get(source.name, {})
                rows.names = {idx: text(column.get(idx)) for idx in rows.rows}
            tables[position] = rows
            for _role, oid in _live(source):
                for idx in rows.rows:
                    value = by_oid.get(oid, {}).get(idx)
                    if value is not None:
                        values[(*oid, *idx)] = value
        if names_wanted:
            got_names = await _get_all(get, list(names_wanted))
            for position, source in enumerate(profile.sources):
                if source.entity_sensor is not None and position in tables:
                    rows = tables[position]
                    rows.names = {
                        idx: text(got_names.get((*PHYSICAL_NAME, *idx))) for idx in rows.rows
                    }
        answered = tuple(oid for oid in scalars if oid in values)
        return _Device(profile.name, now, tables, answered), values


async def _empty_walk() -> Mapping[str, Mapping[Oid, Any]]:
    return {}


async def _get_all(get: Get, oids: Sequence[Oid]) -> dict[Oid, Any]:
    if not oids:
        return {}
    batches = [oids[i : i + GET_BATCH] for i in range(0, len(oids), GET_BATCH)]
    replies = await asyncio.gather(*(get(batch) for batch in batches))
    result: dict[Oid, Any] = {}
    for reply in replies:
        result.update(reply)
    return result


def _live(source: Source) -> tuple[tuple[str, Oid], ...]:
    if source.entity_sensor is not None:
        return (("value", SENSOR_VALUE), ("status", SENSOR_STATUS))
    return source.live


def _discovery_columns(source: Source) -> Iterable[Oid]:
    if source.entity_sensor is not None:
        return (SENSOR_TYPE, SENSOR_SCALE, SENSOR_PRECISION, SENSOR_VALUE, SENSOR_STATUS)
    extra = [source.name] if source.name is not None else []
    if source.where is not None and source.where.column is not None:
        extra.append(source.where.column)
    return [oid for _role, oid in source.live] + extra


def _row_oids(source: Source, rows: _Rows) -> Iterable[Oid]:
    for _role, oid in _live(source):
        for idx in rows.rows:
            yield (*oid, *idx)


def _keep_rows(source: Source, columns: Mapping[Oid, Mapping[Oid, Any]]) -> _Rows:
    if source.entity_sensor is not None:
        types = columns.get(SENSOR_TYPE, {})
        wanted = source.entity_sensor
        return _Rows(tuple(idx for idx, v in types.items() if number(v) == wanted))
    first = _live(source)[0][1]
    values = columns.get(first, {})
    rows = [
        idx
        for idx, value in values.items()
        if not (source.skip_zero and number(value) == 0)  # a sensor the part does not have
        and not (source.absent and number(value) in source.absent)  # e.g. notPresent
    ]
    where = source.where
    if where is not None:
        column = columns.get(where.column or first, {})
        pattern = re.compile(where.pattern) if where.pattern else None
        kept = []
        for idx in rows:
            if where.index and idx[: len(where.index)] != where.index:
                continue
            cell = column.get(idx)
            n = number(cell)
            if where.values and (n is None or int(n) not in where.values):
                continue
            if where.nonzero and not n:
                continue
            if pattern is not None and not pattern.search(text(cell)):
                continue
            kept.append(idx)
        rows = kept
    return _Rows(tuple(rows))


def _build(profile: Profile, state: _Device, values: Mapping[Oid, Any]) -> tuple[HealthData, bool]:
    cpu: list[Reading] = []
    memory: list[MemoryPool] = []
    temps: list[Reading] = []
    fans: list[Status] = []
    psus: list[Status] = []
    missing = False
    for position, source in enumerate(profile.sources):
        kind = source.kind
        if (kind == "cpu" and cpu) or (kind == "memory" and memory):
            continue  # an earlier source of this kind answered
        if source.scalar:
            rows: Sequence[tuple[str, Mapping[str, Any]]] = [
                (source.label or kind, {role: values.get(oid) for role, oid in source.live})
            ]
        else:
            table = state.tables.get(position)
            if table is None:
                continue
            rows = []
            for idx in table.rows:
                cells = {role: values.get((*oid, *idx)) for role, oid in _live(source)}
                if all(absent(v) for v in cells.values()):
                    missing = True
                    continue
                name = table.names.get(idx) or source.label or ".".join(map(str, idx))
                if source.entity_sensor is not None:
                    cells["scale"], cells["precision"] = table.extra.get(idx, (9, 0))
                rows.append((name, cells))
        for name, found in rows:
            if kind == "memory":
                pool = _memory(source, name, found)
                if pool is not None:
                    memory.append(pool)
                continue
            if source.entity_sensor is not None:
                reading = _entity_sensor(name, found)
                if reading is not None:
                    temps.append(reading)
                continue
            raw = number(found.get("value"))
            if raw is None:
                continue
            if kind in ("fan", "psu"):
                if int(raw) in source.absent:
                    continue
                (fans if kind == "fan" else psus).append(
                    Status(name, int(raw) in source.ok, int(raw))
                )
            elif kind == "cpu":
                cpu.append(Reading(name, raw * source.scale / 100))
            elif not (source.skip_zero and raw == 0):
                temps.append(Reading(name, raw * source.scale))
    ups = _ups(profile, values)
    health = HealthData(
        profile.name,
        _unique(cpu), tuple(memory), _unique(temps), tuple(fans), tuple(psus), ups,
    )  # fmt: skip
    return health, missing


def _unique(readings: list[Reading]) -> tuple[Reading, ...]:
    seen: dict[str, int] = {}
    result = []
    for reading in readings:
        count = seen.get(reading.name, 0)
        seen[reading.name] = count + 1
        result.append(
            reading if not count else Reading(f"{reading.name}#{count + 1}", reading.value)
        )
    return tuple(result)


def _memory(source: Source, name: str, cells: Mapping[str, Any]) -> MemoryPool | None:
    roles = ("used", "free", "total", "percent", "buffers", "cached")
    get = {role: number(cells.get(role)) for role in roles}
    k = source.bytes
    total = get["total"] * k if get["total"] is not None else None
    if get["percent"] is not None:
        ratio = get["percent"] * source.scale / 100
        used = ratio * total if total else None
        return MemoryPool(name, ratio, used, total)
    used = get["used"] * k if get["used"] is not None else None
    free = get["free"] * k if get["free"] is not None else None
    if free is not None:  # buffers and page cache are memory the kernel gives back
        free += ((get["buffers"] or 0) + (get["cached"] or 0)) * k
    if total is None and used is not None and free is not None:
        total = used + free
    if used is None and total is not None and free is not None:
        used = total - free
    if used is None or not total:
        return None
    return MemoryPool(name, used / total, used, total)


def _entity_sensor(name: str, cells: Mapping[str, Any]) -> Reading | None:
    raw = number(cells.get("value"))
    status = number(cells.get("status"))
    if raw is None or (status is not None and status != 1):  # 2 unavailable, 3 nonoperational
        return None
    exponent = (int(cells["scale"]) - 9) * 3 - int(cells["precision"])
    return Reading(name, raw * 10.0**exponent)


def _ups(profile: Profile, values: Mapping[Oid, Any]) -> UpsStatus | None:
    if not profile.ups:
        return None
    fields: dict[str, Any] = {}
    for key, spec in profile.ups.items():
        raw = number(values.get(spec.oid))
        if raw is None:
            continue
        if key in ("on_battery", "replace_battery"):
            fields[key] = int(raw) in spec.true
        elif key in ("battery_status", "output_source"):
            fields[key] = spec.states.get(int(raw), "unknown")
        elif key == "charge":
            fields["charge_ratio"] = raw * spec.scale / 100
        elif key == "runtime":
            fields["runtime_seconds"] = raw * spec.scale
        elif key == "battery_temperature":
            fields["battery_temperature_celsius"] = raw * spec.scale
        else:
            fields[key] = raw * spec.scale
    if not fields:
        return None
    if "on_battery" not in fields and "output_source" in fields:
        fields["on_battery"] = fields["output_source"] == "battery"
    return UpsStatus(**fields)
