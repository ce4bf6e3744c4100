"""The rows of a device list checked and turned into a site tree.

Every bad row is reported with its row number, all at once (``ConfigError``, exit 2 from the
CLI): a bad or duplicate address, an unknown role, a site given two parents or two ids, a missing
cell. What a spreadsheet does by habit is accepted: a blank level cell above the row's deepest
one is the merged cell of the row above; a row repeated word for word is kept once, with a
warning; spaces around cells are ignored.

Ids are made from the names (``Phường Lái Hiếu`` -> ``phuong-lai-hieu``), in the order the sites
and devices first appear; a second site or device that would get the same id gets ``-2``, then
``-3``. Ids given in the sheet (``id``, ``commune_id`` columns) are kept and taken first.

An address written with leading zeros (``010.020.001.001``) is refused: some programs read
``010`` as octal 8, others as 10, so netwatch will not guess which device is meant.

>>> from netwatch.onboarding.table import Table
>>> rows = [(1, ["Tỉnh", "Xã", "Tên thiết bị", "Địa chỉ IP", "Vai trò"]),
...         (2, ["Tỉnh Cà Mau", "Phường Lái Hiếu", "Router", "10.1.1.1", "router"]),
...         (3, ["", "", "Máy trạm 01", "10.1.1.101", "máy trạm"])]
>>> result = import_table(Table("d.csv", rows))
>>> site = result.roots[0].children[0]
>>> site.id, site.gateway
('phuong-lai-hieu', 'phuong-lai-hieu-router')
>>> [d.id for d in site.devices]
['phuong-lai-hieu-router', 'phuong-lai-hieu-may-tram-01']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from netwatch.configuration.values import check_id, check_label_name
from netwatch.errors import ConfigError, Problem
from netwatch.models import Role

from .cells import Cells, Get, SnmpCells, getter
from .columns import SNMP_FIELDS, Columns, find_columns, level_id, parse_maps
from .table import Table
from .text import Ids, fold, slug

THREE_TIERS = ("province", "district", "commune")
TWO_TIERS = ("province", "commune")  # local government since July 2025


# --------------------------------------------------------------------------- the result


@dataclass
class ImportedDevice:
    id: str
    name: str
    address: str
    role: Role
    snmp: SnmpCells | None
    row: int
    gateway: bool = False  # marked as its site's gateway in the sheet
    comment: str = ""  # written after the device's line (e.g. what discover found)


@dataclass
class ImportedSite:
    id: str
    name: str
    level: str
    row: int
    devices: list[ImportedDevice] = field(default_factory=list)
    children: list[ImportedSite] = field(default_factory=list)
    gateway: str | None = None


@dataclass
class ImportResult:
    """The site tree read from a sheet, and what the operator should know about it."""

    levels: tuple[str, ...]
    roots: list[ImportedSite]
    warnings: list[str]


# --------------------------------------------------------------------------- reading


@dataclass
class _Pending:
    """A site while the rows are read: its id is made once every given id is known."""

    key: tuple[str, ...]
    name: str
    row: int
    given_id: str | None = None
    site: ImportedSite | None = None


@dataclass
class _Row:
    number: int
    site: tuple[str, ...]
    device: tuple[str, ...] | None  # the device cells as read, to spot repeated rows
    name: str = ""
    given_id: str = ""
    address: str = ""
    role: Role = Role.OTHER
    gateway: bool = False
    snmp: SnmpCells | None = None


def import_table(
    table: Table, *, levels: tuple[str, ...] | None = None, maps: list[str] | None = None
) -> ImportResult:
    """Reads the rows of ``table`` into a site tree. Raises ``ConfigError`` with every problem
    (and ``ValueError`` for a bad ``--map`` or ``--levels``)."""
    for level in levels or ():
        check_label_name(level)  # each becomes a metric label
    if levels is not None and len(set(levels)) != len(levels):
        raise ValueError(f"--levels {','.join(levels)}: a level is named twice")
    return _Reader(table, levels, parse_maps(maps or [], levels or THREE_TIERS)).read()


class _Reader:
    def __init__(
        self, table: Table, levels: tuple[str, ...] | None, maps: Mapping[str, str]
    ) -> None:
        self.table = table
        self.levels = levels
        self.maps = maps
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        self.sites: dict[tuple[str, ...], _Pending] = {}
        self.site_ids: dict[str, _Pending] = {}
        self.rows: list[_Row] = []
        self.addresses: dict[str, _Row] = {}

    def problem(self, row: int, column: str, message: str) -> None:
        index = self.columns.fields.get(column, -1) + 1 if column else 0
        header = self.columns.headers[index - 1] if index else ""
        self.problems.append(Problem(self.table.file, row, max(index, 1), header, message))

    def read(self) -> ImportResult:
        columns = self._columns()
        present = tuple(
            level
            for level in self.levels or THREE_TIERS
            if level in columns.fields or level_id(level) in columns.fields
        )
        by_path = not present  # no level column: the places are paths in one site column
        levels = self.levels or present
        if by_path and "site" not in columns.fields:
            raise ConfigError(
                [
                    *self.problems,
                    Problem(
                        self.table.file,
                        columns.header_row,
                        1,
                        "",
                        "no column says where a device is: add level columns (Tỉnh, Huyện, "
                        "Xã/Phường) or one site column ('Tỉnh X/Xã Y')",
                    ),
                ]
            )
        self._required_columns(columns)
        if self.problems:
            raise ConfigError(self.problems)
        self._read_rows(levels, by_path)
        if by_path:
            levels = self._path_levels()
        roots = self._build(levels)
        if not roots and not self.problems:
            self.problems.append(
                Problem(self.table.file, columns.header_row, 1, "", "no rows under the header")
            )
        if self.problems:
            raise ConfigError(self.problems)
        return ImportResult(levels, roots, self.warnings)

    def _columns(self) -> Columns:
        """The header row found and read (its problems and unused columns noted); raises
        ``ConfigError`` when there is none."""
        columns = find_columns(
            self.table.file, self.table.rows, self.levels or THREE_TIERS, self.maps
        )
        if columns is None:
            raise ConfigError(
                [
                    Problem(
                        self.table.file,
                        1,
                        1,
                        "",
                        "no header row found in the first rows: name the columns, e.g. "
                        "Tỉnh, Xã/Phường, Tên thiết bị, Địa chỉ IP, Vai trò "
                        "(or province, commune, name, address, role)",
                    )
                ]
            )
        self.columns = columns
        self.problems.extend(columns.problems)
        if columns.ignored:
            shown = ", ".join(repr(c) for c in columns.ignored)
            self.warnings.append(f"columns not used: {shown} (--map 'COLUMN=FIELD' to use one)")
        return columns

    def _path_levels(self) -> tuple[str, ...]:
        """The levels of a table whose places are site paths: ``--levels``, else as many of
        the three tiers as the deepest path has parts (deeper than three is a problem)."""
        if self.levels is not None:
            return self.levels or THREE_TIERS
        depth = max((len(key) for key in self.sites), default=1)
        if depth > len(THREE_TIERS):
            self.problems.append(
                Problem(
                    self.table.file,
                    self.columns.header_row,
                    self.columns.fields["site"] + 1,
                    self.columns.header("site"),
                    f"site paths go {depth} levels deep; name the levels with --levels",
                )
            )
        return {1: THREE_TIERS[:1], 2: TWO_TIERS}.get(depth, THREE_TIERS)

    def _required_columns(self, columns: Columns) -> None:
        """An address column, and a name column unless ids are given."""
        wanted = {"address": "'Địa chỉ IP' or 'address'", "name": "'Tên thiết bị' or 'name'"}
        if "id" in columns.fields:
            del wanted["name"]
        for name, example in wanted.items():
            if name not in columns.fields:
                self.problems.append(
                    Problem(
                        self.table.file, columns.header_row, 1, "", f"no {name} column ({example})"
                    )
                )

    # ------------------------------------------------------------------ rows

    def _read_rows(self, levels: tuple[str, ...], by_path: bool) -> None:
        self.active, self.by_path = levels, by_path
        above: tuple[tuple[str, str], ...] = ()  # (name, given id) per level, of the row above
        for number, cells in self.table.rows:
            if number <= self.columns.header_row or not any(cells):
                continue
            get = getter(self.columns.fields, cells)
            place = (
                self._place_by_path(number, get, above)
                if by_path
                else self._place(number, get, levels, above)
            )
            if place is None:
                continue
            above = place
            key = self._site_of(number, place)
            if key is None:
                continue
            self._device(number, get, key)

    def _place(
        self, number: int, get: Get, levels: tuple[str, ...], above: tuple[tuple[str, str], ...]
    ) -> tuple[tuple[str, str], ...] | None:
        cells = [(get(level), get(level_id(level))) for level in levels]
        deepest = max((i for i, pair in enumerate(cells) if any(pair)), default=-1)
        if deepest < 0:
            if not above:
                self.problem(number, levels[0], f"no {levels[0]}: say where this device is")
                return None
            return above  # every level merged with the row above
        place: list[tuple[str, str]] = []
        moved = False  # a level above differs from the row above's: nothing below is merged
        for i, (name, given) in enumerate(cells[: deepest + 1]):
            if not name and not given:
                if i >= len(above) or moved:
                    self.problem(number, levels[i], f"no {levels[i]} for the {levels[deepest]}")
                    return None
                name, given = above[i]  # a merged cell
            elif i >= len(above) or _key(name, given) != _key(*above[i]):
                moved = True
            place.append((name, given))
        return tuple(place)

    def _place_by_path(
        self, number: int, get: Get, above: tuple[tuple[str, str], ...]
    ) -> tuple[tuple[str, str], ...] | None:
        text = get("site")
        if not text:
            if not above:
                self.problem(number, "site", "no site: say where this device is")
                return None
            return above
        parts = tuple((part.strip(), "") for part in text.split("/") if part.strip())
        if self.levels is not None and len(parts) > len(self.levels):
            levels = ", ".join(self.levels)
            self.problem(number, "site", f"{len(parts)} levels in {text!r}; --levels has {levels}")
            return None
        return parts

    def _site_of(self, number: int, place: tuple[tuple[str, str], ...]) -> tuple[str, ...] | None:
        """Registers the sites of a row's place; the key of its own site."""
        key: tuple[str, ...] = ()
        for depth, (name, given) in enumerate(place):
            parent = key
            key = (*key, fold(name) if name else "#" + given)
            if given and not self._given_site_id(number, depth, given):
                return None
            pending = self.sites.get(key)
            if pending is None:
                pending = self.sites[key] = _Pending(key, name or given, number)
            if given:
                if pending.given_id is None:
                    other = self.site_ids.get(given)
                    if other is not None and other.key[:-1] != parent:
                        self._level_problem(
                            number,
                            depth,
                            f"site id {given!r} is already under "
                            f"{self._path_name(other.key[:-1])} (row {other.row}): "
                            "a site has one parent",
                            ids=True,
                        )
                        return None
                    if other is not None:
                        self._level_problem(
                            number,
                            depth,
                            f"site id {given!r} is already {other.name!r} (row {other.row})",
                            ids=True,
                        )
                        return None
                    pending.given_id = given
                    self.site_ids[given] = pending
                elif pending.given_id != given:
                    self._level_problem(
                        number,
                        depth,
                        f"{pending.name!r} has id {pending.given_id!r} on row {pending.row}, "
                        f"{given!r} here",
                        ids=True,
                    )
                    return None
        return key

    def _given_site_id(self, number: int, depth: int, given: str) -> bool:
        try:
            check_id(given)
        except ValueError as exc:
            self._level_problem(number, depth, str(exc), ids=True)
            return False
        return True

    def _level_problem(self, number: int, depth: int, message: str, *, ids: bool = False) -> None:
        if self.by_path:
            self.problem(number, "site", message)
            return
        level = self.active[depth]
        names, given = level in self.columns.fields, level_id(level) in self.columns.fields
        self.problem(number, level_id(level) if given and (ids or not names) else level, message)

    def _path_name(self, key: tuple[str, ...]) -> str:
        names = [self.sites[key[: i + 1]].name for i in range(len(key))]
        return "/".join(names) or "the top"

    def _device(self, number: int, get: Get, key: tuple[str, ...]) -> None:
        device_fields = ("name", "id", "address", "role", "gateway", *SNMP_FIELDS)
        cells = tuple(get(name) for name in device_fields)
        if not get("name") and not get("id") and not get("address"):
            if any(cells):
                self.problem(number, "address", "a device needs an address and a name")
            return  # a row that only names its site: the site exists, without devices
        row = _Row(number, key, cells, name=get("name"), given_id=get("id"))
        if not row.name and not row.given_id:
            self.problem(number, "name", "missing: the device's name")
        if row.given_id:
            try:
                check_id(row.given_id)
            except ValueError as exc:
                self.problem(number, "id", str(exc))
        check = Cells(get, lambda column, message: self.problem(number, column, message))
        row.address = check.address(get("address"))
        row.role = check.role(get("role"))
        row.gateway = check.yes("gateway", get("gateway"))
        row.snmp = check.snmp()
        if row.address:
            first = self.addresses.get(row.address.lower())
            if first is not None:
                if first.site == row.site and first.device == row.device:
                    self.warnings.append(f"row {number} repeats row {first.number}; kept once")
                else:
                    self.problem(
                        number,
                        "address",
                        f"address {row.address} is already on row {first.number} "
                        f"({first.name or first.given_id}); one address, one device",
                    )
                return
            self.addresses[row.address.lower()] = row
        self.rows.append(row)

    # ------------------------------------------------------------------ the tree

    def _build(self, levels: tuple[str, ...]) -> list[ImportedSite]:
        site_ids = Ids("site")
        for pending in self.sites.values():
            if pending.given_id is not None:
                site_ids.reserve(pending.given_id)
        roots: list[ImportedSite] = []
        for key, pending in self.sites.items():  # parents first: a prefix is registered first
            ident = pending.given_id or site_ids.make(slug(pending.name))
            level = levels[len(key) - 1] if len(key) <= len(levels) else levels[-1]
            site = pending.site = ImportedSite(ident, pending.name, level, pending.row)
            parent = self.sites[key[:-1]].site if len(key) > 1 else None
            (parent.children if parent is not None else roots).append(site)
        device_ids = Ids("device")
        for row in self.rows:
            if row.given_id and not device_ids.reserve(row.given_id):
                self.problem(row.number, "id", f"device id {row.given_id!r} is used twice")
        for row in self.rows:
            home = self.sites[row.site].site
            assert home is not None
            ident = row.given_id
            if not ident:
                base = slug(row.name)
                ident = device_ids.make(base if base.startswith(home.id) else f"{home.id}-{base}")
            device = ImportedDevice(ident, row.name, row.address, row.role, row.snmp, row.number)
            if row.gateway:
                if home.gateway is not None:
                    self.problem(
                        row.number,
                        "gateway",
                        f"site {home.name!r} already has gateway {home.gateway}",
                    )
                home.gateway = ident
            home.devices.append(device)
        for pending in self.sites.values():
            made = pending.site
            assert made is not None
            if made.gateway is None and made.devices:
                routers = [d for d in made.devices if d.role is Role.ROUTER]
                made.gateway = (routers or made.devices)[0].id
        return roots


def _key(name: str, given: str) -> tuple[str, str]:
    """A level cell pair as compared: names without case or diacritics."""
    return fold(name), given
