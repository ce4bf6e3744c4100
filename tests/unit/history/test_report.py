"""Reports: rows by site, level and device, worst first, local-time periods, workstation share."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import datetime
from pathlib import Path

import pytest

from netwatch.history import (
    HistoryStore,
    build_report,
    month_period,
    parse_date,
    render,
    report_period,
    site_availability,
)
from netwatch.history.report import Report
from netwatch.i18n import level_text
from netwatch.models import Status

from .factory import TZ, Clock, province, tr, ts

UP, DOWN, UNR, MAINT = Status.UP, Status.DOWN, Status.UNREACHABLE, Status.MAINTENANCE
OCT = (datetime(2026, 10, 1, tzinfo=TZ), datetime(2026, 11, 1, tzinfo=TZ))
MONTH = 31 * 86400


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """October 2026 with the agent up all month, an outage in An Bình crossing into November."""
    path = tmp_path / "h.sqlite"
    store = HistoryStore.open(path, clock=Clock(ts(2026, 11, 5)))
    store.agent_started(ts(2026, 9, 30))
    t0 = ts(2026, 9, 30)
    store.record(
        tr(s, UP, t0) for s in ("can-tho", "ninh-kieu", "cai-khe", "phong-dien", "nhon-ai")
    )
    store.record(tr(d, UP, t0, "device") for d in ("ab-rtr", "ab-pc1", "ab-pc2"))
    store.record(
        [
            tr("an-binh", UP, t0),
            # own failure 10 h, then upstream 2 h (one outage), then back
            tr("an-binh", DOWN, ts(2026, 10, 5, 8)),
            tr("an-binh", UNR, ts(2026, 10, 5, 18), cause="nk-rtr"),
            tr("an-binh", UP, ts(2026, 10, 5, 20)),
            # planned maintenance 4 h
            tr("an-binh", MAINT, ts(2026, 10, 12, 8)),
            tr("an-binh", UP, ts(2026, 10, 12, 12)),
            # down at 22:00 on 31 Oct local, back 03:00 on 1 Nov: 2 h in October
            tr("an-binh", DOWN, ts(2026, 10, 31, 22)),
            tr("an-binh", UP, ts(2026, 11, 1, 3)),
            tr("ninh-kieu", DOWN, ts(2026, 10, 5, 18)),
            tr("ninh-kieu", UP, ts(2026, 10, 5, 20)),
            # one workstation broken for 3 days
            tr("ab-pc2", DOWN, ts(2026, 10, 10), "device"),
            tr("ab-pc2", UP, ts(2026, 10, 13), "device"),
        ]
    )
    store.close()
    return path


def by_id(report: Report) -> dict[str, dict[str, object]]:
    return {str(r["device"] if "device" in r else r["site"]): r for r in report.to_json()["rows"]}


def test_site_rows_exact(history: Path) -> None:
    """An Bình's October: exact own/upstream/maintenance seconds, clipped at local month end."""
    sites, devices = province()
    report = build_report(history, sites, devices, start=OCT[0], end=OCT[1], by="site")
    ab = by_id(report)["an-binh"]
    assert ab["downtime_own_seconds"] == 12 * 3600
    assert ab["downtime_upstream_seconds"] == 2 * 3600
    assert ab["downtime_seconds"] == 14 * 3600
    assert ab["maintenance_seconds"] == 4 * 3600
    assert ab["unknown_seconds"] == 0
    assert ab["outages"] == 2
    assert ab["mttr_seconds"] == 7 * 3600
    assert ab["longest_outage_seconds"] == 12 * 3600
    assert ab["availability"] == (MONTH - 18 * 3600) / MONTH
    assert ab["availability_excluding_maintenance"] == (MONTH - 18 * 3600) / (MONTH - 4 * 3600)
    assert ab["workstations_working"] == (2 * MONTH - 3 * 86400) / (2 * MONTH)
    assert ab["name"] == "Phường An Bình"


def test_worst_first(history: Path) -> None:
    """Rows are sorted by availability, lowest first."""
    sites, devices = province()
    report = build_report(history, sites, devices, start=OCT[0], end=OCT[1], by="site")
    ids = [r.id for r in report.rows]
    assert ids[:2] == ["an-binh", "ninh-kieu"]
    avail = [r.stats.availability for r in report.rows]
    assert avail == sorted(avail, key=lambda a: a if a is not None else 2.0)


def test_november_gets_the_rest_of_the_outage(history: Path) -> None:
    """The outage crossing the month edge counts 3 h in November (local time)."""
    sites, devices = province()
    start, end = month_period("2026-11", TZ)
    ab = by_id(build_report(history, sites, devices, start=start, end=end, by="site"))["an-binh"]
    assert (ab["downtime_own_seconds"], ab["outages"]) == (3 * 3600, 1)
    # the agent's last heartbeat (clock) is 5 Nov: the rest of November is unknown
    assert ab["unknown_seconds"] == end.timestamp() - ts(2026, 11, 5)


def test_this_months_report_ends_now_so_the_days_to_come_are_not_unknown(history: Path) -> None:
    sites, devices = province()
    start, end = month_period("2026-11", TZ)
    now = ts(2026, 11, 5)
    report = build_report(history, sites, devices, start=start, end=end, by="site", now=now)
    assert report.end.timestamp() == now
    assert report.to_json()["to"] == "2026-11-05T00:00:00+07:00"
    ab = by_id(report)["an-binh"]
    assert (ab["downtime_own_seconds"], ab["unknown_seconds"]) == (3 * 3600, 0)
    # A period over before now, or not begun, is left as asked.
    for start, end in (OCT, month_period("2026-12", TZ)):
        assert build_report(history, sites, devices, start=start, end=end, now=now).end == end


def test_by_level_aggregates_the_subtree(history: Path) -> None:
    """A district row sums its own and its communes' site-seconds."""
    sites, devices = province()
    report = build_report(history, sites, devices, start=OCT[0], end=OCT[1], by="district")
    rows = by_id(report)
    assert set(rows) == {"ninh-kieu", "phong-dien"}
    nk = rows["ninh-kieu"]
    assert nk["sites"] == 3
    assert nk["downtime_seconds"] == 16 * 3600
    assert nk["outages"] == 3
    assert nk["availability"] == (3 * MONTH - 20 * 3600) / (3 * MONTH)
    assert rows["phong-dien"]["availability"] == 1.0
    only_communes = by_id(
        build_report(
            history, sites, devices, start=OCT[0], end=OCT[1], by="district", level="commune"
        )
    )
    assert only_communes["ninh-kieu"]["sites"] == 2
    assert only_communes["ninh-kieu"]["downtime_seconds"] == 14 * 3600


def test_level_filter_and_devices(history: Path) -> None:
    """--level keeps sites (or devices of sites) of that level; device rows name their site."""
    sites, devices = province()
    rows = by_id(
        build_report(history, sites, devices, start=OCT[0], end=OCT[1], by="site", level="district")
    )
    assert set(rows) == {"ninh-kieu", "phong-dien"}
    devs = build_report(
        history, sites, devices, start=OCT[0], end=OCT[1], by="device", level="commune"
    )
    assert {r.id for r in devs.rows} == {"ab-rtr", "ab-pc1", "ab-pc2", "ck-rtr", "na-rtr"}
    pc2 = by_id(devs)["ab-pc2"]
    assert (pc2["downtime_own_seconds"], pc2["site"]) == (3 * 86400, "an-binh")
    # never recorded: unknown all month, no availability, sorted last
    assert by_id(devs)["ck-rtr"]["availability"] is None
    assert devs.rows[-1].stats.availability is None


def test_renamed_and_moved_site_keeps_its_history(history: Path) -> None:
    """History is keyed by id: a new name and a new parent change nothing but the label."""
    sites, devices = province()
    sites["an-binh"] = dataclasses.replace(
        sites["an-binh"], name="Phường An Bình (sáp nhập)", parent="phong-dien"
    )
    report = build_report(history, sites, devices, start=OCT[0], end=OCT[1], by="district")
    rows = by_id(report)
    assert rows["phong-dien"]["downtime_seconds"] == 14 * 3600
    site_rows = by_id(build_report(history, sites, devices, start=OCT[0], end=OCT[1], by="site"))
    assert site_rows["an-binh"]["name"] == "Phường An Bình (sáp nhập)"
    assert site_rows["an-binh"]["outages"] == 2


def test_bad_arguments() -> None:
    """Unknown --by or --level and inverted periods are refused with the valid choices."""
    sites, devices = province()
    with pytest.raises(ValueError, match="district"):
        build_report(":memory:", sites, devices, start=OCT[0], end=OCT[1], by="ward")
    with pytest.raises(ValueError, match="after"):
        report_period("2026-10-02", "2026-10-01", None, TZ)
    with pytest.raises(ValueError, match="not both"):
        report_period("2026-10-01", None, "2026-10", TZ)
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_period("2026-13", TZ)


def test_periods_are_local_days() -> None:
    """Dates are local midnights in the agent's zone; --to is exclusive; December rolls over."""
    assert parse_date("2026-10-01", TZ).timestamp() == ts(2026, 10, 1)
    assert report_period("2026-10-01", "2026-11-01", None, TZ) == OCT
    assert month_period("2026-12", TZ)[1] == datetime(2027, 1, 1, tzinfo=TZ)
    assert report_period(None, None, "2026-10", TZ) == OCT


def test_gauge_values(history: Path) -> None:
    """site_availability gives each site's own availability over the window."""
    sites, _ = province()
    got = site_availability(history, sites, window_seconds=MONTH, now=OCT[1].timestamp())
    assert got["an-binh"] == (MONTH - 18 * 3600) / MONTH
    assert got["phong-dien"] == 1.0


def test_csv_reads_back_with_diacritics(history: Path) -> None:
    """CSV has a BOM, and Python's csv module reads the Vietnamese names back intact."""
    sites, devices = province()
    report = build_report(history, sites, devices, start=OCT[0], end=OCT[1], by="site")
    data = render(report, "csv", "vi")
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert table[0][:3] == ["Mã", "Tên", "Cấp"]
    names = {row[0]: row[1] for row in table[1:]}
    assert names["an-binh"] == "Phường An Bình"
    assert names["can-tho"] == "TP Cần Thơ — Trung tâm dữ liệu"
    assert len(table) == 1 + len(sites)
    ab = next(row for row in table if row[0] == "an-binh")
    assert ab[2] == "Phường"  # a commune-level site named "Phường …"
    assert table[0][4] == "Đã theo dõi (%)"
    assert ab[6] == str(14 * 3600)


def test_json_shape(history: Path) -> None:
    """JSON is {"from", "to", "by", "rows"} with the documented row keys, UTF-8 unescaped."""
    sites, devices = province()
    report = build_report(history, sites, devices, start=OCT[0], end=OCT[1], by="site")
    doc = json.loads(render(report, "json"))
    assert {"from", "to", "by", "rows"} <= set(doc)
    assert doc["from"] == "2026-10-01T00:00:00+07:00"
    keys = {
        "site", "name", "level", "availability", "availability_excluding_maintenance",
        "downtime_seconds", "downtime_own_seconds", "downtime_upstream_seconds",
        "maintenance_seconds", "unknown_seconds", "outages", "mttr_seconds",
        "longest_outage_seconds",
    }  # fmt: skip
    assert keys <= set(doc["rows"][0])
    assert "Phường An Bình".encode() in render(report, "json")


def test_html_is_self_contained_and_escaped(history: Path) -> None:
    """HTML has inline CSS and SVG, no external resources, and escapes every name."""
    sites, devices = province()
    sites["cai-khe"] = dataclasses.replace(
        sites["cai-khe"], name='Cái Khế <script>alert("x")</script>'
    )
    report = build_report(history, sites, devices, start=OCT[0], end=OCT[1], by="site")
    page = render(report, "html").decode()
    assert "<script" not in page
    assert "&lt;script&gt;" in page
    assert page.count("<svg") == 2
    assert "@media print" in page
    for needle in ("src=", "href=", "@import", "url("):
        assert needle not in page
    assert "Phường An Bình" in page


def test_table_is_aligned(history: Path) -> None:
    """Every row of the terminal table has the same display width up to its last column."""
    sites, devices = province()
    report = build_report(history, sites, devices, start=OCT[0], end=OCT[1], by="site")
    lines = render(report, "table", "en").decode().splitlines()[2:]
    assert lines[0].startswith("Name")
    col = lines[0].index("Level")
    for row, line in zip(report.rows, lines[2:], strict=True):
        assert line[col:].startswith(level_text(row.level, "en", row.name)), line
        assert line[col - 2 : col] == "  "
    avail_end = lines[0].index("Availability %") + len("Availability %")
    assert all(line[avail_end - 1] != " " for line in lines[2:])


def test_unknown_format_is_refused() -> None:
    """An unknown format name fails with the list of formats."""
    with pytest.raises(ValueError, match="table, csv, json, html"):
        render(Report(OCT[0], OCT[1], "site", None, "UTC"), "pdf")


def test_the_hours_lost_to_power_are_the_downtime_while_the_ups_was_on_battery(
    tmp_path: Path,
) -> None:
    """An Bình on battery 06:00-12:00 on 5 Oct; its gateway down 08:00-18:00 and then cut off
    upstream until 20:00: 4 h of its 12 h downtime were lost to power, in every format; a site
    without a UPS has 0, a service none."""
    path = tmp_path / "h.sqlite"
    store = HistoryStore.open(path, clock=Clock(ts(2026, 11, 5)))
    store.agent_started(ts(2026, 9, 30))
    t0 = ts(2026, 9, 30)
    store.record(tr(s, UP, t0) for s in ("can-tho", "ninh-kieu", "an-binh", "cai-khe"))
    store.record(tr(d, UP, t0, "device") for d in ("ab-rtr", "ab-pc1"))
    store.record(
        [
            tr("an-binh", UP, t0, "power"),
            tr("an-binh", DOWN, ts(2026, 10, 5, 6), "power"),
            tr("an-binh", UP, ts(2026, 10, 5, 12), "power"),
            tr("an-binh", DOWN, ts(2026, 10, 5, 8)),
            tr("an-binh", UNR, ts(2026, 10, 5, 18), cause="nk-rtr"),
            tr("an-binh", UP, ts(2026, 10, 5, 20)),
            tr("ab-rtr", DOWN, ts(2026, 10, 5, 8), "device"),
            tr("ab-rtr", UP, ts(2026, 10, 5, 10), "device"),
            # on battery again later, with nothing down: no hours lost
            tr("an-binh", DOWN, ts(2026, 10, 20), "power"),
            tr("an-binh", UP, ts(2026, 10, 21), "power"),
        ]
    )
    store.close()
    sites, devices = province()
    report = build_report(path, sites, devices, start=OCT[0], end=OCT[1], by="site")
    rows = by_id(report)
    assert rows["an-binh"]["downtime_seconds"] == 12 * 3600  # unchanged by the split
    assert rows["an-binh"]["downtime_power_seconds"] == 4 * 3600
    assert rows["cai-khe"]["downtime_power_seconds"] == 0.0
    districts = build_report(path, sites, devices, start=OCT[0], end=OCT[1], by="district")
    assert by_id(districts)["ninh-kieu"]["downtime_power_seconds"] == 4 * 3600
    by_device = by_id(build_report(path, sites, devices, start=OCT[0], end=OCT[1], by="device"))
    assert by_device["ab-rtr"]["downtime_power_seconds"] == 2 * 3600
    assert by_device["ab-pc1"]["downtime_power_seconds"] == 0.0

    table = list(csv.reader(io.StringIO(render(report, "csv", "vi").decode("utf-8-sig"))))
    col = table[0].index("Mất điện (giây)")
    assert table[0][col - 1] == "Bảo trì (giây)"
    assert next(r for r in table if r[0] == "an-binh")[col] == str(4 * 3600)
    assert "Power cut (seconds)" in render(report, "csv", "en").decode("utf-8-sig")
    line = next(x for x in render(report, "table", "vi").decode().splitlines() if "An Bình" in x)
    assert "04:00:00" in line
    assert "Mất điện" in render(report, "table", "vi").decode()
    page = render(report, "html", "vi").decode()
    assert "<th>Mất điện</th>" in page or "Mất điện</th>" in page
    assert json.loads(render(report, "json"))["rows"][0].keys() >= {"downtime_power_seconds"}
