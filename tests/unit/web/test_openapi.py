"""The OpenAPI document matches the API: every documented operation is called and its real
response (success and errors) validates against the schema the document gives for it."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from netwatch.web.openapi import document
from tests.unit.web.backend import Province
from tests.unit.web.conftest import AUTH

Client = TestClient[web.Request, web.Application]


def check(doc: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    """Validate ``body`` against the schema of ``method path`` -> ``status`` in ``doc``."""
    op = doc["paths"][path][method]
    response = op["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    # 2020-12 resolves "#/components/..." against the root: give it the document's components.
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        **schema,
    }
    Draft202012Validator.check_schema(root)
    Draft202012Validator(root).validate(body)


def test_the_document_is_openapi_3_1_and_its_schemas_are_valid_json_schema() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    for schema in doc["components"]["schemas"].values():
        root = {"components": doc["components"], **schema}
        Draft202012Validator.check_schema(root)


def test_the_check_can_fail() -> None:
    """A response that does not match its schema is caught (the test is not vacuous)."""
    doc = document()
    with pytest.raises(ValidationError):
        check(doc, "/sites", "get", 200, {"sites": [{"id": "x"}]})
    with pytest.raises(ValidationError):
        check(doc, "/alerts", "get", 200, {"alerts": [], "extra": 1})


async def test_every_documented_operation_matches_its_real_responses(
    client: Client, province: Province
) -> None:
    served = await (await client.get("/api/v1/openapi.json")).json()
    assert served == document()
    doc = served
    called: set[tuple[str, str]] = set()

    async def call(method: str, path: str, url: str, status: int, **kw: Any) -> Any:
        resp = await client.request(method.upper(), "/api/v1" + url, **kw)
        assert resp.status == status, (url, await resp.text())
        body = await resp.json()
        check(doc, path, method, status, body)
        called.add((path, method))
        return body

    await call("get", "/sites", "/sites", 200)
    await call("get", "/devices", "/devices?site=ninh-kieu&q=r", 200)
    await call("get", "/devices", "/devices?status=nope", 400)
    for device in province.inventory.devices:
        await call("get", "/devices/{id}", f"/devices/{device}", 200)
    await call("get", "/devices/{id}", "/devices/nope", 404)
    alerts = await call("get", "/alerts", "/alerts", 200)
    alert_id = alerts["alerts"][0]["id"]
    await call("post", "/alerts/{id}/ack", f"/alerts/{alert_id}/ack", 401)
    await call("post", "/alerts/{id}/ack", f"/alerts/{alert_id}/ack", 200, headers=AUTH)
    await call("post", "/alerts/{id}/ack", "/alerts/nope/ack", 404, headers=AUTH)
    await call("get", "/alerts", "/alerts", 200)  # now with acknowledged_by set
    silence = await call(
        "post",
        "/silences",
        "/silences",
        201,
        headers=AUTH,
        json={"devices": ["ab-pc-01"], "duration": 3600},
    )
    await call("post", "/silences", "/silences", 400, headers=AUTH, json={"duration": 1})
    too_big = {"sites": ["an-binh"], "duration": 1, "comment": "x" * 20_000}
    await call("post", "/silences", "/silences", 413, headers=AUTH, json=too_big)
    await call("get", "/silences", "/silences", 200)
    await call("delete", "/silences/{id}", f"/silences/{silence['id']}", 200, headers=AUTH)
    await call("delete", "/silences/{id}", f"/silences/{silence['id']}", 404, headers=AUTH)
    window = await call(
        "post",
        "/maintenance",
        "/maintenance",
        201,
        headers=AUTH,
        json={"target": "an-binh", "start": "2026-11-02", "duration": "1h", "recurrence": "weekly"},
    )
    year_1 = {"target": "an-binh", "start": "0001-01-01T00:00+14:00", "duration": 60}
    await call("post", "/maintenance", "/maintenance", 400, headers=AUTH, json=year_1)
    await call("get", "/maintenance", "/maintenance", 200)
    await call("delete", "/maintenance/{id}", f"/maintenance/{window['id']}", 200, headers=AUTH)
    await call("delete", "/maintenance/{id}", "/maintenance/nope", 401)
    await call("get", "/history", "/history?device=nk-rtr", 200)
    await call("get", "/history", "/history?site=ninh-kieu&from=2026-11-01&to=2026-11-02", 200)
    await call("get", "/history", "/history?device=nk-rtr&from=2026-11-03&to=2026-11-04", 200)
    await call("get", "/history", "/history?device=nk-rtr&from=bad&to=bad", 400)
    await call("get", "/history", "/history?device=nk-rtr&from=2026-11-01&to=9999-12-31", 400)
    await call("get", "/report", "/report?month=2026-11", 200)
    await call("get", "/report", "/report?month=2026-11&by=device", 200)
    await call("get", "/report", "/report?month=2026-11&by=service", 200)
    await call("get", "/report", "/report?month=2026-11&by=district&level=commune", 200)
    await call("get", "/report", "/report?by=nope", 400)

    documented = {
        (path, method)
        for path, ops in doc["paths"].items()
        for method in ops
        if path != "/openapi.json"
    }
    assert documented == called
    # And every route the app serves under /api/v1 is documented.
    served_routes = {
        (r.resource.canonical.removeprefix("/api/v1"), r.method.lower())
        for r in client.app.router.routes()
        if r.resource is not None
        and r.resource.canonical.startswith("/api/v1")
        and r.method != "HEAD"
    }
    assert served_routes == {*documented, ("/openapi.json", "get")}
