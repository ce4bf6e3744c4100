"""Through the real web app on loopback: devices with values no text or JSON can carry leave
/metrics, every shard, their API answer and their page at 200 and parseable; the other
devices are served whole."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft202012Validator

from netwatch.exporters.collector import RenderCache, View, render_text
from netwatch.models import IcmpStats, Sample
from netwatch.probes.snmp_data import SnmpData
from netwatch.web.app import Hooks, make_app
from netwatch.web.openapi import document
from tests.unit.web.backend import Province, build

Client = TestClient[web.Request, web.Application]
BAD = ("core-rtr", "ab-rtr", "nk-rtr")


def spoil(p: Province) -> None:
    """core-rtr (agent shard): a Counter64 of 2^16000 and a load average of NaN; ab-rtr
    (ninh-kieu shard): an ICMP counter past 64 bits; nk-rtr (ninh-kieu): an ICMP round whose
    RTTs are not numbers, so reading them raises (a broken object)."""
    check = p.state.devices["core-rtr"].checks["snmp"]
    assert check.last_ok is not None
    data = check.last_ok.data
    assert isinstance(data, SnmpData)
    assert data.interfaces is not None
    assert data.host is not None
    ports = (dataclasses.replace(data.interfaces[0], in_octets=2**16000), *data.interfaces[1:])
    host = dataclasses.replace(data.host, load_average=(math.nan, 0.5, 0.25))
    spoilt = dataclasses.replace(data, interfaces=ports, host=host)
    check.last = check.last_ok = dataclasses.replace(check.last_ok, data=spoilt)
    icmp = p.state.devices["ab-rtr"].checks["icmp"]
    p.state.devices["ab-rtr"].checks["icmp"] = dataclasses.replace(icmp, packets_sent=2**70)
    broken = p.state.devices["nk-rtr"].checks["icmp"]
    assert broken.last is not None
    broken.last = dataclasses.replace(broken.last, data=IcmpStats(3, ("x",)))  # type: ignore[arg-type]


def nan_load_only(p: Province) -> None:
    check = p.state.devices["core-rtr"].checks["snmp"]
    assert check.last_ok is not None
    data = check.last_ok.data
    assert isinstance(data, SnmpData)
    assert data.host is not None
    host = dataclasses.replace(data.host, load_average=(math.nan, math.inf, 0.25))
    sample: Sample[object] = dataclasses.replace(
        check.last_ok, data=dataclasses.replace(data, host=host)
    )
    check.last = check.last_ok = sample


def app_of(p: Province) -> web.Application:
    view = View(
        p.inventory,
        p.state,
        p.engine.status_of,
        site_status=p.engine.site_status,
        flapping=p.engine.flapping,
        alerts=p.engine.active_alerts,
        clock=p.clock,
    )
    cache = RenderCache()

    def metrics(shard: str | None) -> bytes | None:
        if shard is not None and shard not in p.inventory.shards:
            return None
        return render_text(view, shard, cache=cache)

    async def reload() -> list[str]:
        return []

    hooks = Hooks(
        ready=lambda: True,
        reload=reload,
        token=lambda: None,
        metrics=metrics,
        shards=lambda: p.inventory.shards,
    )
    return make_app(hooks, p)


@pytest.fixture
async def spoilt(tmp_path: Path) -> AsyncIterator[Client]:
    p = build(tmp_path)
    spoil(p)
    async with TestClient(TestServer(app_of(p))) as c:
        yield c
    if p.history is not None:
        p.history.close()


def strict_json(text: str) -> Any:
    """JSON as a strict parser reads it: NaN and Infinity are errors."""

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def devices_in(text: str) -> set[str]:
    return {
        line.split('device="', 1)[1].split('"', 1)[0]
        for line in text.splitlines()
        if line.startswith("netwatch_") and 'device="' in line
    }


def promtool_ok(text: bytes) -> None:
    if shutil.which("promtool") is None:
        return
    out = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, timeout=60
    )
    assert out.returncode == 0, (out.stdout + out.stderr).decode()


async def test_metrics_and_every_shard_stay_200_and_valid(spoilt: Client) -> None:
    """/metrics and each shard: 200, promtool-clean, the bad devices only in the error
    counter, the good ones whole."""
    for shard in (None, "_agent", "ninh-kieu", "xss"):
        resp = await spoilt.get("/metrics", params={"shard": shard} if shard else None)
        assert resp.status == 200, shard
        body = await resp.read()
        promtool_ok(body)
        text = body.decode()
        bad = [
            line
            for line in text.splitlines()
            if any(f'device="{d}"' in line for d in BAD)
            and not line.startswith("netwatch_render_errors_total{")
        ]
        assert bad == [], shard
        if shard in (None, "ninh-kieu"):
            assert 'netwatch_device_up{device="ab-pc-01"' in text
            assert 'netwatch_render_errors_total{device="ab-rtr"' in text
            assert 'netwatch_render_errors_total{device="nk-rtr"' in text
        if shard in (None, "_agent"):
            assert 'netwatch_render_errors_total{device="core-rtr"' in text
    everything = (await (await spoilt.get("/metrics")).read()).decode()
    assert devices_in(everything) == {*BAD, "ab-pc-01", "xss-rtr"}


async def test_the_api_and_page_of_a_bad_device_stay_200(
    spoilt: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """/api/v1/devices/core-rtr: 200, strict JSON, valid for the OpenAPI schema, measurements
    left out, one log line for several requests; a good device keeps its detail; the device
    page answers too."""
    doc = document()
    schema = doc["components"]["schemas"]["DeviceDetail"]
    validator = Draft202012Validator({"components": doc["components"], **schema})
    resp = await spoilt.get("/api/v1/devices/core-rtr")
    assert resp.status == 200
    body = strict_json(await resp.text())
    validator.validate(body)
    assert body["id"] == "core-rtr"
    assert body["interfaces"] == []
    assert body["host"] is None
    good = strict_json(await (await spoilt.get("/api/v1/devices/xss-rtr")).text())
    validator.validate(good)
    assert good["checks"]
    assert good["icmp"] is not None
    listed = await spoilt.get("/api/v1/devices")
    assert listed.status == 200
    rows = {row["id"]: row for row in strict_json(await listed.text())["devices"]}
    assert set(rows) == {*BAD, "ab-pc-01", "xss-rtr"}
    assert rows["nk-rtr"]["status"] == "down"  # the broken round: the status is still known
    broken = await spoilt.get("/api/v1/devices/nk-rtr")
    assert broken.status == 200
    validator.validate(strict_json(await broken.text()))
    page = await spoilt.get("/devices/core-rtr")
    assert page.status == 200
    assert (await spoilt.get("/api/v1/devices/core-rtr")).status == 200
    told = [r for r in caplog.records if "core-rtr: shown without" in r.getMessage()]
    assert len(told) == 1


async def test_a_nan_measurement_is_null_in_json(tmp_path: Path) -> None:
    """A NaN or infinite gauge (the text format carries it) is JSON null, the rest is kept."""
    p = build(tmp_path)
    nan_load_only(p)
    try:
        async with TestClient(TestServer(app_of(p))) as c:
            resp = await c.get("/api/v1/devices/core-rtr")
            assert resp.status == 200
            body = strict_json(await resp.text())
            assert body["host"]["load_average"] == [None, None, 0.25]
            assert body["interfaces"]
            metrics = await (await c.get("/metrics")).read()
            promtool_ok(metrics)
            assert b'netwatch_host_load_average{device="core-rtr"' in metrics
    finally:
        if p.history is not None:
            p.history.close()
