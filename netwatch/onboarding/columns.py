"""Which column is which field: headers in Vietnamese or English, compared without case or
diacritics, and ``--map COLUMN=FIELD`` for the rest.

>>> header = ["STT", "Tỉnh", "Xã/Phường", "Tên thiết bị", "Địa chỉ IP"]
>>> columns = find_columns("d.csv", [(1, header)], ("province", "commune"), {})
>>> columns.fields, columns.header_row
({'province': 1, 'commune': 2, 'name': 3, 'address': 4}, 1)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from netwatch.errors import Problem

from .text import fold

# Fields of a device row other than the levels. Export writes these names as its headers.
DEVICE_FIELDS = ("name", "id", "address", "role", "gateway")
SNMP_FIELDS = (
    "snmp_version",
    "snmp_community",
    "snmp_user",
    "snmp_auth_protocol",
    "snmp_auth_password",
    "snmp_priv_protocol",
    "snmp_priv_password",
)
IGNORED = "-"

_ALIASES: dict[str, tuple[str, ...]] = {
    "site": ("site", "don vi", "site path", "duong dan"),
    "name": ("name", "device", "device name", "ten", "ten thiet bi", "thiet bi"),
    "id": ("id", "device id", "ma thiet bi"),
    "address": ("address", "ip", "ip address", "dia chi", "dia chi ip"),
    "role": ("role", "type", "vai tro", "loai", "loai thiet bi"),
    "gateway": ("gateway", "cong ket noi"),
    "snmp_version": ("snmp", "snmp version", "phien ban snmp"),
    "snmp_community": ("community", "snmp community"),
    "snmp_user": ("snmp user", "snmp v3 user", "nguoi dung snmp"),
    IGNORED: ("stt", "tt", "so thu tu", "ghi chu", "note", "notes", "mo ta", "description"),
}
_LEVEL_ALIASES: dict[str, tuple[str, ...]] = {
    "province": ("tinh", "tinh thanh pho", "tinh thanh"),
    "district": ("huyen", "quan", "quan huyen", "huyen quan", "quan huyen thi xa"),
    "commune": ("ward", "xa", "phuong", "xa phuong", "phuong xa", "xa phuong thi tran"),
}
_LEVEL_ID_ALIASES: dict[str, tuple[str, ...]] = {
    "province": ("ma tinh",),
    "district": ("ma huyen", "ma quan huyen"),
    "commune": ("ma xa", "ma xa phuong"),
}
_HEADER_SEARCH_ROWS = 10  # a title or a blank line or two may stand above the header


def level_id(level: str) -> str:
    """The field of a level's site ids: ``commune_id``."""
    return f"{level}_id"


def known_fields(levels: tuple[str, ...]) -> tuple[str, ...]:
    return (*levels, *map(level_id, levels), "site", *DEVICE_FIELDS, *SNMP_FIELDS)


def _aliases(levels: tuple[str, ...]) -> dict[str, str]:
    """Folded header -> field."""
    table: dict[str, str] = {}
    for name, words in _ALIASES.items():
        for word in words:
            table[word] = name
    for name in known_fields(levels):
        table[fold(name)] = name
    for level in levels:
        for word in _LEVEL_ALIASES.get(level, ()):
            table[word] = level
        for word in _LEVEL_ID_ALIASES.get(level, ()):
            table[word] = level_id(level)
    return table


@dataclass
class Columns:
    """Where each field is: its column index (0-based) in the rows after ``header_row``."""

    header_row: int
    fields: dict[str, int]
    headers: list[str]
    ignored: list[str] = field(default_factory=list)  # columns no field takes
    problems: list[Problem] = field(default_factory=list)

    def header(self, name: str) -> str:
        return self.headers[self.fields[name]]


def parse_maps(maps: list[str], levels: tuple[str, ...]) -> dict[str, str]:
    """``["Mã TB=id", "Ghi chú=-"]`` -> folded column -> field. Raises ``ValueError``."""
    fields = known_fields(levels)
    out: dict[str, str] = {}
    for item in maps:
        column, sep, name = item.rpartition("=")
        name = name.strip()
        if not sep or not column.strip():
            raise ValueError(f"--map {item!r}: write COLUMN=FIELD")
        if name != IGNORED and name not in fields:
            raise ValueError(
                f"--map {item!r}: unknown field {name!r}; fields: {', '.join(fields)}, "
                f"or {IGNORED} to ignore the column"
            )
        out[fold(column)] = name
    return out


def find_columns(
    file: str, rows: list[tuple[int, list[str]]], levels: tuple[str, ...], maps: Mapping[str, str]
) -> Columns | None:
    """The header row (the first of the first rows naming two fields or more) and its fields;
    None if no row looks like a header."""
    table = _aliases(levels)
    for number, cells in rows[:_HEADER_SEARCH_ROWS]:
        found = [maps.get(fold(cell), table.get(fold(cell))) for cell in cells]
        if sum(1 for name in found if name and name != IGNORED) >= 2:
            return _columns(file, number, cells, found)
    return None


def _columns(file: str, number: int, cells: list[str], found: list[str | None]) -> Columns:
    columns = Columns(number, {}, cells)
    for index, (cell, name) in enumerate(zip(cells, found, strict=True)):
        if name == IGNORED or (name is None and not cell):
            continue
        if name is None:
            columns.ignored.append(cell)
            continue
        if name in columns.fields:
            first = cells[columns.fields[name]]
            columns.problems.append(
                Problem(
                    file,
                    number,
                    index + 1,
                    cell,
                    f"columns {first!r} and {cell!r} are both {name}; "
                    f"ignore one with --map '{cell}=-'",
                )
            )
            continue
        columns.fields[name] = index
    return columns
