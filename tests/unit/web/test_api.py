"""The JSON API on the real app over a real backend: what it returns and what it refuses."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from netwatch.web.api.request import depth as nesting
from tests.unit.web.backend import TOKEN, Province, build
from tests.unit.web.conftest import AUTH, make_app

Client = TestClient[web.Request, web.Application]


async def get(client: Client, path: str, status: int = 200) -> Any:
    resp = await client.get(path)
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    return await resp.json()


async def test_sites_are_a_tree_worst_first_with_subtree_counts(client: Client) -> None:
    data = await get(client, "/api/v1/sites")
    (root,) = data["sites"]
    assert root["id"] == "can-tho"
    assert root["status"] == "up"
    assert root["counts"] == {"up": 2, "down": 1, "unreachable": 2, "maintenance": 0, "unknown": 0}
    assert [c["id"] for c in root["children"]] == ["ninh-kieu", "xss"]
    district = root["children"][0]
    assert district["status"] == "down"
    assert district["counts"]["down"] == 1
    assert district["counts"]["unreachable"] == 2
    assert district["children"][0]["status"] == "unreachable"
    assert district["children"][0]["devices"] == 2


async def test_devices_filter_by_subtree_status_and_text(client: Client) -> None:
    data = await get(client, "/api/v1/devices?site=ninh-kieu")
    assert [d["id"] for d in data["devices"]] == ["nk-rtr", "ab-pc-01", "ab-rtr"]
    assert data["total"] == 3
    data = await get(client, "/api/v1/devices?status=unreachable")
    assert {d["id"] for d in data["devices"]} == {"ab-rtr", "ab-pc-01"}
    assert all(d["cause"] == "nk-rtr" for d in data["devices"])
    data = await get(client, "/api/v1/devices?q=127.0.30")
    assert [d["id"] for d in data["devices"]] == ["xss-rtr"]
    data = await get(client, "/api/v1/devices?q=BOLD")
    assert [d["name"] for d in data["devices"]] == ["<b>bold</b> & co"]
    data = await get(client, "/api/v1/devices?limit=1&offset=1")
    assert data["total"] == 5
    assert len(data["devices"]) == 1


async def test_a_device_shows_checks_icmp_interfaces_host_and_history(
    client: Client, province: Province
) -> None:
    d = await get(client, "/api/v1/devices/core-rtr")
    assert d["status"] == "up"
    assert [c["name"] for c in d["checks"]] == ["icmp", "snmp"]
    assert d["icmp"]["sent"] == 4
    assert d["icmp"]["received"] == 2
    assert d["icmp"]["loss_ratio"] == 0.5
    assert d["icmp"]["rtt_avg_seconds"] == pytest.approx(0.011)
    # One point per minute; samples came at 09:26:40, 09:27:40 and 09:28:10.
    assert [p["at"] for p in d["icmp_recent"]] == [
        "2026-11-01T09:26:00+07:00",
        "2026-11-01T09:27:00+07:00",
        "2026-11-01T09:28:00+07:00",
    ]
    assert d["icmp_recent"][-1]["loss_ratio"] == 0.5
    eth0 = d["interfaces"][0]
    assert eth0["alias"] == "uplink <to DC>"
    assert eth0["receive_bps"] == pytest.approx(100_000.0)
    assert d["interfaces"][1]["receive_bps"] is None
    assert d["host"]["cpu_load_ratio"] == pytest.approx(0.3)
    assert d["host"]["memory"] == {"size_bytes": 8 << 30, "used_bytes": 2 << 30}
    assert d["system"]["uptime_seconds"] == 86400.0 * 3
    assert [p["id"] for p in d["site_path"]] == ["can-tho"]
    nk = await get(client, "/api/v1/devices/nk-rtr")
    assert nk["status"] == "down"
    assert nk["checks"][0]["failure"] == {"kind": "timeout", "detail": "no reply in 1s"}
    assert [t["status"] for t in nk["transitions"]] == ["down", "up"]  # newest first
    ab = await get(client, "/api/v1/devices/ab-rtr")
    assert ab["cause"] == "nk-rtr"
    assert ab["transitions"][0] == {
        "at": "2026-11-01T09:28:10+07:00",
        "status": "unreachable",
        "cause": "nk-rtr",
    }


async def test_unknown_ids_are_404_json(client: Client) -> None:
    for path in ("/api/v1/devices/nope", "/api/v1/devices/%3Cscript%3E", "/api/v1/nothing"):
        body = await get(client, path, 404)
        assert "error" in body
    assert "error" in await get(client, "/api/v1/devices?site=nope", 404)
    resp = await client.post(f"/api/v1/alerts/{'x' * 5000}/ack", headers=AUTH)
    assert resp.status == 404
    assert "error" in await resp.json()


@pytest.mark.parametrize(
    "query",
    [
        "status=broken",
        "limit=0",
        "limit=abc",
        "limit=99999999",
        "offset=-1",
        f"q={'a' * 5000}",
        "q=a&q=b",
    ],
)
async def test_bad_device_queries_are_400_json(client: Client, query: str) -> None:
    body = await get(client, f"/api/v1/devices?{query}", 400)
    assert body["error"]


async def test_wrong_method_is_405_json(client: Client) -> None:
    resp = await client.delete("/api/v1/sites")
    assert resp.status == 405
    assert "error" in await resp.json()


async def test_acknowledging_needs_the_token(client: Client, province: Province) -> None:
    (alert,) = (await get(client, "/api/v1/alerts"))["alerts"]
    assert alert["subject"] == "nk-rtr"
    assert alert["severity"] == "critical"
    assert alert["affected_devices"] == 2
    url = f"/api/v1/alerts/{alert['id']}/ack"
    resp = await client.post(url)
    assert resp.status == 401
    resp = await client.post(url, headers={"Authorization": "Bearer wrong"})
    assert resp.status == 401
    resp = await client.post(url, headers={"Authorization": f"Basic {TOKEN}"})
    assert resp.status == 401
    assert (await get(client, "/api/v1/alerts"))["alerts"][0]["acknowledged_by"] is None
    resp = await client.post(url, headers=AUTH, json={"by": "Lan (CNTT Ninh Kiều)"})
    assert resp.status == 200
    assert await resp.json() == {"id": alert["id"], "acknowledged_by": "Lan (CNTT Ninh Kiều)"}
    alerts = (await get(client, "/api/v1/alerts"))["alerts"]
    assert alerts[0]["acknowledged_by"] == "Lan (CNTT Ninh Kiều)"
    assert province.engine.active_alerts()[0].acknowledged_by == "Lan (CNTT Ninh Kiều)"


async def test_without_a_configured_token_changes_are_403(tmp_path: Path) -> None:
    p = build(tmp_path, token=False)
    try:
        async with TestClient(TestServer(make_app(p, token=None))) as c:
            alert_id = p.engine.active_alerts()[0].id
            for method, path in (
                ("POST", f"/api/v1/alerts/{alert_id}/ack"),
                ("POST", "/api/v1/silences"),
                ("DELETE", "/api/v1/silences/s-1"),
                ("POST", "/api/v1/maintenance"),
                ("DELETE", "/api/v1/maintenance/m-1"),
            ):
                resp = await c.request(method, path, headers=AUTH)
                assert resp.status == 403, path
                assert "api_token" in (await resp.json())["error"]
    finally:
        assert p.history is not None
        p.history.close()


async def test_a_silence_is_created_listed_and_removed(client: Client, province: Province) -> None:
    resp = await client.post(
        "/api/v1/silences",
        headers=AUTH,
        json={"sites": ["ninh-kieu"], "duration": "2h", "by": "lan", "comment": "nhà mạng"},
    )
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert made["sites"] == ["ninh-kieu"]
    assert made["until"] == "2026-11-01T11:28:40+07:00"
    (listed,) = (await get(client, "/api/v1/silences"))["silences"]
    assert listed == made
    assert [s.id for s in province.engine.silences()] == [made["id"]]
    resp = await client.delete(f"/api/v1/silences/{made['id']}")
    assert resp.status == 401
    resp = await client.delete(f"/api/v1/silences/{made['id']}", headers=AUTH)
    assert resp.status == 200
    assert (await get(client, "/api/v1/silences"))["silences"] == []
    resp = await client.delete(f"/api/v1/silences/{made['id']}", headers=AUTH)
    assert resp.status == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b'"text"', 400),
        (b"\xff\xfe", 400),
        (b'{"devices": ["nk-rtr"]}', 400),  # no duration
        (b'{"duration": "1h"}', 400),  # nothing to silence
        (b'{"devices": ["nope"], "duration": "1h"}', 400),
        (b'{"devices": "nk-rtr", "duration": "1h"}', 400),
        (b'{"devices": [1], "duration": "1h"}', 400),
        (b'{"devices": ["nk-rtr"], "duration": "forever"}', 400),
        (b'{"devices": ["nk-rtr"], "duration": -5}', 400),
        (b'{"devices": ["nk-rtr"], "duration": true}', 400),
        (b'{"devices": ["nk-rtr"], "duration": "400d"}', 400),
        (b'{"devices": ["nk-rtr"], "duration": "1h", "extra": 1}', 400),
        (b'{"devices": ["nk-rtr"], "duration": "1h", "by": "' + b"x" * 600 + b'"}', 400),
        (b'{"devices": ["nk-rtr"], "duration": "1h", "comment": "' + b"x" * 20000 + b'"}', 413),
    ],
)
async def test_bad_silence_bodies_are_4xx_json(client: Client, body: bytes, status: int) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    resp = await client.post("/api/v1/silences", data=body, headers=headers)
    assert resp.status == status, await resp.text()
    assert (await resp.json())["error"]


async def test_a_maintenance_window_is_planned_listed_and_removed(client: Client) -> None:
    body = {
        "target": "ninh-kieu",
        "start": "2026-11-01T09:00",
        "duration": "2h",
        "reason": "thay thiết bị",
    }
    resp = await client.post("/api/v1/maintenance", headers=AUTH, json=body)
    assert resp.status == 201, await resp.text()
    window = await resp.json()
    assert window["start"] == "2026-11-01T09:00:00+07:00"
    assert window["active"] is True
    assert window["duration_seconds"] == 7200
    listed = (await get(client, "/api/v1/maintenance"))["windows"]
    assert window in listed
    resp = await client.delete(f"/api/v1/maintenance/{window['id']}", headers=AUTH)
    assert resp.status == 200
    assert window["id"] not in [
        w["id"] for w in (await get(client, "/api/v1/maintenance"))["windows"]
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"target": "nope", "start": "2026-11-01T10:00", "duration": "1h"},
        {"target": "ninh-kieu", "start": "yesterday", "duration": "1h"},
        {"target": "ninh-kieu", "start": "2026-13-45", "duration": "1h"},
        {"target": "ninh-kieu", "duration": "1h"},
        {"target": "ninh-kieu", "start": "2026-11-01T10:00", "duration": "30d"},
        {"target": "ninh-kieu", "start": "2026-11-01T10:00", "duration": "1h", "recurrence": "x"},
        {"target": ["ninh-kieu"], "start": "2026-11-01T10:00", "duration": "1h"},
    ],
)
async def test_bad_maintenance_bodies_are_400(client: Client, body: dict[str, Any]) -> None:
    resp = await client.post("/api/v1/maintenance", headers=AUTH, json=body)
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["error"]


async def test_history_of_a_device_and_of_a_site(client: Client) -> None:
    h = await get(client, "/api/v1/history?device=nk-rtr&from=2026-11-01&to=2026-11-02")
    assert h["from"] == "2026-11-01T00:00:00+07:00"
    assert [t["status"] for t in h["transitions"]] == ["up", "down"]
    assert h["status_before"] is None
    assert h["summary"]["device"] == "nk-rtr"
    assert h["summary"]["outages"] == 1
    s = await get(client, "/api/v1/history?site=an-binh")  # the last 24 hours
    assert [(t["status"], t["cause"]) for t in s["transitions"]] == [
        ("up", None),
        ("unreachable", "nk-rtr"),
    ]
    assert s["summary"]["site"] == "an-binh"
    later = await get(client, "/api/v1/history?device=nk-rtr&from=2026-11-02&to=2026-11-03")
    assert later["transitions"] == []
    assert later["status_before"]["status"] == "down"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 400),
        ("device=nk-rtr&site=an-binh", 400),
        ("device=nope", 404),
        ("site=nope", 404),
        ("device=nk-rtr&from=2026-11-01", 400),
        ("device=nk-rtr&from=01/11/2026&to=2026-11-02", 400),
        ("device=nk-rtr&from=2026-11-02&to=2026-11-01", 400),
        ("device=nk-rtr&from=2020-01-01&to=2026-01-01", 400),
        ("device=nk-rtr&month=2026-13", 400),
        (f"device=nk-rtr&from={'9' * 300}&to=2026-11-01", 400),
    ],
)
async def test_bad_history_queries_are_4xx_json(client: Client, query: str, status: int) -> None:
    body = await get(client, f"/api/v1/history?{query}", status)
    assert body["error"]


async def test_the_report_is_the_history_report_json(client: Client) -> None:
    r = await get(client, "/api/v1/report?from=2026-11-01&to=2026-11-02&by=district")
    assert r["by"] == "district"
    assert r["from"] == "2026-11-01T00:00:00+07:00"
    assert [row["site"] for row in r["rows"]] == ["ninh-kieu", "xss"]  # worst first
    assert r["rows"][0]["sites"] == 2
    month = await get(client, "/api/v1/report")  # this month, so far: up to the clock's now
    assert month["from"] == "2026-11-01T00:00:00+07:00"
    assert month["to"] == "2026-11-01T09:28:40+07:00"  # START plus the fixture's polls
    devices = await get(client, "/api/v1/report?month=2026-11&by=device&level=commune")
    assert {row["device"] for row in devices["rows"]} == {"ab-rtr", "ab-pc-01"}
    resp = await client.get("/api/v1/report?month=2026-11&format=csv&lang=en")
    assert resp.status == 200
    assert resp.content_type == "text/csv"
    assert "Quận Ninh Kiều" in (await resp.read()).decode("utf-8-sig")


@pytest.mark.parametrize(
    "query", ["by=planet", "level=galaxy", "format=pdf", "from=2026-11-01", "month=11-2026"]
)
async def test_bad_report_queries_are_400(client: Client, query: str) -> None:
    assert (await get(client, f"/api/v1/report?{query}", 400))["error"]


async def test_history_endpoints_say_503_when_history_is_off(tmp_path: Path) -> None:
    p = build(tmp_path, history=False)
    async with TestClient(TestServer(make_app(p))) as c:
        for path in ("/api/v1/history?device=nk-rtr", "/api/v1/report"):
            resp = await c.get(path)
            assert resp.status == 503
            assert "history" in (await resp.json())["error"]
        detail = await (await c.get("/api/v1/devices/nk-rtr")).json()
        assert detail["transitions"] == []


async def test_no_secret_appears_in_any_response(client: Client) -> None:
    paths = [
        "/api/v1/sites",
        "/api/v1/devices",
        "/api/v1/devices/core-rtr",
        "/api/v1/alerts",
        "/api/v1/openapi.json",
        "/",
        "/devices/core-rtr",
        "/alerts",
        "/sites/can-tho",
        "/availability",
    ]
    for path in paths:
        text = await (await client.get(path)).text()
        assert TOKEN not in text, path
        assert "community-secret" not in text, path


@pytest.mark.parametrize(
    "query",
    [
        "history?device=nk-rtr&from=0001-01-01&to=0001-01-02",
        "history?device=nk-rtr&from=9999-12-30&to=9999-12-31",
        "history?device=nk-rtr&month=9999-12",
        "history?device=nk-rtr&month=0000-01",
        "history?device=nk-rtr&from=2026-11-01T25:00&to=2026-11-02",
        "history?device=nk-rtr&from=2026-11-01T10:00%2B25:00&to=2026-11-02",
        "history?device=%00&from=2026-11-01&to=2026-11-02",
        "report?from=0001-01-01&to=0001-02-01",
        "report?month=9999-12",
        "report?from=0001-01-01T00:00%2B14:00&to=2026-01-01",
        "report?from=2026-01-01&to=9999-12-31T23:59-14:00",
        "history?site=can-tho&from=0001-01-01T00:00-14:00&to=2026-01-01",
        "report?by=%F0%9F%98%80",
        "devices?q=%00%FF",
        "devices?site=%2e%2e",
    ],
)
async def test_odd_inputs_never_cause_a_500(client: Client, query: str) -> None:
    resp = await client.get(f"/api/v1/{query}")
    assert resp.status < 500, await resp.text()
    assert resp.content_type == "application/json"


async def test_a_service_check_shows_its_status_code_and_certificate(
    client: Client, province: Province
) -> None:
    from netwatch.models import Sample
    from netwatch.probes.service_model import CertInfo, ServiceData

    cert = CertInfo(1_800_000_000.0, "CN=portal", "CN=CA")
    data = ServiceData(status_code=200, duration=0.05, ttfb=0.02, cert=cert)
    device = province.inventory.devices["core-rtr"]
    sample = Sample("core-rtr", "service:portal", province.clock(), 0.05, None, data)
    province.state.record(device, sample)
    d = await get(client, "/api/v1/devices/core-rtr")
    assert d["services"] == [
        {
            "name": "portal",
            "status": "up",
            "status_code": 200,
            "duration_seconds": 0.05,
            "cert_expires_at": "2027-01-15T15:00:00+07:00",
        }
    ]
    html = await (await client.get("/devices/core-rtr")).text()
    assert "service:portal" in html
    assert "15:00 ngày 15/01/2027" in html


async def test_a_body_sent_in_chunks_is_read_whole(client: Client) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b'{"devices": ["nk-rtr"], ', b'"duration": "1h", ', b'"comment": "ok"}'):
            yield part

    resp = await client.post("/api/v1/silences", data=chunks(), headers=AUTH)
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["comment"] == "ok"
    huge = await client.post("/api/v1/silences", data=io.BytesIO(b"x" * (2 << 20)), headers=AUTH)
    assert huge.status == 413
    assert "error" in await huge.json()


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b'{"sites": ["a"], "duration": "1h"}', 2),
        (b'{"comment": "[[[{{{"}', 1),
        (b'{"comment": "quote \\" then [[[", "sites": []}', 2),
        (b'{"comment": "backslash \\\\", "sites": [[]]}', 3),
        (b"[" * 8000 + b"]" * 8000, 8000),
        (b"42", 0),
    ],
)
def test_the_nesting_check_counts_brackets_outside_strings_only(raw: bytes, depth: int) -> None:
    assert nesting(raw) == depth


async def test_a_body_nested_8000_deep_is_a_400_not_a_500(client: Client) -> None:
    deep = b'{"sites": ' + b"[" * 8000 + b"]" * 8000 + b', "duration": "1h"}'
    resp = await client.post("/api/v1/silences", data=deep, headers=AUTH)
    assert resp.status == 400
    assert "nests too deeply" in (await resp.json())["error"]
