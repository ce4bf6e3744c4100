"""A merged commune (``formerly:``) reports with the history of the units it was made from."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import pytest

from netwatch.history import HistoryStore, build_report, render, site_availability
from netwatch.models import Site, Status

from .factory import TZ, Clock, tr, ts

UP, DOWN = Status.UP, Status.DOWN
DAY = 86400.0
OCT = (datetime(2026, 10, 1, tzinfo=TZ), datetime(2026, 11, 1, tzinfo=TZ))
NOV = (datetime(2026, 11, 1, tzinfo=TZ), datetime(2026, 12, 1, tzinfo=TZ))


def two_tier() -> dict[str, Site]:
    """Cà Mau after the reform: two levels; Lái Hiếu made from phuong-1 and phuong-2."""
    return {
        "ca-mau": Site("ca-mau", "Tỉnh Cà Mau", "province", None, (), None, (), ("lai-hieu",)),
        "lai-hieu": Site(
            "lai-hieu",
            "Phường Lái Hiếu",
            "commune",
            "ca-mau",
            (),
            None,
            (),
            (),
            formerly=("phuong-1", "phuong-2"),
            merged_at=ts(2026, 10, 16),
        ),
    }


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """Before 16 October: phuong-1 down one day, phuong-2 up; nothing closes their records
    when they leave the config. From 16 October: lai-hieu, down twelve hours on the 20th."""
    path = tmp_path / "h.sqlite"
    store = HistoryStore.open(path, clock=Clock(ts(2026, 11, 20)))
    store.agent_started(ts(2026, 9, 30))
    store.record(
        [
            tr("phuong-1", UP, ts(2026, 9, 30)),
            tr("phuong-2", UP, ts(2026, 9, 30)),
            tr("phuong-1", DOWN, ts(2026, 10, 5)),
            tr("phuong-1", UP, ts(2026, 10, 6)),
            tr("lai-hieu", UP, ts(2026, 10, 16)),
            tr("lai-hieu", DOWN, ts(2026, 10, 20)),
            tr("lai-hieu", UP, ts(2026, 10, 20, 12)),
        ]
    )
    store.close()
    return path


def test_a_month_across_the_merge_counts_the_former_units_until_it(history: Path) -> None:
    """October: 15 days of each former unit (site-days) plus lai-hieu's 16 days; the units'
    time after the merge, which no record closes, does not count."""
    report = build_report(history, two_tier(), {}, start=OCT[0], end=OCT[1], by="site")
    row = {r.id: r for r in report.rows}["lai-hieu"]
    assert row.formerly == ("phuong-1", "phuong-2")
    assert row.merged_at == ts(2026, 10, 16)
    assert row.stats.down == DAY + DAY / 2
    assert row.stats.up == (15 + 14) * DAY + 15.5 * DAY
    assert row.stats.outages == 2
    body = row.to_json()
    assert body["formerly"] == ["phuong-1", "phuong-2"]


def test_an_earlier_merge_instant(history: Path) -> None:
    """Merged on the 6th: the units count until then, the site after (unknown until its first
    record on the 16th)."""
    sites = two_tier()
    sites["lai-hieu"] = dataclasses.replace(sites["lai-hieu"], merged_at=ts(2026, 10, 6))
    report = build_report(history, sites, {}, start=OCT[0], end=OCT[1], by="site")
    row = {r.id: r for r in report.rows}["lai-hieu"]
    assert row.merged_at == ts(2026, 10, 6)
    assert row.stats.down == DAY + DAY / 2  # phuong-1's day is before the 6th
    assert row.stats.up == 4 * DAY + 5 * DAY + 15.5 * DAY  # phuong-1, phuong-2, lai-hieu


def test_by_province_includes_the_former_units(history: Path) -> None:
    """A level row aggregates the merged commune with its former units."""
    report = build_report(history, two_tier(), {}, start=OCT[0], end=OCT[1], by="province")
    (row,) = report.rows
    assert row.stats.down == DAY + DAY / 2
    assert row.formerly == ("phuong-1", "phuong-2")


def test_a_month_after_the_merge_is_the_merged_site_alone(history: Path) -> None:
    """November has nothing from the former units and no note."""
    report = build_report(history, two_tier(), {}, start=NOV[0], end=NOV[1], by="site")
    row = {r.id: r for r in report.rows}["lai-hieu"]
    assert row.formerly == ()
    assert row.merged_at is None
    assert row.stats.down == 0
    assert "sáp nhập" not in render(report, "table", "vi").decode()


def test_the_report_says_it_spans_the_merge(history: Path) -> None:
    """Table, HTML and CSV name the former units and the merge time."""
    report = build_report(history, two_tier(), {}, start=OCT[0], end=OCT[1], by="site")
    table = render(report, "table", "vi").decode()
    assert (
        "Phường Lái Hiếu: tính cả lịch sử của phuong-1, phuong-2, "
        "đã sáp nhập vào lúc 2026-10-16 00:00" in table
    )
    html = render(report, "html", "en").decode()
    assert "includes the history of phuong-1, phuong-2, merged into it at 2026-10-16" in html
    csv_text = render(report, "csv", "en").decode("utf-8-sig")
    assert csv_text.splitlines()[0].endswith("Includes former units")
    assert "phuong-1 phuong-2" in csv_text


def test_thirty_day_availability_includes_the_former_units(history: Path) -> None:
    """The gauge over the month before 1 November: (44.5 up) / (46 known) site-days."""
    got = site_availability(history, two_tier(), window_seconds=31 * DAY, now=OCT[1].timestamp())
    assert got["lai-hieu"] == pytest.approx(44.5 / 46)


def test_a_site_that_kept_a_units_id(history: Path) -> None:
    """phuong-1 absorbed phuong-2 and kept its id: both before the merge, phuong-1 after."""
    sites = {
        "phuong-1": Site(
            "phuong-1",
            "Phường 1",
            "commune",
            None,
            (),
            None,
            (),
            (),
            formerly=("phuong-1", "phuong-2"),
            merged_at=ts(2026, 10, 16),
        )
    }
    report = build_report(history, sites, {}, start=OCT[0], end=OCT[1], by="site")
    (row,) = report.rows
    assert row.stats.down == DAY
    assert row.stats.up == (14 + 15 + 16) * DAY
