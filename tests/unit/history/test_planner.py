"""Reports a planner can trust: each application's availability, the share of time known shown
beside the availability, and Vietnamese level names."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import datetime
from pathlib import Path

import pytest

from netwatch.history import HistoryStore, build_report, render
from netwatch.models import Device, HttpSpec, ServiceCheck, Site, Status, service_subject

from .factory import TZ, Clock, province, tr, ts

OCT = (datetime(2026, 10, 1, tzinfo=TZ), datetime(2026, 11, 1, tzinfo=TZ))
PORTAL = service_subject("core", "cổng dịch vụ công")


def with_portal() -> tuple[dict[str, Site], dict[str, Device]]:
    sites, devices = province()
    portal = ServiceCheck("cổng dịch vụ công", HttpSpec("https://dichvucong.example.gov.vn/"))
    devices["core"] = dataclasses.replace(devices["core"], services=(portal,))
    return sites, devices


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """October: the core server is up all month, its portal refused for a day; Nhơn Ái was
    known only for the last 3 days of the month (the agent watched it from 29 Oct)."""
    path = tmp_path / "h.sqlite"
    store = HistoryStore.open(path, clock=Clock(ts(2026, 11, 5)))
    store.agent_started(ts(2026, 9, 30))
    t0 = ts(2026, 9, 30)
    store.record([tr("can-tho", Status.UP, t0), tr("core", Status.UP, t0, "device")])
    store.record(
        [
            tr(PORTAL, Status.UP, t0, "service"),
            tr(PORTAL, Status.DOWN, ts(2026, 10, 10), "service"),
            tr(PORTAL, Status.UP, ts(2026, 10, 11), "service"),
            tr("nhon-ai", Status.UP, ts(2026, 10, 29)),
        ]
    )
    store.close()
    return path


def test_the_portal_has_its_own_availability_while_its_server_was_up(history: Path) -> None:
    """--by service: one row per application from its own history; the server's 100 % does
    not hide the portal's lost day."""
    sites, devices = with_portal()
    report = build_report(history, sites, devices, start=OCT[0], end=OCT[1], by="service")
    assert [r.id for r in report.rows] == [PORTAL]
    row = report.to_json()["rows"][0]
    assert row["service"] == "cổng dịch vụ công"
    assert row["device"] == "core"
    assert row["site"] == "can-tho"
    assert row["downtime_own_seconds"] == 86400
    assert row["availability"] == pytest.approx(30 / 31)
    assert row["coverage"] == 1.0
    table = render(report, "table", "vi").decode()
    assert "cổng dịch vụ công" in table
    assert "96.77" in table
    server = build_report(history, sites, devices, start=OCT[0], end=OCT[1], by="device")
    core = next(r for r in server.rows if r.id == "core")
    assert core.stats.availability == 1.0


def test_a_period_mostly_unknown_shows_its_coverage_in_every_format(history: Path) -> None:
    """Nhơn Ái was up the 3 days it was watched: 100 % availability over 9.7 % of October;
    every format says how much was known."""
    sites, devices = with_portal()
    report = build_report(history, sites, devices, start=OCT[0], end=OCT[1], by="site")
    row = next(r for r in report.rows if r.id == "nhon-ai")
    assert row.stats.availability == 1.0
    assert row.stats.coverage == pytest.approx(3 / 31)

    doc = json.loads(render(report, "json"))
    assert next(r for r in doc["rows"] if r["site"] == "nhon-ai")["coverage"] == pytest.approx(
        3 / 31
    )
    rows = list(csv.reader(io.StringIO(render(report, "csv", "vi").decode("utf-8-sig"))))
    col = rows[0].index("Đã theo dõi (%)")
    assert next(r for r in rows if r[0] == "nhon-ai")[col] == "9.677"
    assert rows[0][rows[0].index("Đã theo dõi (%)") - 1] == "Khả dụng (%)"
    table = render(report, "table", "vi").decode()
    line = next(x for x in table.splitlines() if x.startswith("Xã Nhơn Ái"))
    assert "100.00" in line
    assert "9.7" in line
    page = render(report, "html", "vi").decode()
    assert "100.00 (đã theo dõi 9.7 %)" in page


def test_levels_read_as_tinh_huyen_xa_phuong_in_reports(history: Path) -> None:
    """The level column says Tỉnh, Huyện, Xã or Phường (by the commune's name), never the
    config's English keys."""
    sites, devices = with_portal()
    report = build_report(history, sites, devices, start=OCT[0], end=OCT[1], by="site")
    rows = list(csv.reader(io.StringIO(render(report, "csv", "vi").decode("utf-8-sig"))))
    level = {r[0]: r[2] for r in rows[1:]}
    assert level == {
        "can-tho": "Tỉnh",
        "ninh-kieu": "Huyện",
        "phong-dien": "Huyện",
        "an-binh": "Phường",
        "cai-khe": "Phường",
        "nhon-ai": "Xã",
    }
    page = render(report, "html", "vi").decode()
    assert "commune" not in page
    assert "Mất kết nối (tuyến trên)" not in page  # one word per state: the status page's
    assert "Không truy cập được" in page


def test_a_service_down_behind_a_cut_line_or_in_maintenance_counts_as_such(
    tmp_path: Path,
) -> None:
    """The portal fails for 6 h: 2 h of it its server was cut off upstream, 1 h in planned
    maintenance; the service's report says 3 h own, 2 h upstream, 1 h maintenance."""
    path = tmp_path / "h.sqlite"
    store = HistoryStore.open(path, clock=Clock(ts(2026, 11, 5)))
    store.agent_started(ts(2026, 9, 30))
    t0 = ts(2026, 9, 30)
    store.record(
        [
            tr("core", Status.UP, t0, "device"),
            tr("core", Status.UNREACHABLE, ts(2026, 10, 10, 2), "device", cause="x"),
            tr("core", Status.MAINTENANCE, ts(2026, 10, 10, 4), "device"),
            tr("core", Status.UP, ts(2026, 10, 10, 5), "device"),
            tr(PORTAL, Status.UP, t0, "service"),
            tr(PORTAL, Status.DOWN, ts(2026, 10, 10, 0), "service"),
            tr(PORTAL, Status.UP, ts(2026, 10, 10, 6), "service"),
        ]
    )
    store.close()
    sites, devices = with_portal()
    report = build_report(path, sites, devices, start=OCT[0], end=OCT[1], by="service")
    row = report.to_json()["rows"][0]
    assert row["downtime_own_seconds"] == 3 * 3600
    assert row["downtime_upstream_seconds"] == 2 * 3600
    assert row["maintenance_seconds"] == 3600
    assert row["outages"] == 2  # 00-04 (own then upstream: one outage), 05-06
