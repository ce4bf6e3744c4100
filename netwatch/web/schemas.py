"""The schemas of the OpenAPI document (``openapi.py``): every JSON body ``/api/v1`` returns
or accepts, as JSON Schema 2020-12 under ``components.schemas``.

>>> SCHEMAS["Error"]["required"]
['error']
"""

from __future__ import annotations

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


def ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(name: str) -> JSON:
    return {"oneOf": [ref(name), {"type": "null"}]}


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
            "children": _list(ref("SiteNode")),
        }
    ),
    "Sites": _obj({"sites": _list(ref("SiteNode"))}),
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
            "devices": _list(ref("DeviceSummary")),
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
            "version": {"type": "string", "enum": ["1", "2c", "3"]},
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
    "Alerts": _obj({"alerts": _list(ref("Alert"))}),
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
    "Silences": _obj({"silences": _list(ref("Silence"))}),
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
    "Windows": _obj({"windows": _list(ref("Window"))}),
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
            "downtime_power_seconds": {
                **_NUM,
                "description": "of the downtime, the seconds while the site's UPS ran on "
                "battery (null for services)",
            },
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
            "rows": _list(ref("ReportRow")),
        }
    ),
    "History": _obj(
        {
            "kind": {"type": "string", "enum": ["device", "site"]},
            "id": _STR,
            "from": {"type": "string", "format": "date-time"},
            "to": {"type": "string", "format": "date-time"},
            "status_before": _nullable("Transition"),
            "transitions": _list(ref("Transition")),
            "truncated": {"type": "boolean"},
            "summary": _nullable("ReportRow"),
        }
    ),
}

SCHEMAS["DeviceDetail"] = {
    **SCHEMAS["DeviceSummary"],
    "properties": {
        **SCHEMAS["DeviceSummary"]["properties"],
        "site_path": _list(ref("SiteRef")),
        "depends_on": _list(_STR),
        "checks": _list(ref("Check")),
        "icmp": _nullable("Icmp"),
        "icmp_recent": _list(ref("IcmpPoint")),
        "snmp_at": _TIME,
        "system": _nullable("System"),
        "interfaces": _list(ref("Interface")),
        "host": _nullable("Host"),
        "services": _list(ref("Service")),
        "traps": _list(ref("Trap")),
        "transitions": _list(ref("Transition")),
    },
}
SCHEMAS["DeviceDetail"]["required"] = list(SCHEMAS["DeviceDetail"]["properties"])
