"""netwatch import and export as an operator runs them: a real process, real files, and the
result checked by ``netwatch check-config`` itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import openpyxl

from tests.sheets import cp1258

REPO = Path(__file__).resolve().parents[2]
# The processes run in tmp_path: this checkout's netwatch, whatever the venv points at.
ENV = {**os.environ, "SNMP_COMMUNITY": "test-community", "PYTHONPATH": str(REPO)}
# A province's list as it comes from the field: a title row, merged cells saved as blanks,
# trailing spaces, a repeated row, Vietnamese headers, a column netwatch does not use.
QUIRKY = [
    "DANH SÁCH THIẾT BỊ MẠNG TỈNH CÀ MAU;;;;;;;",
    "STT;Tỉnh;Huyện;Xã/Phường;Tên thiết bị;Địa chỉ IP;Vai trò;SNMP;Community;Ghi chú",
    "1;Tỉnh Cà Mau ;;;Router lõi;10.10.0.1;router;2c;env:SNMP_COMMUNITY;",
    "2;;;;Máy chủ một cửa;10.10.0.10;Máy chủ;;;phòng máy",
    "3;;Huyện Đầm Dơi;;Router huyện;10.20.0.1;router;2c;env:SNMP_COMMUNITY;",
    "4;;;Phường Lái Hiếu;Router;10.20.1.1;Router;2c;env:SNMP_COMMUNITY;",
    "5;;;;Máy trạm 01 ;10.20.1.101;máy trạm;;;",
    "5;;;;Máy trạm 01;10.20.1.101;máy trạm;;;",
    "6;;;Xã Tân Dân;Router;10.20.2.1;router;2c;env:SNMP_COMMUNITY;",
    "7;;Huyện Cái Nước;Xã Tân Dân;Router;10.30.1.1;router;;;trùng tên xã",
]


def netwatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netwatch", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def check_config(path: Path) -> str:
    done = netwatch("check-config", "-c", str(path), cwd=path.parent)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_quirky_cp1258_sheet_becomes_a_valid_config(tmp_path: Path) -> None:
    """A Windows-1258, semicolon sheet imports (one warning for the repeated row) to a config
    that check-config accepts, with the tree the merged cells meant."""
    sheet = tmp_path / "danh-sach.csv"
    sheet.write_bytes(cp1258("\r\n".join(QUIRKY) + "\r\n"))
    done = netwatch("import", str(sheet), "-o", "netwatch.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "row 8 repeats row 7; kept once" in done.stderr
    assert "'Ghi chú'" not in done.stderr  # a known column, ignored without a word
    summary = check_config(tmp_path / "netwatch.yaml")
    assert "6 sites (1 province, 2 district, 3 commune)" in summary
    assert "7 devices" in summary
    text = (tmp_path / "netwatch.yaml").read_text(encoding="utf-8")
    assert 'name: "Phường Lái Hiếu"' in text
    assert "id: xa-tan-dan-2" in text  # the second Xã Tân Dân, in another district
    assert "community: {env: SNMP_COMMUNITY}" in text
    assert "test-community" not in text


def test_one_file_per_district(tmp_path: Path) -> None:
    """-o DIR/ writes the main file and one file per district, joined by include, valid."""
    sheet = tmp_path / "danh-sach.csv"
    sheet.write_text("\n".join(QUIRKY).replace(";", ","), encoding="utf-8-sig")
    done = netwatch("import", str(sheet), "-o", "tinh/", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in (tmp_path / "tinh").iterdir())
    assert names == ["huyen-cai-nuoc.yaml", "huyen-dam-doi.yaml", "netwatch.yaml"]
    assert "7 devices" in check_config(tmp_path / "tinh" / "netwatch.yaml")


def test_import_export_import_is_the_same_config(tmp_path: Path) -> None:
    """The exported sheet imports to the very same text, and is itself a valid import."""
    sheet = tmp_path / "danh-sach.csv"
    sheet.write_bytes(cp1258("\r\n".join(QUIRKY)))
    assert netwatch("import", str(sheet), "-o", "one.yaml", cwd=tmp_path).returncode == 0
    exported = netwatch(
        "export", "-c", "one.yaml", "--format", "csv", "-o", "out.csv", cwd=tmp_path
    )
    assert exported.returncode == 0, exported.stderr
    head = (tmp_path / "out.csv").read_bytes().splitlines()[0]
    assert head.startswith(b"\xef\xbb\xbfprovince,province_id,district,district_id")
    again = netwatch("import", "out.csv", "-o", "two.yaml", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "two.yaml").read_text() == (tmp_path / "one.yaml").read_text()


def test_bad_rows_exit_2_with_every_row_named(tmp_path: Path) -> None:
    """All bad rows at once, one line each with the row number, exit 2, no traceback, and the
    secret written in a cell by mistake is not repeated."""
    sheet = tmp_path / "xau.csv"
    sheet.write_text(
        "Tỉnh,Xã,Tên,IP,Vai trò,Community\n"
        "T,X,Router,10.0.0.1,router,\n"
        ",,Router 2,10.0.0.1,router,\n"
        ",,Camera,10.0.0.7,camera,\n"
        ",,Switch,010.000.000.008,switch,\n"
        ",,Server,10.0.0.9,server,MatKhau-Bi-Mat\n",
        encoding="utf-8",
    )
    done = netwatch("import", str(sheet), cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines[-1] == "4 problems found"
    assert [line.split(":")[1] for line in lines[:-1]] == ["3", "4", "5", "6"]
    assert "Traceback" not in done.stderr
    assert "MatKhau" not in done.stderr
    assert done.stdout == ""


def test_xlsx_with_merged_cells(tmp_path: Path) -> None:
    """An XLSX whose province and district cells are merged down imports like its CSV."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["Tỉnh", "Huyện", "Xã/Phường", "Tên thiết bị", "Địa chỉ IP", "Vai trò"])
    ws.append(["Tỉnh Cà Mau", "Huyện Đầm Dơi", "Phường Lái Hiếu", "Router", "10.20.1.1", "router"])
    ws.append([None, None, None, "Máy trạm", "10.20.1.101", "máy trạm"])
    ws.append([None, None, "Xã Tân Dân", "Router", "10.20.2.1", "router"])
    ws.merge_cells("A2:A4")
    ws.merge_cells("B2:B4")
    ws.merge_cells("C2:C3")
    book.save(tmp_path / "danh-sach.xlsx")
    done = netwatch("import", "danh-sach.xlsx", "-o", "netwatch.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = check_config(tmp_path / "netwatch.yaml")
    assert "4 sites (1 province, 1 district, 2 commune); 3 devices" in summary


def test_xlsx_without_openpyxl_says_what_to_install(tmp_path: Path) -> None:
    """Where openpyxl is missing, importing an XLSX names the extra to install (exit 1)."""
    blocker = tmp_path / "block" / "openpyxl"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('openpyxl is not installed')\n")
    (tmp_path / "d.xlsx").write_bytes(b"PK\x03\x04")
    done = subprocess.run(
        [sys.executable, "-m", "netwatch", "import", "d.xlsx"],
        cwd=tmp_path,
        env={**ENV, "PYTHONPATH": f"{blocker.parent}{os.pathsep}{REPO}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "pip install netwatch[xlsx]" in done.stderr
