"""An incident as the engine tracks it, and the ``Alert`` values made from it.

An incident lives from the moment a failure is confirmed (and not held) until it ends; every
message about it (firing, repeat, escalation, resolved) is an ``Alert`` with the same ``id``.

>>> inc = Incident(IncidentKey("down", "r1"), "down:r1:1700000000", "down", "r1", "xa-1", 1.7e9,
...                "timeout", "warning", digest=False)
>>> inc.escalated, inc.notified
(False, False)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Protocol

from netwatch.alerting.model import Alert, AlertKind, AlertState
from netwatch.instants import check_epoch
from netwatch.models import Device, Site
from netwatch.settings.alerting import Severity

SEVERITY_RANK: Mapping[Severity, int] = {"info": 0, "warning": 1, "critical": 2}


class _Inventory(Protocol):
    @property
    def sites(self) -> Mapping[str, Site]: ...

    @property
    def devices(self) -> Mapping[str, Device]: ...

    def labels(self, device_id: str) -> Mapping[str, str]: ...


IncidentKind = Literal["down", "flapping", "service"]
_KINDS: tuple[IncidentKind, ...] = ("down", "flapping", "service")


@dataclass(frozen=True, slots=True)
class IncidentKey:
    """What an incident (or a held alert) is about: one kind of failure of one device, and for
    a service failure the service. Written as ``down:<device>``, ``flapping:<device>`` or
    ``service:<device>:<service>`` in ``incidents.json``.

    >>> key = IncidentKey("service", "srv-1", "portal")
    >>> str(key), IncidentKey.parse(str(key)) == key
    ('service:srv-1:portal', True)
    """

    kind: IncidentKind
    device: str
    service: str = ""

    def __str__(self) -> str:
        tail = f":{self.service}" if self.kind == "service" else ""
        return f"{self.kind}:{self.device}{tail}"

    @classmethod
    def parse(cls, text: str) -> IncidentKey:
        kind, _, rest = text.partition(":")
        device, _, service = rest.partition(":") if kind == "service" else (rest, "", "")
        for k in _KINDS:
            if kind == k and device and (k == "service") == bool(service):
                return cls(k, device, service)
        raise ValueError(f"not an incident key: {text[:80]!r}")


@dataclass(slots=True)
class Incident:
    key: IncidentKey
    id: str
    kind: AlertKind
    device: str
    site: str  # the root cause's site when it opened
    started_at: float
    detail: str
    severity: Severity
    digest: bool  # a digest role: listed in the site's daily digest, never sent on its own
    notified: bool = False  # a firing message went out
    reason: str = ""  # why the last message was not sent
    escalated_to: tuple[str, ...] = ()
    acked_by: str | None = None
    repeats: int = 0  # reminders sent so far (each has its own delivery key)
    affected_devices: dict[str, None] = field(default_factory=dict)  # ordered set
    affected_sites: dict[str, None] = field(default_factory=dict)

    @property
    def escalated(self) -> bool:
        return bool(self.escalated_to)


def incidents_to_json(incidents: Sequence[Incident]) -> str:
    """The engine's open incidents as JSON, for the daemon to keep across a restart.

    >>> key = IncidentKey("down", "r1")
    >>> inc = Incident(key, "down:r1:1", "down", "r1", "xa-1", 1.0, "", "warning", False)
    >>> incidents_from_json(incidents_to_json([inc])) == [inc]
    True
    """
    docs = [{**asdict(i), "key": str(i.key)} for i in incidents]
    return json.dumps(docs, ensure_ascii=False, sort_keys=True)


def incidents_from_json(text: str, errors: list[str] | None = None) -> list[Incident]:
    """The inverse of :func:`incidents_to_json`; unknown keys (a newer netwatch) are ignored.
    An entry that is not a valid incident is skipped, and named in ``errors`` when given.
    Raises ValueError when the text is not a JSON list (or nests absurdly deep)."""
    try:
        docs = json.loads(text)
    except RecursionError:
        raise ValueError("the JSON nests too deeply") from None
    if not isinstance(docs, list):
        raise ValueError("expected a JSON list of incidents")
    names = {f.name for f in fields(Incident)}
    found: list[Incident] = []
    for doc in docs:
        try:
            found.append(_incident(doc, names))
        except (TypeError, ValueError, AttributeError) as exc:
            what = doc.get("id", "?") if isinstance(doc, dict) else "?"
            if errors is not None:
                errors.append(f"incident {str(what)[:200]!r}: {exc}")
    return found


def _incident(doc: object, names: set[str]) -> Incident:
    if not isinstance(doc, dict):
        raise TypeError("not a JSON object")
    kwargs: dict[str, Any] = {k: v for k, v in doc.items() if k in names}
    kwargs["escalated_to"] = tuple(kwargs.get("escalated_to", ()))
    for key in ("affected_devices", "affected_sites"):
        kwargs[key] = dict.fromkeys(kwargs.get(key, {}))
    if not isinstance(kwargs.get("key"), str):
        raise TypeError("key is not a string")
    kwargs["key"] = IncidentKey.parse(kwargs["key"])
    inc = Incident(**kwargs)
    texts = (inc.id, inc.kind, inc.device, inc.site, inc.detail, inc.reason)
    ids = (*inc.escalated_to, *inc.affected_devices, *inc.affected_sites)
    if not all(isinstance(t, str) for t in (*texts, *ids)):
        raise TypeError("a text field is not a string")
    if inc.severity not in SEVERITY_RANK:
        raise ValueError(f"unknown severity {str(inc.severity)[:20]!r}")
    if isinstance(inc.started_at, bool) or not isinstance(inc.started_at, int | float):
        raise TypeError("started_at is not a number")
    check_epoch(inc.started_at, "started_at")
    return inc


def incident_alert(inc: Incident, state: AlertState, now: float, inventory: _Inventory) -> Alert:
    device = inventory.devices[inc.device]
    site = inventory.sites.get(device.site) or inventory.sites[inc.site]
    return Alert(
        id=inc.id,
        state=state,
        kind=inc.kind,
        severity=inc.severity,
        subject=inc.device,
        subject_kind="device",
        site=site.id,
        site_name=site.name,
        device_name=device.name or device.id,
        detail=inc.detail,
        started_at=inc.started_at,
        resolved_at=now if state == "resolved" else None,
        affected_sites=tuple(inc.affected_sites),
        affected_devices=tuple(inc.affected_devices),
        labels=dict(inventory.labels(inc.device)),
        escalated=inc.escalated,
        acknowledged_by=inc.acked_by,
        service=inc.key.service,
        repeat=inc.repeats if state == "firing" else 0,
        digest_only=inc.digest,
    )


def digest_alert(
    site: Site,
    listed: Sequence[Incident],
    day: str,
    recovered: Sequence[tuple[str, float, float]] = (),
) -> Alert:
    """One site's daily digest: the devices (workstations) still down, then those that failed
    since the last digest and are back (``recovered``: device, went down, came back)."""
    items = tuple(i.device for i in listed) + tuple(d for d, _, _ in recovered)
    downtimes = (None,) * len(listed) + tuple(back - down for _, down, back in recovered)
    severities = [i.severity for i in listed] or ["info"]
    starts = [i.started_at for i in listed] + [down for _, down, _ in recovered]
    return Alert(
        id=f"digest:{site.id}:{day}",
        state="firing",
        kind="digest",
        severity=max(severities, key=SEVERITY_RANK.__getitem__),
        subject=site.id,
        subject_kind="site",
        site=site.id,
        site_name=site.name,
        detail=f"{len(listed)} down, {len(recovered)} back",
        started_at=min(starts),
        affected_devices=tuple(i.device for i in listed),
        items=items,
        item_downtimes=downtimes,
        labels={"site": site.id},
    )
