"""The OpenAPI 3.1 description of ``/api/v1``, served at ``/api/v1/openapi.json``.

Written by hand next to the code it describes; ``tests/unit/web/test_openapi.py`` calls every
endpoint and validates each real response against the schema given here (OpenAPI 3.1 schemas
are JSON Schema 2020-12), so the document cannot drift from the API unnoticed. The schemas
themselves are in ``schemas.py``.

The limits the API enforces (``web/api/request.py``) are stated here too: a request body of
at most 16 KiB (413 past it) nested at most 4 deep, dates in UTC years 1970 to 9998, silences
up to 30 days, windows up to 7 days, a history or report period up to 400 days.

>>> document()["openapi"]
'3.1.0'
"""

from __future__ import annotations

import copy
import functools

from netwatch.web.schemas import JSON, SCHEMAS, ref


def _param(name: str, description: str, *, where: str = "query", required: bool = False) -> JSON:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "description": description,
        "schema": {"type": "string", "maxLength": 200},
    }


def _response(schema: str, description: str = "OK") -> JSON:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


_ERRORS = {
    "400": _response("Error", "bad request: the error says what to fix"),
    "404": _response("Error", "unknown id"),
}
_AUTH_ERRORS = {
    "401": _response("Error", "missing or wrong bearer token"),
    "403": _response("Error", "no agent.api_token configured: changes are disabled"),
}
_PERIOD = [
    _param(
        "from",
        "start, YYYY-MM-DD or ISO date-time in the agent's zone (or with an offset); "
        "between 1970-01-01 and 9998-12-31 UTC; a period is at most 400 days",
    ),
    _param("to", "end (exclusive), same forms and range"),
    _param("month", "YYYY-MM (1970 to 9998), instead of from/to"),
]
_ID = _param("id", "id", where="path")


def _op(
    summary: str,
    ok: JSON,
    *,
    params: list[JSON] | None = None,
    auth: bool = False,
    body: str | None = None,
    errors: JSON | None = None,
    status: str = "200",
) -> JSON:
    op: JSON = {
        "summary": summary,
        "parameters": params or [],
        "responses": {status: ok, **_ERRORS, **(errors or {}), **(_AUTH_ERRORS if auth else {})},
    }
    if auth:
        op["security"] = [{"bearer": []}]
    if body is not None:
        op["responses"]["413"] = _response("Error", "the body is larger than 16 KiB")
        op["requestBody"] = {
            "required": body != "AckRequest",
            "content": {"application/json": {"schema": ref(body)}},
        }
    return op


_UNAVAILABLE = {"503": _response("Error", "history is disabled or not readable")}


def _status_paths() -> JSON:
    """Sites, devices and alerts: what is up, and acknowledging an alert."""
    return {
        "/sites": {"get": _op("The site tree, worst first", _response("Sites"))},
        "/devices": {
            "get": _op(
                "Devices, worst first",
                _response("Devices"),
                params=[
                    _param("site", "only this site and the sites below it"),
                    _param("status", "up, down, unreachable, maintenance or unknown"),
                    _param("q", "text in the id, name or address"),
                    _param("limit", "at most this many (1-5000, default 1000)"),
                    _param("offset", "skip this many"),
                ],
            )
        },
        "/devices/{id}": {
            "get": _op("One device in detail", _response("DeviceDetail"), params=[_ID])
        },
        "/alerts": {"get": _op("Open alerts, critical first", _response("Alerts"))},
        "/alerts/{id}/ack": {
            "post": _op(
                "Acknowledge an alert: nothing more is sent about it",
                _response("Ack"),
                params=[_ID],
                auth=True,
                body="AckRequest",
            )
        },
    }


def _change_paths() -> JSON:
    """Silences and maintenance windows."""
    return {
        "/silences": {
            "get": _op("Silences in force", _response("Silences")),
            "post": _op(
                "Silence devices or sites for a while",
                _response("Silence", "created"),
                auth=True,
                body="SilenceRequest",
                status="201",
            ),
        },
        "/silences/{id}": {
            "delete": _op("End a silence", _response("Deleted"), params=[_ID], auth=True)
        },
        "/maintenance": {
            "get": _op("Maintenance windows", _response("Windows")),
            "post": _op(
                "Plan a maintenance window",
                _response("Window", "created"),
                auth=True,
                body="WindowRequest",
                status="201",
            ),
        },
        "/maintenance/{id}": {
            "delete": _op(
                "Remove a maintenance window", _response("Deleted"), params=[_ID], auth=True
            )
        },
    }


def _history_paths() -> JSON:
    """History, reports and this document."""
    return {
        "/history": {
            "get": _op(
                "A device's or site's transitions and availability (default: last 24 h)",
                _response("History"),
                params=[
                    _param("device", "device id (or site=)"),
                    _param("site", "site id (or device=)"),
                    *_PERIOD,
                ],
                errors=_UNAVAILABLE,
            )
        },
        "/report": {
            "get": _op(
                "Availability report (default: this month); format=csv|html|table too",
                _response("Report"),
                params=[
                    *_PERIOD,
                    _param("by", "device, site, service or a level (default site)"),
                    _param("level", "only sites (or devices of sites) of this level"),
                    _param("format", "json (default), csv, html or table"),
                    _param("lang", "vi or en, for csv/html/table"),
                ],
                errors=_UNAVAILABLE,
            )
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1"}},
            }
        },
    }


@functools.cache
def _document() -> JSON:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "netwatch API",
            "version": "1",
            "description": "Live status, alerts and uptime history of the WAN netwatch watches."
            " Times are ISO 8601 in the agent's time zone.",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": {**_status_paths(), **_change_paths(), **_history_paths()},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def document() -> JSON:
    """The OpenAPI document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_document())
