"""A device's JSON-ready views, shared by the API and the HTML pages: a row of the device
list, the list itself (filtered, worst first) and everything the device page shows.

A device whose values JSON cannot carry, or whose measurements raise while being read, is shown
as its inventory and status only, and logged once (``_Unshown``): one device never turns a
page or an API answer into an error. Times and the status order are those of ``views``.

>>> json_safe({"rtt": float("nan"), "counters": [2**64 - 1]})
{'rtt': None, 'counters': [18446744073709551615]}
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from netwatch.models import Device, IcmpStats, Status
from netwatch.probes.service_model import ServiceData
from netwatch.probes.snmp import SnmpData
from netwatch.state import CheckState
from netwatch.web.backend import Backend
from netwatch.web.recent import Recent
from netwatch.web.views import JSON, STATUS_ORDER, iso, site_path, subtree, tz_of

log = logging.getLogger(__name__)

# What JSON parsers read as a number without loss or error: 64-bit integers (counters).
JSON_INT_MIN, JSON_INT_MAX = -(2**63), 2**64 - 1


def _num(value: float | None) -> float | None:
    """JSON has no NaN: a missing measurement is ``null``."""
    if value is None or not math.isfinite(value):
        return None
    return value


def device_summary(backend: Backend, device: Device) -> JSON:
    """One row of the device list."""
    tz = tz_of(backend)
    engine = backend.engine
    state = backend.state.devices.get(device.id)
    site = backend.inventory.sites.get(device.site)
    icmp = state.checks.get("icmp") if state else None
    stats = icmp.last.data if icmp and icmp.last else None
    loss = rtt = None
    if isinstance(stats, IcmpStats):
        loss, rtt = stats.loss, _num(stats.rtt_avg)
    cause = engine.root_cause(device.id)
    return {
        "id": device.id,
        "name": device.name or device.id,
        "address": device.address,
        "role": device.role.value,
        "site": device.site,
        "site_name": (site.name or site.id) if site else device.site,
        "status": engine.status_of(device.id).value,
        "own_status": (state.status if state else Status.UNKNOWN).value,
        "since": iso(engine.status_since("device", device.id), tz),
        "cause": cause if cause != device.id else None,
        "flapping": device.id in engine.flapping(),
        "rtt_seconds": rtt,
        "loss_ratio": loss,
    }


SUMMARY_KEYS = (
    "id", "name", "address", "role", "site", "site_name", "status", "own_status", "since",
    "cause", "flapping", "rtt_seconds", "loss_ratio",
)  # fmt: skip


def device_list(
    backend: Backend, *, site: str | None, status: Status | None, q: str | None
) -> list[JSON]:
    """Devices in ``site``'s subtree with ``status`` whose id, name or address contains ``q``;
    worst first, then by name."""
    inv = backend.inventory
    devices: Iterable[Device] = inv.devices.values()
    if site is not None:
        wanted = set(subtree(backend, site))
        devices = (d for d in devices if d.site in wanted)
    needle = q.casefold() if q else None
    rows = []
    for d in devices:
        if needle is not None and not any(
            needle in text.casefold() for text in (d.id, d.name, d.address)
        ):
            continue
        try:
            row = device_summary(backend, d)
        except Exception as exc:  # one device's bug must not take the whole list down
            _UNSHOWN.failed(d.id, exc)
            bare = _bare_detail(backend, d)
            row = {k: bare[k] for k in SUMMARY_KEYS}
        if status is not None and row["status"] != status.value:
            continue
        rows.append(row)
    rows.sort(key=lambda r: (STATUS_ORDER[Status(r["status"])], r["name"]))
    return rows


def _check(name: str, check: CheckState, tz: str) -> JSON:
    last = check.last
    failure = last.failure if last else None
    return {
        "name": name,
        "status": check.status.value,
        "since": iso(check.since, tz),
        "last_at": iso(last.at, tz) if last else None,
        "ok": last.ok if last else None,
        "duration_seconds": _num(last.duration) if last else None,
        "failure": {"kind": failure.kind.value, "detail": failure.detail} if failure else None,
        "last_ok_at": iso(check.last_ok.at, tz) if check.last_ok else None,
    }


def json_safe(value: Any, where: str = "") -> Any:
    """``value`` with each NaN or infinity made ``None`` (JSON has none: a missing
    measurement is ``null``); ``ValueError`` for what no JSON parser reads whole: an integer
    beyond 64 bits, text with no UTF-8 form (a lone surrogate), a value of another type."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                raise ValueError(f"{where}: text with no UTF-8 form") from None
        return value
    if isinstance(value, int):
        if not JSON_INT_MIN <= value <= JSON_INT_MAX:
            raise ValueError(f"{where}: an integer of {value.bit_length()} bits")
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise ValueError(f"{where}: a {type(value).__name__}")


class _Unshown:
    """Devices shown without their measurements: logged once each, again when they recover
    and fail anew (a status page refreshing every few seconds must not fill the log)."""

    def __init__(self) -> None:
        self._failing: set[str] = set()
        self._lock = threading.Lock()

    def failed(self, device_id: str, exc: Exception) -> None:
        with self._lock:
            if device_id in self._failing:
                return
            self._failing.add(device_id)
        log.warning(
            "device %s: shown without its measurements, one cannot be rendered: %s: %s",
            device_id,
            type(exc).__name__,
            exc,
            exc_info=not isinstance(exc, ValueError),  # a bug: the traceback says where
        )

    def recovered(self, device_id: str) -> None:
        if device_id in self._failing:
            with self._lock:
                self._failing.discard(device_id)
            log.info("device %s: shown with its measurements again", device_id)


_UNSHOWN = _Unshown()


def device_detail(backend: Backend, device: Device, recent: Recent) -> JSON:
    """Everything the device page shows, except the history (see ``transitions``).

    Ready for JSON (``json_safe``). A device one of whose values JSON cannot carry, or whose
    measurements raise while being read, is shown as its inventory and status only (every
    measurement empty), and logged once: one device never turns its page or
    ``/api/v1/devices/{id}`` into an error.
    """
    try:
        out: JSON = json_safe(_device_detail(backend, device, recent))
    except Exception as exc:
        _UNSHOWN.failed(device.id, exc)
        return _bare_detail(backend, device)
    _UNSHOWN.recovered(device.id)
    return out


def _bare_detail(backend: Backend, device: Device) -> JSON:
    """The device from the inventory, its status, and no measurement."""
    site = backend.inventory.sites.get(device.site)
    state = backend.state.devices.get(device.id)
    try:
        status = backend.engine.status_of(device.id).value
    except Exception:
        status = Status.UNKNOWN.value
    out: JSON = {
        "id": device.id,
        "name": device.name or device.id,
        "address": device.address,
        "role": device.role.value,
        "site": device.site,
        "site_name": (site.name or site.id) if site else device.site,
        "status": status,
        "own_status": (state.status if state else Status.UNKNOWN).value,
        "since": None,
        "cause": None,
        "flapping": False,
        "rtt_seconds": None,
        "loss_ratio": None,
        "site_path": [],
        "depends_on": list(device.depends_on),
        "checks": [],
        "icmp": None,
        "icmp_recent": [],
        "snmp_at": None,
        "system": None,
        "interfaces": [],
        "host": None,
        "services": [],
        "traps": [],
    }
    try:
        return dict(json_safe(out))
    except ValueError:  # text of the inventory itself: shown escaped rather than not at all
        return {
            k: v.encode(errors="backslashreplace").decode() if isinstance(v, str) else v
            for k, v in out.items()
        }


def _device_detail(backend: Backend, device: Device, recent: Recent) -> JSON:
    tz = tz_of(backend)
    out = device_summary(backend, device)
    state = backend.state.devices.get(device.id)
    checks = state.checks if state else {}
    out["site_path"] = (
        site_path(backend, device.site) if device.site in backend.inventory.sites else []
    )
    out["depends_on"] = list(device.depends_on)
    out["checks"] = [_check(name, c, tz) for name, c in sorted(checks.items())]
    icmp = checks.get("icmp")
    out["icmp"] = _icmp(icmp, tz)
    out["icmp_recent"] = [
        {"at": iso(p.at, tz), "rtt_seconds": _num(p.rtt), "loss_ratio": p.loss}
        for p in recent.icmp(device.id)
    ]
    snmp = checks.get("snmp")
    data = snmp.last_ok.data if snmp and snmp.last_ok else None
    out["snmp_at"] = iso(snmp.last_ok.at, tz) if snmp and snmp.last_ok else None
    snmp_data = data if isinstance(data, SnmpData) else None
    out["system"] = _system(snmp_data)
    out["interfaces"] = _interfaces(snmp_data, recent.rates(device.id))
    out["host"] = _host(snmp_data)
    out["services"] = [
        _service(name.removeprefix("service:"), c, tz)
        for name, c in sorted(checks.items())
        if name.startswith("service:")
    ]
    # The daemon's backend has them (netwatch.traps); a backend without a receiver does not.
    traps_of = getattr(backend, "recent_traps", None)
    out["traps"] = [
        {
            "at": iso(r.at, tz),
            "kind": r.kind,
            "oid": r.oid,
            "pdu": r.pdu,
            "version": r.version,
            "source": r.source,
            "uptime_seconds": r.uptime_seconds,
            "detail": r.detail,
        }
        for r in (traps_of(device.id) if callable(traps_of) else ())
    ]
    return out


def _icmp(check: CheckState | None, tz: str) -> JSON | None:
    if check is None or check.last is None or not isinstance(check.last.data, IcmpStats):
        return None
    s = check.last.data
    return {
        "at": iso(check.last.at, tz),
        "sent": s.sent,
        "received": s.received,
        "loss_ratio": s.loss,
        "rtt_min_seconds": _num(s.rtt_min),
        "rtt_avg_seconds": _num(s.rtt_avg),
        "rtt_max_seconds": _num(s.rtt_max),
        "jitter_seconds": _num(s.jitter),
    }


def _system(data: SnmpData | None) -> JSON | None:
    if data is None or data.system is None:
        return None
    s = data.system
    return {
        "name": s.sys_name,
        "description": s.sys_descr,
        "uptime_seconds": _num(s.hr_system_uptime_seconds or s.sys_uptime_seconds),
    }


def _interfaces(
    data: SnmpData | None, rates: Mapping[int, tuple[float | None, float | None]]
) -> list[JSON]:
    if data is None or not data.interfaces:
        return []
    out = []
    for i in data.interfaces:
        rx, tx = rates.get(i.index, (None, None))
        out.append(
            {
                "index": i.index,
                "name": i.name,
                "alias": i.alias,
                "oper_up": i.oper_up,
                "admin_up": i.admin_up,
                "speed_bps": i.speed_bps,
                "receive_bps": _num(rx),
                "transmit_bps": _num(tx),
                "receive_bytes": i.in_octets,
                "transmit_bytes": i.out_octets,
                "errors": (i.in_errors or 0) + (i.out_errors or 0)
                if i.in_errors is not None or i.out_errors is not None
                else None,
            }
        )
    return out


def _host(data: SnmpData | None) -> JSON | None:
    if data is None or data.host is None:
        return None
    h = data.host
    cpu = sum(h.cpu_loads) / len(h.cpu_loads) if h.cpu_loads else None
    ram = [s for s in h.storage if s.type == "ram"]
    disks = [s for s in h.storage if s.type == "fixed disk"]
    return {
        "cpu_load_ratio": _num(cpu),
        "cpus": len(h.cpu_loads),
        "memory": (
            {"size_bytes": ram[0].size_bytes, "used_bytes": ram[0].used_bytes} if ram else None
        ),
        "disks": [
            {"name": d.description, "size_bytes": d.size_bytes, "used_bytes": d.used_bytes}
            for d in disks
        ],
        "processes": h.processes,
        "load_average": list(h.load_average) if h.load_average else None,
    }


def _service(name: str, check: CheckState, tz: str) -> JSON:
    data = check.last.data if check.last else None
    sd = data if isinstance(data, ServiceData) else None
    return {
        "name": name,
        "status": check.status.value,
        "status_code": sd.status_code if sd else None,
        "duration_seconds": _num(sd.duration) if sd else None,
        "cert_expires_at": iso(sd.cert.not_after, tz) if sd and sd.cert else None,
    }
