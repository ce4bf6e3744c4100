"""A spreadsheet file read into rows of text cells, whatever program saved it.

CSV: UTF-8 (with or without the BOM Excel writes) is tried first, then Windows-1258, the code
page of Vietnamese Windows; the delimiter (``,`` ``;`` tab) is sniffed. XLSX is read with
openpyxl (the ``xlsx`` extra), first sheet unless one is named; cells of merged ranges other than
the first come back blank, which the rows step fills from the row above. Numbers become text
without a trailing ``.0``. Every cell is stripped of surrounding spaces.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
>>> _ = path.write_bytes("Tên;Địa chỉ IP\\nRouter ;10.0.0.1\\n".encode("utf-8-sig"))
>>> table = read_table(path)
>>> table.encoding, table.rows
('utf-8', [(1, ['Tên', 'Địa chỉ IP']), (2, ['Router', '10.0.0.1'])])
"""

from __future__ import annotations

import csv
import io
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from netwatch.errors import ConfigError, NetwatchError, Problem

XLSX_SUFFIXES = (".xlsx", ".xlsm")
ENCODINGS = ("utf-8-sig", "cp1258")
_SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Table:
    """Rows of one sheet: (row number as the spreadsheet shows it, cells)."""

    file: str
    rows: list[tuple[int, list[str]]]
    encoding: str = ""  # the CSV's encoding; "" for XLSX


def read_table(path: str | os.PathLike[str], *, sheet: str | None = None) -> Table:
    """Reads a CSV or XLSX file. Raises ``ConfigError`` if it cannot be read at all,
    ``NetwatchError`` if XLSX support is not installed."""
    file = os.fspath(path)
    if file.lower().endswith(XLSX_SUFFIXES):
        return _read_xlsx(file, sheet)
    if sheet is not None:
        raise _unreadable(file, "--sheet is only for XLSX files")
    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        raise _unreadable(file, f"cannot read it: {exc.strerror or exc}") from exc
    if data.startswith(b"PK\x03\x04"):
        raise _unreadable(file, "this is a zip file (an XLSX?); name it with .xlsx")
    text, encoding = _decode(file, data)
    return Table(file, _read_csv(text), encoding)


def _decode(file: str, data: bytes) -> tuple[str, str]:
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding.removesuffix("-sig")
        except UnicodeDecodeError:
            continue
    # cp1258 leaves only a few bytes undefined, so this is rare: a binary file.
    raise _unreadable(file, "neither UTF-8 nor Windows-1258 text; save it as CSV UTF-8")


def _read_csv(text: str) -> list[tuple[int, list[str]]]:
    sample = text[:_SNIFF_BYTES]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ""
    if not delimiter:
        # Too few rows to tell (or one column): the commonest of the three.
        delimiter = max(",;\t", key=sample.count)
    rows = []
    # The record's number, as a spreadsheet numbers it (a cell with a line break stays one row).
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    for number, cells in enumerate(reader, 1):
        rows.append((number, [_clean(cell) for cell in cells]))
    return rows


def _read_xlsx(file: str, sheet: str | None) -> Table:
    try:
        import openpyxl
    except ImportError as exc:
        raise NetwatchError(
            f"{file}: reading XLSX needs openpyxl: pip install netwatch[xlsx] "
            "(or save the sheet as CSV UTF-8)"
        ) from exc
    try:
        book = openpyxl.load_workbook(file, read_only=True, data_only=True)
    except OSError as exc:
        raise _unreadable(file, f"cannot read it: {exc.strerror or exc}") from exc
    except Exception as exc:  # openpyxl raises zipfile, KeyError, ValueError... for a bad file
        raise _unreadable(file, f"not a readable XLSX file ({type(exc).__name__})") from exc
    try:
        if sheet is not None and sheet not in book.sheetnames:
            names = ", ".join(book.sheetnames)
            raise _unreadable(file, f"no sheet {sheet!r} (sheets: {names})")
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        rows = [
            (number, [_cell_text(value) for value in values])
            for number, values in enumerate(ws.iter_rows(values_only=True), 1)
        ]
    finally:
        book.close()
    return Table(file, rows)


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _clean(str(value))


def _clean(cell: str) -> str:
    # Windows-1258 writes most Vietnamese letters as a base letter and a combining tone mark:
    # composed again, "Hiếu" from cp1258 and from UTF-8 make the same id and compare equal.
    return unicodedata.normalize("NFC", cell).strip()


def _unreadable(file: str, message: str) -> ConfigError:
    return ConfigError([Problem(file, 1, 1, "", message)])
