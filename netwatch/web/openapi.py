"""The OpenAPI 3.1 description of ``/api/v1``, served at ``/api/v1/openapi.json``.

Written by hand next to the code it describes; ``tests/unit/web/test_openapi.py`` calls every
endpoint and validates each real response against the schema given here (OpenAPI 3.1 schemas
are JSON Schema 2020-12), so the document cannot drift from the API unnoticed.

The limits the API enforces (``web/api/request.py``) are stated here too: a request body of
at most 16 KiB (413 past it) nested at most 4 deep, dates in UTC years 1970 to 9998, silences
up to 30 days, windows up to 7 days, a history or report period up to 400 days.

>>> document()["openapi"]
'3.1.0'
"""

from __future__ import annotations

import copy
import functools
from typing import Any

JSON = dict[str, Any]

_STATUS = {"type": "string", "enum": ["up", "down", "unreachable", "maintenance", "unknown"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_NUM = {"type": ["number", "null"]}
_INT = {"type": ["integer", "null"]}
_STR = {"type": "string"}
_STR_NULL = {"type": ["string", "null"]}


def _obj(props: JSON, *, optional: tuple[str, ...] = ()) -> JSON:
    """An object with exactly these properties, all required but ``optional``."""
    return {
        "type": "object",
        "properties": props,
        "required": [k for k in props if k not in optional],
        "additionalProperties": False,
    }


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(name: str) -> JSON:
    return {"oneOf": [_ref(name), {"type": "null"}]}


def _list(item: JSON) -> JSON:
    return {"type": "array", "items": item}


_COUNTS = _obj({s: {"type": "integer", "minimum": 0} for s in _STATUS["enum"]})

SCHEMAS: JSON = {
    "Error": {
        "type": "object",
        "properties": {"error": _STR, "problems": _list(_STR)},
        "required": ["error"],
    },
    "SiteNode": _obj(
        {
            "id": _STR,
            "name": _STR,
            "level": _STR,
            "status": _STATUS,
            "since": {
                **_TIME,
                "description": "when the site's status last changed (the agent's start if it "
                "has not changed since)",
            },
            "gateway": _STR_NULL,
            "counts": _COUNTS,
            "devices": {"type": "integer"},
            "services_failing": {
                "type": "integer",
                "minimum": 0,
                "description": "services failing on devices that are up, in the site's subtree",
            },
            "degraded": {
                "type": "boolean",
                "description": "up, but with services failing: shown as degraded (a display "
                "state; status, alerts and history are unchanged)",
            },
            "children": _list(_ref("SiteNode")),
        }
    ),
    "Sites": _obj({"sites": _list(_ref("SiteNode"))}),
    "DeviceSummary": _obj(
        {
            "id": _STR,
            "name": _STR,
            "address": _STR,
            "role": _STR,
            "site": _STR,
            "site_name": _STR,
            "status": _STATUS,
            "own_status": _STATUS,
            "since": {
                **_TIME,
                "description": "when the device's status last changed, as the history dates "
                "it (the agent's start if it has not changed since)",
            },
            "cause": _STR_NULL,
            "flapping": {"type": "boolean"},
            "rtt_seconds": _NUM,
            "loss_ratio": _NUM,
        }
    ),
    "Devices": _obj(
        {
            "total": {"type": "integer"},
            "offset": {"type": "integer"},
            "devices": _list(_ref("DeviceSummary")),
        }
    ),
    "Check": _obj(
        {
            "name": _STR,
            "status": _STATUS,
            "since": _TIME,
            "last_at": _TIME,
            "ok": {"type": ["boolean", "null"]},
            "duration_seconds": _NUM,
            "failure": {
                "oneOf": [_obj({"kind": _STR, "detail": _STR}), {"type": "null"}],
            },
            "last_ok_at": _TIME,
        }
    ),
    "Icmp": _obj(
        {
            "at": _TIME,
            "sent": {"type": "integer"},
            "received": {"type": "integer"},
            "loss_ratio": {"type": "number"},
            "rtt_min_seconds": _NUM,
            "rtt_avg_seconds": _NUM,
            "rtt_max_seconds": _NUM,
            "jitter_seconds": _NUM,
        }
    ),
    "IcmpPoint": _obj({"at": _TIME, "rtt_seconds": _NUM, "loss_ratio": {"type": "number"}}),
    "System": _obj({"name": _STR, "description": _STR, "uptime_seconds": _NUM}),
    "Interface": _obj(
        {
            "index": {"type": "integer"},
            "name": _STR,
            "alias": _STR,
            "oper_up": {"type": "boolean"},
            "admin_up": {"type": "boolean"},
            "speed_bps": _INT,
            "receive_bps": _NUM,
            "transmit_bps": _NUM,
            "receive_bytes": _INT,
            "transmit_bytes": _INT,
            "errors": _INT,
        }
    ),
    "Host": _obj(
        {
            "cpu_load_ratio": _NUM,
            "cpus": {"type": "integer"},
            "memory": {
                "oneOf": [
                    _obj({"size_bytes": {"type": "integer"}, "used_bytes": {"type": "integer"}}),
                    {"type": "null"},
                ]
            },
            "disks": _list(
                _obj(
                    {
                        "name": _STR,
                        "size_bytes": {"type": "integer"},
                        "used_bytes": {"type": "integer"},
                    }
                )
            ),
            "processes": _INT,
            "load_average": {"type": ["array", "null"], "items": {"type": "number"}},
        }
    ),
    "Service": _obj(
        {
            "name": _STR,
            "status": _STATUS,
            "status_code": _INT,
            "duration_seconds": _NUM,
            "cert_expires_at": _TIME,
        }
    ),
    # subject: in a merged site's history, the former unit a transition was recorded under.
    "Transition": _obj(
        {"at": _TIME, "status": _STATUS, "cause": _STR_NULL, "subject": _STR},
        optional=("subject",),
    ),
    "Trap": _obj(
        {
            "at": _TIME,
            "kind": _STR,
            "oid": _STR,
            "pdu": {"type": "string", "enum": ["trap", "inform"]},
            "version": {"type": "string", "enum": ["1", "2c"]},
            "source": _STR,
            "uptime_seconds": _NUM,
            "detail": _STR,
        }
    ),
    "SiteRef": _obj({"id": _STR, "name": _STR, "level": _STR}),
    "Alert": _obj(
        {
            "id": _STR,
            "state": {"type": "string", "enum": ["firing", "resolved"]},
            "kind": _STR,
            "severity": {"type": "string", "enum": ["critical", "warning", "info"]},
            "subject": _STR,
            "subject_kind": {"type": "string", "enum": ["device", "site"]},
            "site": _STR,
            "site_name": _STR,
            "device_name": _STR,
            "detail": _STR,
            "started_at": _TIME,
            "affected_sites": {"type": "integer"},
            "affected_devices": {"type": "integer"},
            "escalated": {"type": "boolean"},
            "acknowledged_by": _STR_NULL,
            "digest_only": {
                "type": "boolean",
                "description": "a workstation's failure: listed in the daily digest, never paged",
            },
        }
    ),
    "Alerts": _obj({"alerts": _list(_ref("Alert"))}),
    "Ack": _obj({"id": _STR, "acknowledged_by": _STR}),
    "AckRequest": {"type": "object", "properties": {"by": _STR}, "additionalProperties": False},
    "Silence": _obj(
        {
            "id": _STR,
            "until": _TIME,
            "devices": _list(_STR),
            "sites": _list(_STR),
            "by": _STR,
            "comment": _STR,
            "created_at": _TIME,
        }
    ),
    "Silences": _obj({"silences": _list(_ref("Silence"))}),
    "SilenceRequest": {
        "type": "object",
        "properties": {
            "devices": {**_list(_STR), "maxItems": 5000},
            "sites": {**_list(_STR), "maxItems": 5000},
            "duration": {
                "type": ["number", "string"],
                "description": 'seconds, or "2h", "30m"; more than 0 and at most 30 days',
            },
            "by": {"type": "string", "maxLength": 500},
            "comment": {"type": "string", "maxLength": 500},
        },
        "required": ["duration"],
        "additionalProperties": False,
    },
    "Window": _obj(
        {
            "id": _STR,
            "target": _STR,
            "start": {"type": "string", "format": "date-time"},
            "duration_seconds": {"type": "number"},
            "recurrence": {"type": "string", "enum": ["none", "daily", "weekly"]},
            "reason": _STR,
            "active": {"type": "boolean"},
        }
    ),
    "Windows": _obj({"windows": _list(_ref("Window"))}),
    "WindowRequest": {
        "type": "object",
        "properties": {
            "target": {"type": "string", "maxLength": 500},
            "start": {
                "type": "string",
                "maxLength": 500,
                "description": "local time (e.g. 2026-11-30T22:00) or with an offset; "
                "between 1970-01-01 and 9998-12-31 UTC, and the window must end before 9999",
            },
            "duration": {
                "type": ["number", "string"],
                "description": 'seconds, or "2h", "30m"; more than 0 and at most 7 days',
            },
            "recurrence": {"type": "string", "enum": ["none", "daily", "weekly"]},
            "reason": {"type": "string", "maxLength": 500},
        },
        "required": ["target", "start", "duration"],
        "additionalProperties": False,
    },
    "Deleted": _obj({"id": _STR, "deleted": {"const": True}}),
    "ReportRow": {
        "type": "object",
        "properties": {
            "device": _STR_NULL,
            "service": {"type": "string", "description": "by=service: the service's name"},
            "device_name": _STR_NULL,
            "site": _STR_NULL,
            "site_name": _STR_NULL,
            "name": _STR,
            "level": _STR,
            "availability": _NUM,
            "coverage": {
                **_NUM,
                "description": "share of the period whose status is known (null for an empty "
                "period): an availability over a small coverage says little",
            },
            "availability_excluding_maintenance": _NUM,
            "downtime_seconds": {"type": "number"},
            "downtime_own_seconds": {"type": "number"},
            "downtime_upstream_seconds": {"type": "number"},
            "maintenance_seconds": {"type": "number"},
            "unknown_seconds": {"type": "number"},
            "outages": {"type": "integer"},
            "mttr_seconds": _NUM,
            "longest_outage_seconds": {"type": "number"},
            "reboots": {"type": "integer"},
            "workstations_working": _NUM,
            "sites": {"type": "integer"},
            "formerly": _list(_STR),  # units merged into the row's sites, counted here
            "merged_at": _TIME,  # the merge, when the period spans it
        },
        "required": ["name", "level", "availability", "downtime_seconds", "outages"],
        "additionalProperties": False,
    },
    "Report": _obj(
        {
            "from": {"type": "string", "format": "date-time"},
            "to": {"type": "string", "format": "date-time"},
            "by": _STR,
            "level": _STR_NULL,
            "timezone": _STR,
            "rows": _list(_ref("ReportRow")),
        }
    ),
    "History": _obj(
        {
            "kind": {"type": "string", "enum": ["device", "site"]},
            "id": _STR,
            "from": {"type": "string", "format": "date-time"},
            "to": {"type": "string", "format": "date-time"},
            "status_before": _nullable("Transition"),
            "transitions": _list(_ref("Transition")),
            "truncated": {"type": "boolean"},
            "summary": _nullable("ReportRow"),
        }
    ),
}

SCHEMAS["DeviceDetail"] = {
    **SCHEMAS["DeviceSummary"],
    "properties": {
        **SCHEMAS["DeviceSummary"]["properties"],
        "site_path": _list(_ref("SiteRef")),
        "depends_on": _list(_STR),
        "checks": _list(_ref("Check")),
        "icmp": _nullable("Icmp"),
        "icmp_recent": _list(_ref("IcmpPoint")),
        "snmp_at": _TIME,
        "system": _nullable("System"),
        "interfaces": _list(_ref("Interface")),
        "host": _nullable("Host"),
        "services": _list(_ref("Service")),
        "traps": _list(_ref("Trap")),
        "transitions": _list(_ref("Transition")),
    },
}
SCHEMAS["DeviceDetail"]["required"] = list(SCHEMAS["DeviceDetail"]["properties"])


def _param(name: str, description: str, *, where: str = "query", required: bool = False) -> JSON:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "description": description,
        "schema": {"type": "string", "maxLength": 200},
    }


def _response(schema: str, description: str = "OK") -> JSON:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


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
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return op


_UNAVAILABLE = {"503": _response("Error", "history is disabled or not readable")}


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
        "paths": {
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
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def document() -> JSON:
    """The OpenAPI document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_document())
