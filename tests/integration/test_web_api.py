"""The JSON API and the status page served by the real daemon (``netwatch run``) on loopback:
live data, the OpenAPI schemas, the token on changes, and no secret in any answer."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from netwatch.web.openapi import document
from tests.daemon import RunningDaemon, free_port, write_config

TOKEN = "web-api-token-77e1"
CONFIG = """
agent: {{listen: "127.0.0.1:{port}", data_dir: {data}, api_token: {{env: NW_TEST_TOKEN}}}}
defaults:
  icmp: {{interval: 1s, count: 2, timeout: 500ms, spacing: 50ms}}
sites:
  - id: can-tho
    name: "TP Cần Thơ"
    level: province
    gateway: core-rtr
    devices: [{{id: core-rtr, address: 127.0.0.1, role: router}}]
    sites:
      - id: ninh-kieu
        name: "Quận Ninh Kiều"
        level: district
        gateway: nk-rtr
        devices: [{{id: nk-rtr, address: 127.0.20.1, role: router}}]
"""


def request(
    d: RunningDaemon, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(d.url(path), method=method, data=data)
    req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        text = exc.read().decode()
        try:
            return exc.code, json.loads(text)
        except ValueError:  # not our JSON: e.g. the daemon does not serve the API at all
            return exc.code, text


def validate(path: str, method: str, status: int, body: Any) -> None:
    doc = document()
    schema = doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]
    Draft202012Validator({"components": doc["components"], **schema["schema"]}).validate(body)


def test_the_daemon_serves_the_api_and_the_page(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, CONFIG.format(port=port, data=tmp_path / "data"))
    with RunningDaemon(config, port, env={"NW_TEST_TOKEN": TOKEN}) as d:
        d.wait_ready()
        d.wait_for_log("device nk-rtr is up", timeout=20)
        deadline = time.monotonic() + 20
        while True:  # the engine evaluates the topology right after the first polls
            status, sites = request(d, "GET", "/api/v1/sites")
            assert status == 200, f"no API: is make_app(hooks, backend) wired? {sites!r}"
            if sites["sites"][0]["counts"]["up"] == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert status == 200
        validate("/sites", "get", 200, sites)
        (root,) = sites["sites"]
        assert root["status"] == "up"
        assert root["counts"]["up"] == 2
        assert [c["id"] for c in root["children"]] == ["ninh-kieu"]

        status, dev = request(d, "GET", "/api/v1/devices/core-rtr")
        assert status == 200
        validate("/devices/{id}", "get", 200, dev)
        assert dev["icmp"]["received"] == 2
        assert dev["checks"][0]["name"] == "icmp"

        status, body = request(
            d, "POST", "/api/v1/silences", {"sites": ["ninh-kieu"], "duration": "1h"}
        )
        assert status == 401
        validate("/silences", "post", 401, body)
        status, made = request(
            d, "POST", "/api/v1/silences", {"sites": ["ninh-kieu"], "duration": "1h"}, TOKEN
        )
        assert status == 201
        validate("/silences", "post", 201, made)
        status, _ = request(d, "DELETE", f"/api/v1/silences/{made['id']}", token=TOKEN)
        assert status == 200

        status, rep = request(d, "GET", "/api/v1/report")
        assert status == 200
        validate("/report", "get", 200, rep)

        page = d.get("/")
        assert "Quận Ninh Kiều" in page
        assert d.get("/api/v1/openapi.json").startswith("{")
        for text in (page, json.dumps(sites), json.dumps(dev), d.log):
            assert TOKEN not in text
