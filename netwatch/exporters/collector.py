"""The device, ICMP and agent part of ``/metrics``, written at scrape time from a ``View``.

It never polls and never changes state. Every per-device series carries ``device``, ``site``,
``role`` and one label per hierarchy level (the ancestor site ids), so Grafana variables can
filter by any level. Device, ICMP and agent families are here; SNMP, services, sites and
alerts have their own modules next to this one. ``dashboards/METRICS.md`` is the contract.

The text is written directly (``text.py``), not through prometheus_client: a province is about
a million series. What depends only on the inventory (each device's label pairs, the devices
and sites of each shard) is rendered once per inventory object, which a reload replaces.

>>> render_text(view, shard="ninh-kieu", cache=RenderCache())  # doctest: +SKIP
b'# HELP netwatch_device_up 1 if the device is up, else 0.\n...'
"""

from __future__ import annotations

import logging
import math
import platform
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from netwatch import __version__
from netwatch.alerting.model import Alert
from netwatch.exporters.services import ServiceFamilies, ServiceRow
from netwatch.exporters.sites import write_alerts, write_sites
from netwatch.exporters.snmp import InterfaceLabels, SnmpFamilies, SnmpRow
from netwatch.exporters.text import Family, InvalidValue, MetricsText, label_pairs
from netwatch.inventory import AGENT_SHARD, Inventory
from netwatch.models import Device, IcmpStats, Status
from netwatch.state import CheckState, StateTracker

log = logging.getLogger(__name__)

STATUSES = tuple(Status)


@dataclass(frozen=True, slots=True)
class View:
    """What the collector reads. ``site_status`` is None when there is no alert engine
    (``netwatch once``): then there are no site or alert series."""

    inventory: Inventory
    state: StateTracker
    status_of: Callable[[str], Status]
    site_status: Callable[[str], Status] | None = None
    flapping: Callable[[], set[str]] = set
    alerts: Callable[[], Sequence[Alert]] = tuple
    availability: Mapping[str, float] = field(default_factory=dict)
    reboots: Callable[[str], int] = lambda _device: 0
    traps: Callable[[str], Mapping[str, int]] = lambda _device: {}  # trap kind -> count
    clock: Callable[[], float] = time.time
    # (kind "device" or "site", id) -> epoch seconds of its last status change; None: no series
    since: Callable[[str, str], float] | None = None


class Rendered:
    """What one inventory renders to, computed on first use: every device's label pairs, the
    devices and sites of each shard, and the interface label cache of the SNMP devices.

    ``RenderCache`` keeps the one of the current inventory; a reload (a new ``Inventory``
    object) starts a new one, so nothing of a removed device lingers. A device whose labels
    cannot be rendered has none in ``labels`` and its reason in ``problems``.
    """

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.names = names = ["device", "site", "role", *inventory.config.agent.hierarchy]
        labels: dict[str, str] = {}
        self.problems: dict[str, str] = {}
        for d in inventory.config.devices:
            try:
                labels[d.id] = label_pairs(names, inventory.labels(d.id).values())
            except Exception as exc:  # one device's labels must not stop every scrape
                self.problems[d.id] = f"its labels: {type(exc).__name__}: {exc}"
        self.labels: Mapping[str, str] = labels
        self.interfaces = InterfaceLabels()
        self._scopes: dict[str | None, tuple[tuple[Device, ...], tuple[str, ...]]] = {}

    def scope(self, shard: str | None) -> tuple[tuple[Device, ...], tuple[str, ...]]:
        """The devices and site ids of ``shard`` (all of them for None), in config order."""
        scope = self._scopes.get(shard)
        if scope is None:
            inv = self.inventory
            devices, sites = inv.config.devices, tuple(inv.sites)
            if shard is not None:
                devices = tuple(d for d in devices if inv.shard_of(d.site) == shard)
                sites = tuple(sid for sid in sites if inv.shard_of(sid) == shard)
            scope = self._scopes[shard] = (devices, sites)
        return scope

    def error_labels(self, device_id: str) -> str:
        """The device's label pairs for ``netwatch_render_errors_total``: its own, or, when
        those cannot be rendered, the same names with unprintable text replaced."""
        labels = self.labels.get(device_id)
        if labels is not None:
            return labels
        try:
            values = list(self.inventory.labels(device_id).values())
        except Exception:
            values = [device_id, "", ""] + [""] * (len(self.names) - 3)
        safe = [str(v).encode(errors="backslashreplace").decode() for v in values]
        return label_pairs(self.names, safe)


class RenderErrors:
    """Devices left out of a scrape because a value of theirs could not be rendered: how
    many scrapes left each out (``netwatch_render_errors_total``), and one log line per
    device when it starts failing (another when it renders again), not one per scrape."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.failing: set[str] = set()
        self._lock = threading.Lock()

    def failed(self, device_id: str, exc: Exception) -> None:
        with self._lock:
            self.counts[device_id] = self.counts.get(device_id, 0) + 1
            if device_id in self.failing:
                return
            self.failing.add(device_id)
        if isinstance(exc, InvalidValue):
            log.warning("device %s: its series are left out of /metrics: %s", device_id, exc)
        else:  # a bug: the traceback says where
            log.warning(
                "device %s: its series are left out of /metrics: %s: %s",
                device_id,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )

    def recovered(self, device_id: str) -> None:
        with self._lock:
            if device_id not in self.failing:
                return
            self.failing.discard(device_id)
        log.info("device %s: its series are back in /metrics", device_id)

    def snapshot(self) -> list[tuple[str, int]]:
        """The counts by device id, sorted, copied under the lock (scrapes may run at once)."""
        with self._lock:
            return sorted(self.counts.items())

    def forget_all_but(self, device_ids: Collection[str]) -> None:
        """Drop what is known of devices no longer in the inventory."""
        with self._lock:
            for gone in [d for d in self.counts if d not in device_ids]:
                del self.counts[gone]
                self.failing.discard(gone)


class RenderCache:
    """Holds the ``Rendered`` of the last inventory seen, and the ``RenderErrors`` of every
    scrape; shared by concurrent scrapes (a race at a reload only renders the new inventory
    twice)."""

    def __init__(self) -> None:
        self._last: Rendered | None = None
        self._lock = threading.Lock()
        self.errors = RenderErrors()

    def of(self, inventory: Inventory) -> Rendered:
        last = self._last
        if last is None or last.inventory is not inventory:
            with self._lock:  # one thread renders a new inventory; the others wait for it
                last = self._last
                if last is None or last.inventory is not inventory:
                    last = self._last = Rendered(inventory)
                    self.errors.forget_all_but(inventory.devices)
        return last


def render_text(view: View, shard: str | None = None, *, cache: RenderCache) -> bytes:
    """The Prometheus text of ``view`` (see ``write_metrics``), UTF-8."""
    out = MetricsText()
    write_metrics(out, view, shard, cache=cache)
    return out.encode()


class _DeviceFamilies:
    """The device and ICMP families of one scrape, filled device by device; what the scrape
    reads once (the time, the flapping devices) and the view's lookups kept beside them."""

    def __init__(self, out: MetricsText, view: View, now: float) -> None:
        self.status_of = view.status_of
        self.flapping_now = view.flapping()
        self.since_of = view.since
        self.now = now
        self.up = out.family("netwatch_device_up", "gauge", "1 if the device is up, else 0.")
        self.status = out.family(
            "netwatch_device_status", "gauge", "1 for the device's current status."
        )
        self.flapping = out.family(
            "netwatch_device_flapping", "gauge", "1 while the device changes state too often."
        )
        self.since = out.family(
            "netwatch_device_status_since_timestamp_seconds",
            "gauge",
            "When the device's status last changed (Unix time; the agent's start if it never did).",
        )
        self.rtt = out.family(
            "netwatch_icmp_rtt_seconds", "gauge", "Round-trip time of the last ICMP round."
        )
        self.jitter = out.family(
            "netwatch_icmp_jitter_seconds",
            "gauge",
            "Mean absolute difference of consecutive RTTs in the last ICMP round.",
        )
        self.loss = out.family(
            "netwatch_icmp_loss_ratio",
            "gauge",
            "Share of echo requests lost in the last ICMP round.",
        )
        self.sent = out.family("netwatch_icmp_packets_sent", "counter", "Echo requests sent.")
        self.received = out.family(
            "netwatch_icmp_packets_received", "counter", "Echo replies received."
        )

    def add(self, device: Device, labels: str, icmp: CheckState | None) -> None:
        current = self.status_of(device.id)
        flapping = device.id in self.flapping_now
        since = self.since_of("device", device.id) if self.since_of is not None else None
        self.up.add(labels, 1.0 if current is Status.UP else 0.0)
        status = self.status
        for s in STATUSES:
            status.add(f'{labels},status="{s.value}"', 1.0 if s is current else 0.0)
        self.flapping.add(labels, 1.0 if flapping else 0.0)
        if since is not None:
            self.since.add(labels, since)
        if icmp is None or device.icmp is None:
            return
        self.sent.add(labels, icmp.packets_sent)
        self.received.add(labels, icmp.packets_received)
        last = icmp.last
        # Values older than two intervals are stale: better no series than a wrong one.
        if last is None or self.now - last.at > 2 * device.icmp.interval + device.icmp.timeout:
            return
        stats = last.data
        if not isinstance(stats, IcmpStats):
            return
        self.loss.add(labels, stats.loss)
        if stats.received:
            for name, value in (
                ("min", stats.rtt_min),
                ("avg", stats.rtt_avg),
                ("max", stats.rtt_max),
            ):
                if not math.isnan(value):
                    self.rtt.add(f'{labels},stat="{name}"', value)
            self.jitter.add(labels, stats.jitter)


def write_metrics(
    out: MetricsText, view: View, shard: str | None = None, *, cache: RenderCache
) -> None:
    """Write netwatch's own series of ``view`` into ``out``.

    ``shard`` (see ``Inventory.shard_of``) limits the series to one district's subtree, or to
    the agent's own series and the sites above the districts (``AGENT_SHARD``); None is all.

    Each device is written whole or not at all: a value of its own that cannot be rendered
    (``text.InvalidValue``), or any exception while writing it, takes back every series of
    that device, counts it in ``netwatch_render_errors_total`` and leaves the other devices,
    and the scrape, as they are.
    """
    inv = view.inventory
    rendered = cache.of(inv)
    devices, sites = rendered.scope(shard)
    now = view.clock()
    agent = shard is None or shard == AGENT_SHARD
    if agent:
        _write_build_info(out)
    families = _DeviceFamilies(out, view, now)
    snmp, services, traps, render_errors = _families_after_devices(out, rendered)

    states = view.state.devices
    errors = cache.errors
    failing = errors.failing
    labels_of = rendered.labels
    for device in devices:
        labels = labels_of.get(device.id)
        try:
            if labels is None:
                raise InvalidValue(rendered.problems.get(device.id, "no labels"))
            state = states.get(device.id)
            checks = state.checks if state else {}
            families.add(device, labels, checks.get("icmp"))
            if device.snmp is not None:
                snmp.add(SnmpRow(device, labels, checks.get("snmp"), view.reboots(device.id)), now)
            for service in device.services:
                check = checks.get(f"service:{service.name}")
                services.add(ServiceRow(service, labels, check), now)
            for kind, count in sorted(view.traps(device.id).items()):
                traps.add(f'{labels},kind="{kind}"', count)
        except Exception as exc:
            if labels is not None:  # without them nothing was written
                out.drop_tail(labels)
            errors.failed(device.id, exc)
            continue
        if failing and device.id in failing:
            errors.recovered(device.id)

    if errors.counts:
        _write_render_errors(render_errors, rendered, errors, devices)
    if view.site_status is not None:
        write_sites(out, inv, sites, view.site_status, view.availability, view.since)
        if agent:
            write_alerts(out, view.alerts())


def _write_build_info(out: MetricsText) -> None:
    build = out.family("netwatch_build_info", "gauge", "netwatch version and Python it runs on.")
    build.add(label_pairs(["version", "python"], [__version__, platform.python_version()]), 1.0)


def _families_after_devices(
    out: MetricsText, rendered: Rendered
) -> tuple[SnmpFamilies, ServiceFamilies, Family, Family]:
    """The SNMP, service, trap and render error families, declared in the order of the text."""
    snmp = SnmpFamilies(out, rendered.interfaces)
    services = ServiceFamilies(out)
    traps = out.family(
        "netwatch_snmp_traps",
        "counter",
        "SNMP traps and informs accepted from the device since netwatch started, by kind.",
    )
    render_errors = out.family(
        "netwatch_render_errors",
        "counter",
        "Scrapes that left out all of a device's series: one of its values could not be "
        "rendered (the log says which).",
    )
    return snmp, services, traps, render_errors


def _write_render_errors(
    family: Family, rendered: Rendered, errors: RenderErrors, devices: Sequence[Device]
) -> None:
    """Each device of this scrape's scope that some scrape left out, with how many did."""
    in_scope = {d.id for d in devices}
    for device_id, count in errors.snapshot():
        if device_id in in_scope:
            family.add(rendered.error_labels(device_id), count)
