"""The device list read into a site tree: headers, ids, spreadsheet habits and every bad row."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

from netwatch.errors import ConfigError
from netwatch.onboarding import cells, columns, render, rows, table, text
from netwatch.onboarding.rows import ImportResult, import_table
from netwatch.onboarding.table import Table, read_table
from netwatch.onboarding.text import Ids, slug
from tests.sheets import cp1258

HEAD = ["Tỉnh", "Huyện", "Xã/Phường", "Tên thiết bị", "Địa chỉ IP", "Vai trò"]


def _import(*body: list[str], head: list[str] = HEAD, **kwargs: object) -> ImportResult:
    numbered = [(i, cells) for i, cells in enumerate([head, *body], 1)]
    return import_table(Table("d.csv", numbered), **kwargs)  # type: ignore[arg-type]


def _problems(*body: list[str], head: list[str] = HEAD, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _import(*body, head=head, **kwargs)
    return [str(p) for p in caught.value.problems]


def _tree(result: ImportResult) -> list[tuple[str, str, str | None, list[str]]]:
    """(id, level, parent id, device ids) per site, parents first."""
    out = []

    def walk(site: rows.ImportedSite, parent: str | None) -> None:
        out.append((site.id, site.level, parent, [d.id for d in site.devices]))
        for child in site.children:
            walk(child, site.id)

    for root in result.roots:
        walk(root, None)
    return out


@pytest.mark.parametrize("module", [text, table, columns, cells, rows, render])
def test_doctests(module: object) -> None:
    """The examples in the modules' docstrings hold."""
    failed, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert tried > 0
    assert failed == 0


def test_slug_from_vietnamese_names() -> None:
    """Ids drop diacritics, đ becomes d, anything else becomes one hyphen."""
    assert slug("Phường Lái Hiếu") == "phuong-lai-hieu"
    assert slug("ĐỒNG ĐĂNG") == "dong-dang"
    assert slug("  Xã Ea H'Leo (cũ) ") == "xa-ea-h-leo-cu"
    assert slug("Phường Lái Hiếu") == slug("Phu\u031bo\u031b\u0300ng La\u0301i Hie\u0302\u0301u")


def test_ids_are_unique_and_deterministic() -> None:
    """The second of a name gets -2, the third -3; a taken id is not handed out."""
    ids = Ids()
    assert ids.reserve("phuong-1")
    assert [ids.make("phuong-1"), ids.make("phuong-1"), ids.make("xa")] == [
        "phuong-1-2",
        "phuong-1-3",
        "xa",
    ]
    assert not ids.reserve("xa")


def test_headers_in_either_language_any_case_any_marks() -> None:
    """Vietnamese headers without diacritics or in capitals, and English ones, are recognised."""
    result = _import(
        ["Tinh Ca Mau", "Huyen A", "Xa B", "Router", "10.0.0.1", "router"],
        head=["TỈNH", "huyen", "Xa/Phuong", "device", "IP", "ROLE"],
    )
    assert _tree(result) == [
        ("tinh-ca-mau", "province", None, []),
        ("huyen-a", "district", "tinh-ca-mau", []),
        ("xa-b", "commune", "huyen-a", ["xa-b-router"]),
    ]


def test_title_rows_and_unknown_columns() -> None:
    """A title above the header is skipped; a column no field takes is named in a warning."""
    numbered = [
        (1, ["DANH SÁCH THIẾT BỊ MẠNG", "", ""]),
        (2, ["", "", ""]),
        (3, ["Đơn vị", "Tên", "Địa chỉ", "Số serial"]),
        (4, ["Tỉnh X/Xã Y", "Router", "10.0.0.1", "FGT123"]),
    ]
    result = import_table(Table("d.csv", numbered))
    assert result.levels == ("province", "commune")  # two levels in the site path
    assert _tree(result)[1] == ("xa-y", "commune", "tinh-x", ["xa-y-router"])
    assert any("'Số serial'" in w for w in result.warnings)


def test_merged_cells_are_filled_from_the_row_above_but_not_below() -> None:
    """A blank level above the row's deepest one is the row above's; blanks below mean the
    device belongs to the higher site (a province's own server)."""
    result = _import(
        ["Tỉnh X", "", "", "Router lõi", "10.0.0.1", "router"],
        ["", "", "", "Máy chủ", "10.0.0.2", "server"],
        ["", "Huyện A", "Xã B", "Router", "10.1.1.1", "router"],
        ["", "", "", "PC", "10.1.1.2", "workstation"],
        ["", "", "Xã C", "Router", "10.1.2.1", "router"],
        ["", "Huyện D", "", "Router", "10.2.0.1", "router"],
    )
    assert _tree(result) == [
        ("tinh-x", "province", None, ["tinh-x-router-loi", "tinh-x-may-chu"]),
        ("huyen-a", "district", "tinh-x", []),
        ("xa-b", "commune", "huyen-a", ["xa-b-router", "xa-b-pc"]),
        ("xa-c", "commune", "huyen-a", ["xa-c-router"]),
        ("huyen-d", "district", "tinh-x", ["huyen-d-router"]),
    ]


def test_same_name_in_two_districts_gets_two_ids() -> None:
    """Phường 1 of two districts are two sites: the second id is -2, in row order."""
    result = _import(
        ["T", "Quận 3", "Phường 1", "Router", "10.3.1.1", "router"],
        ["T", "Quận 5", "Phường 1", "Router", "10.5.1.1", "router"],
        ["T", "Quận 3", "Phường 1", "Router", "10.3.1.2", "router"],
    )
    tree = _tree(result)
    assert ("phuong-1", "commune", "quan-3", ["phuong-1-router", "phuong-1-router-2"]) in tree
    assert ("phuong-1-2", "commune", "quan-5", ["phuong-1-2-router"]) in tree


def test_gateway_is_the_first_router_unless_marked() -> None:
    """Without a mark the first router is the gateway, else the first device; x marks one."""
    head = [*HEAD, "Gateway"]
    result = _import(
        ["T", "H", "X", "PC", "10.0.0.9", "workstation", ""],
        ["T", "H", "X", "Router", "10.0.0.1", "router", ""],
        ["T", "H", "Y", "PC", "10.0.1.9", "workstation", ""],
        ["T", "H", "Z", "Router", "10.0.2.1", "router", ""],
        ["T", "H", "Z", "Firewall", "10.0.2.2", "firewall", "x"],
        head=head,
    )
    gateways = {s.id: s.gateway for s in result.roots[0].children[0].children}
    assert gateways == {"x": "x-router", "y": "y-pc", "z": "z-firewall"}


def test_vietnamese_role_words() -> None:
    """Máy chủ, máy trạm, bộ định tuyến... are roles; a blank role is 'other'."""
    result = _import(
        ["T", "H", "X", "A", "10.0.0.1", "Bộ định tuyến"],
        ["T", "H", "X", "B", "10.0.0.2", "MÁY CHỦ"],
        ["T", "H", "X", "C", "10.0.0.3", "máy trạm"],
        ["T", "H", "X", "D", "10.0.0.4", ""],
    )
    roles = [d.role.value for d in result.roots[0].children[0].children[0].devices]
    assert roles == ["router", "server", "workstation", "other"]


def test_repeated_row_is_kept_once_with_a_warning() -> None:
    """A row repeated word for word (as after a copy and paste) collapses."""
    row = ["T", "H", "X", "Router", "10.0.0.1", "router"]
    result = _import(row, [c + " " for c in row])
    assert len(result.roots[0].children[0].children[0].devices) == 1
    assert result.warnings == ["row 3 repeats row 2; kept once"]


def test_every_bad_row_is_reported_at_once_with_its_row_number() -> None:
    """Bad address, duplicate address, unknown role, leading zeros, missing cells: all of them."""
    problems = _problems(
        ["T", "H", "X", "Router", "10.0.0.1", "router"],
        ["", "", "", "Router 2", "10.0.0.1", "router"],
        ["", "", "", "Camera", "10.0.0.300", "camera"],
        ["", "", "", "Switch", "010.020.001.001", "switch"],
        ["", "", "", "", "10.0.0.5", "server"],
        ["", "", "", "PC", "", "workstation"],
    )
    text = "\n".join(problems)
    assert "d.csv:3:5: Địa chỉ IP: address 10.0.0.1 is already on row 2 (Router)" in text
    assert "d.csv:4:5: Địa chỉ IP: " in text
    assert "10.0.0.300" in text
    assert (
        "d.csv:4:6: Vai trò: unknown role 'camera'; roles: router, switch, firewall, server, "
        "workstation, ups, other" in text
    )
    assert "d.csv:5:5: Địa chỉ IP: '010.020.001.001' has leading zeros" in text
    assert "write 10.20.1.1 if that is the device" in text
    assert "d.csv:6:4: Tên thiết bị: missing: the device's name" in text
    assert "d.csv:7:5: Địa chỉ IP: missing: the device's address" in text
    assert len(problems) == 6


def test_a_header_alone() -> None:
    """A sheet with nothing under its header is a problem, not an empty config."""
    assert _problems() == ["d.csv:1:1: no rows under the header"]


def test_xlsx_sheet_by_name(tmp_path: Path) -> None:
    """--sheet picks a sheet by name; an unknown one is named with the sheets there are."""
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.active.title = "Ghi chú"
    sheet = book.create_sheet("Thiết bị")
    sheet.append(["Tỉnh", "Tên", "IP"])
    sheet.append([" Tỉnh A ", "Router", "10.0.0.1"])
    sheet.append([None, "Máy in", 3])  # a number where text was meant
    book.save(tmp_path / "d.xlsx")
    got = read_table(tmp_path / "d.xlsx", sheet="Thiết bị")
    assert got.rows == [
        (1, ["Tỉnh", "Tên", "IP"]),
        (2, ["Tỉnh A", "Router", "10.0.0.1"]),
        (3, ["", "Máy in", "3"]),
    ]
    with pytest.raises(ConfigError, match="no sheet 'Devices' \\(sheets: Ghi chú, Thiết bị\\)"):
        read_table(tmp_path / "d.xlsx", sheet="Devices")


def test_a_row_without_its_upper_levels() -> None:
    """The first row cannot inherit: a commune without its province is a located problem."""
    problems = _problems(["", "", "Xã B", "Router", "10.0.0.1", "router"])
    assert problems == ["d.csv:2:1: Tỉnh: no province for the commune"]


def test_a_new_province_does_not_inherit_the_district_above() -> None:
    """A blank district under a province that differs from the row above is not a merged
    cell (a merge never crosses a change to its left): it is missing."""
    problems = _problems(
        ["Tỉnh A", "Huyện 1", "Xã X", "Router", "10.0.0.1", "router"],
        ["Tỉnh B", "", "Xã Y", "Router", "10.0.1.1", "router"],
        ["tinh a", "", "Xã Z", "Router", "10.0.2.1", "router"],
    )
    assert problems == ["d.csv:3:2: Huyện: no district for the commune"]


def test_a_site_id_under_two_parents() -> None:
    """With id columns, the same commune id under two districts is refused, both rows named."""
    head = ["Tỉnh", "Huyện", "Xã", "Mã xã", "Tên", "IP"]
    problems = _problems(
        ["T", "H1", "Xã B", "31117", "Router", "10.0.0.1"],
        ["T", "H2", "Xã B", "31117", "Router", "10.0.1.1"],
        head=head,
    )
    assert problems == [
        "d.csv:3:4: Mã xã: site id '31117' is already under T/H1 (row 2): a site has one parent"
    ]


def test_secrets_are_references_and_never_echoed() -> None:
    """A community written as itself is refused without repeating it; references are kept."""
    head = [*HEAD, "SNMP", "Community"]
    problems = _problems(
        ["T", "H", "X", "Router", "10.0.0.1", "router", "2c", "s3cr3t-community"],
        head=head,
    )
    assert len(problems) == 1
    assert "env:NAME or file:PATH" in problems[0]
    assert "s3cr3t" not in problems[0]
    result = _import(
        ["T", "H", "X", "Router", "10.0.0.1", "router", "", "{env: SNMP_COMMUNITY}"],
        ["T", "H", "X", "Switch", "10.0.0.2", "switch", "2", "file:/etc/netwatch/community"],
        ["T", "H", "X", "PC", "10.0.0.3", "workstation", "no", "env:X"],
        head=head,
    )
    snmp = [d.snmp for d in result.roots[0].children[0].children[0].devices]
    assert snmp[0] == cells.SnmpCells("2c", community=("env", "SNMP_COMMUNITY"))
    assert snmp[1] == cells.SnmpCells("2c", community=("file", "/etc/netwatch/community"))
    assert snmp[2] is None


def test_map_names_the_other_columns() -> None:
    """--map reads an unknown header as a field, or ignores a column with -."""
    head = ["Tỉnh", "Xã", "Máy", "Địa chỉ IP", "Tên"]
    result = _import(["T", "X", "Router", "10.0.0.1", "rác"], head=head, maps=["Máy=name", "TÊN=-"])
    assert _tree(result)[1][3] == ["x-router"]
    with pytest.raises(ValueError, match="unknown field 'colour'"):
        _import(["T"], head=head, maps=["Máy=colour"])


def test_two_columns_for_one_field() -> None:
    """Loại and Vai trò both mean role: the header row is the problem, with the way out."""
    problems = _problems(
        ["T", "X", "R", "10.0.0.1", "router", "router"],
        head=["Tỉnh", "Xã", "Tên", "IP", "Loại", "Vai trò"],
    )
    assert problems == [
        "d.csv:1:6: Vai trò: columns 'Loại' and 'Vai trò' are both role; "
        "ignore one with --map 'Vai trò=-'"
    ]


def test_encodings_and_delimiters(tmp_path: Path) -> None:
    """Windows-1258 with ; and UTF-8 with a BOM and , read to the same cells."""
    lines = ["Tỉnh;Xã;Tên thiết bị;Địa chỉ IP", "Tỉnh Cà Mau;Phường Lái Hiếu;Router ;10.0.0.1"]
    cp = tmp_path / "cp1258.csv"
    cp.write_bytes(cp1258("\r\n".join(lines)))
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\n".join(line.replace(";", ",") for line in lines).encode("utf-8-sig"))
    a, b = read_table(cp), read_table(bom)
    assert (a.encoding, b.encoding) == ("cp1258", "utf-8")
    assert a.rows == b.rows
    assert a.rows[1][1] == ["Tỉnh Cà Mau", "Phường Lái Hiếu", "Router", "10.0.0.1"]


def test_unreadable_files_are_problems(tmp_path: Path) -> None:
    """A missing file, or a zip named .csv, is one located problem, not a traceback."""
    with pytest.raises(ConfigError, match="cannot read it"):
        read_table(tmp_path / "none.csv")
    fake = tmp_path / "d.csv"
    fake.write_bytes(b"PK\x03\x04rest")
    with pytest.raises(ConfigError, match="zip file"):
        read_table(fake)


def test_levels_must_be_label_names() -> None:
    """--levels names become metric labels: diacritics or a repeat are refused up front."""
    with pytest.raises(ValueError, match="cannot be a metric label"):
        _import(["T"], levels=("tỉnh", "xã"))
    with pytest.raises(ValueError, match="named twice"):
        _import(["T"], levels=("province", "province"))


def test_custom_levels_from_a_site_path() -> None:
    """--levels names the levels of a path of any depth; the config's hierarchy is those."""
    result = _import(
        ["Vùng 1/Tỉnh A/Xã B/Thôn C", "Router", "10.0.0.1"],
        head=["site", "name", "address"],
        levels=("region", "province", "commune", "village"),
    )
    assert result.levels == ("region", "province", "commune", "village")
    assert _tree(result)[-1] == ("thon-c", "village", "xa-b", ["thon-c-router"])
