"""The SNMP part of ``/metrics``: poll health, system, interfaces and host resources.

Read at scrape time from each device's "snmp" ``CheckState``; never polls. Names and labels are
the contract of ``dashboards/METRICS.md``. Values measured by a poll come from the last good
sample and are left out (no series, rather than a frozen one) once it is older than
``2 * interval + timeout``. Counters are the device's raw values: Prometheus' ``rate()``
handles resets (a reboot); 64-bit counters do not wrap in practice, and the 32-bit ones of old
devices (no ifXTable) wrap, which ``rate()`` reads as a reset: one interval under-counted.

At province scale this renders about a million series per scrape, so the per-series work is
kept small: the label dict of a device, of an interface and of each direction is built once
and shared by every sample that has exactly those labels (``generate_latest`` only reads them),
and samples are appended directly rather than through ``add_metric``'s ``dict(zip(...))``.

A collector yields them next to its own families, one row per SNMP-polled device::

    rows = (SnmpRow(d, labels_of(d), checks_of(d).get("snmp"), detector.reboots(d.id))
            for d in devices if d.snmp is not None)
    yield from snmp_families(rows, ["device", "site", "role", *hierarchy], time.time())
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.samples import Sample

from netwatch.models import Device, InterfaceFilter
from netwatch.probes.snmp import HostResources, Interface, SnmpData, interface_matcher
from netwatch.state import CheckState

SYS_DESCR_MAX = 256  # some agents put a whole banner in sysDescr; a label need not hold it


@dataclass(frozen=True, slots=True)
class SnmpRow:
    """One SNMP-polled device as the exporter sees it.

    ``labels`` are the values for ``label_names`` (device, site, role, hierarchy levels);
    ``check`` is the device's "snmp" check state (``None`` before its first poll); ``reboots``
    comes from ``RebootDetector.reboots(device.id)``.
    """

    device: Device
    labels: Sequence[str]
    check: CheckState | None
    reboots: int = 0


def _add(family: Metric, name: str, labels: dict[str, str], value: float) -> None:
    family.samples.append(Sample(name, labels, value))


class _Families:
    """Every SNMP family of one scrape, filled device by device."""

    def __init__(self, names: Sequence[str]) -> None:
        base = list(names)
        iface = [*base, "ifname", "ifalias"]
        per_dir = [*iface, "direction"]

        def gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=labels)

        def counter(name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
            return CounterMetricFamily(name, doc, labels=labels)

        self.up = gauge("netwatch_snmp_up", "1 if the last SNMP poll answered.", base)
        self.failures = counter(
            "netwatch_snmp_failures", "Failed SNMP polls by reason.", [*base, "reason"]
        )
        self.duration = gauge(
            "netwatch_snmp_poll_duration_seconds", "Duration of the last SNMP poll.", base
        )
        self.info = gauge(
            "netwatch_device_info",
            "1, with the device's SNMP system description.",
            [*base, "sys_name", "sys_descr", "sys_object_id"],
        )
        self.uptime = gauge(
            "netwatch_device_uptime_seconds", "sysUpTime (wraps after 497 days).", base
        )
        self.reboots = counter(
            "netwatch_device_reboots", "Reboots seen since netwatch started.", base
        )
        self.if_up = gauge("netwatch_interface_up", "1 if ifOperStatus is up.", iface)
        self.if_admin = gauge("netwatch_interface_admin_up", "1 if ifAdminStatus is up.", iface)
        self.if_speed = gauge(
            "netwatch_interface_speed_bytes",
            "ifHighSpeed (or ifSpeed) in bytes per second (Prometheus base unit; x8 for bit/s).",
            iface,
        )
        self.rx_bytes = counter(
            "netwatch_interface_receive_bytes", "ifHCInOctets (or ifInOctets), raw.", iface
        )
        self.tx_bytes = counter(
            "netwatch_interface_transmit_bytes", "ifHCOutOctets (or ifOutOctets), raw.", iface
        )
        self.rx_packets = counter(
            "netwatch_interface_receive_packets", "Unicast packets received, raw.", iface
        )
        self.tx_packets = counter(
            "netwatch_interface_transmit_packets", "Unicast packets sent, raw.", iface
        )
        self.errors = counter("netwatch_interface_errors", "ifIn/OutErrors, raw.", per_dir)
        self.discards = counter("netwatch_interface_discards", "ifIn/OutDiscards, raw.", per_dir)
        self.cpu = gauge(
            "netwatch_host_cpu_load_ratio",
            "hrProcessorLoad as a ratio, per processor and averaged.",
            [*base, "cpu"],
        )
        self.memory = gauge(
            "netwatch_host_memory_bytes", "Physical memory (hrStorageRam).", [*base, "kind"]
        )
        self.storage = gauge(
            "netwatch_host_storage_bytes",
            "Fixed disks (hrStorageFixedDisk) by description.",
            [*base, "storage", "kind"],
        )
        self.processes = gauge(
            "netwatch_host_processes", "hrSystemProcesses: processes running.", base
        )
        self.load = gauge(
            "netwatch_host_load_average", "UCD-SNMP load averages.", [*base, "period"]
        )
        self._names = base

    def all(self) -> tuple[Metric, ...]:
        return (
            self.up, self.failures, self.duration, self.info, self.uptime, self.reboots,
            self.if_up, self.if_admin, self.if_speed, self.rx_bytes, self.tx_bytes,
            self.rx_packets, self.tx_packets, self.errors, self.discards,
            self.cpu, self.memory, self.storage, self.processes, self.load,
        )  # fmt: skip

    def add(self, row: SnmpRow, now: float) -> None:
        settings = row.device.snmp
        if settings is None:
            return
        labels = dict(zip(self._names, row.labels, strict=True))
        _add(self.reboots, "netwatch_device_reboots_total", labels, row.reboots)
        check = row.check
        if check is None:
            return
        last = check.last
        if last is not None:
            _add(self.up, "netwatch_snmp_up", labels, 1.0 if last.ok else 0.0)
            _add(self.duration, "netwatch_snmp_poll_duration_seconds", labels, last.duration)
        for reason, count in check.failure_counts.items():
            _add(self.failures, "netwatch_snmp_failures_total", {**labels, "reason": reason}, count)
        good = check.last_ok
        if good is None or now - good.at > 2 * settings.interval + settings.timeout:
            return  # stale: no series rather than a frozen one
        data = good.data
        if not isinstance(data, SnmpData):
            return
        system = data.system
        if system is not None:
            info = {
                **labels,
                "sys_name": system.sys_name,
                "sys_descr": system.sys_descr[:SYS_DESCR_MAX],
                "sys_object_id": system.sys_object_id,
            }
            _add(self.info, "netwatch_device_info", info, 1.0)
            if system.sys_uptime_seconds is not None:
                _add(
                    self.uptime, "netwatch_device_uptime_seconds", labels, system.sys_uptime_seconds
                )
        if data.interfaces:
            self._interfaces(labels, data.interfaces, settings.interfaces)
        if data.host is not None:
            self._host(labels, data.host)

    def _interfaces(
        self, labels: dict[str, str], interfaces: Iterable[Interface], rule: InterfaceFilter
    ) -> None:
        keep = interface_matcher(rule)
        seen: set[str] = set()
        for iface in interfaces:
            if keep is not None and not keep(iface):
                continue
            # Two rows with one name (ifDescr fallbacks repeat) would be duplicate series.
            name = iface.name or f"#{iface.index}"
            if name in seen:
                name = f"{name}#{iface.index}"
            seen.add(name)
            il = {**labels, "ifname": name, "ifalias": iface.alias}
            _add(self.if_up, "netwatch_interface_up", il, 1.0 if iface.oper_up else 0.0)
            _add(self.if_admin, "netwatch_interface_admin_up", il, 1.0 if iface.admin_up else 0.0)
            for family, sample_name, value in (
                (self.if_speed, "netwatch_interface_speed_bytes", _bytes(iface.speed_bps)),
                (self.rx_bytes, "netwatch_interface_receive_bytes_total", iface.in_octets),
                (self.tx_bytes, "netwatch_interface_transmit_bytes_total", iface.out_octets),
                (self.rx_packets, "netwatch_interface_receive_packets_total", iface.in_ucast_pkts),
                (
                    self.tx_packets,
                    "netwatch_interface_transmit_packets_total",
                    iface.out_ucast_pkts,
                ),
            ):
                if value is not None:
                    _add(family, sample_name, il, value)
            rx = {**il, "direction": "receive"}
            tx = {**il, "direction": "transmit"}
            for family, sample_name, rx_value, tx_value in (
                (self.errors, "netwatch_interface_errors_total", iface.in_errors, iface.out_errors),
                (
                    self.discards, "netwatch_interface_discards_total",
                    iface.in_discards, iface.out_discards,
                ),
            ):  # fmt: skip
                if rx_value is not None:
                    _add(family, sample_name, rx, rx_value)
                if tx_value is not None:
                    _add(family, sample_name, tx, tx_value)

    def _host(self, labels: dict[str, str], host: HostResources) -> None:
        loads = host.cpu_loads
        for i, load in enumerate(loads):
            _add(self.cpu, "netwatch_host_cpu_load_ratio", {**labels, "cpu": str(i)}, load)
        if loads:
            avg = sum(loads) / len(loads)
            _add(self.cpu, "netwatch_host_cpu_load_ratio", {**labels, "cpu": "avg"}, avg)
        ram = [s for s in host.storage if s.type == "ram"]
        if ram:
            size = sum(s.size_bytes for s in ram)
            used = sum(s.used_bytes for s in ram)
            _add(self.memory, "netwatch_host_memory_bytes", {**labels, "kind": "size"}, size)
            _add(self.memory, "netwatch_host_memory_bytes", {**labels, "kind": "used"}, used)
        seen: set[str] = set()
        for disk in host.storage:
            if disk.type != "fixed disk":
                continue
            name = disk.description or f"#{disk.index}"
            if name in seen:
                name = f"{name}#{disk.index}"
            seen.add(name)
            for kind, value in (("size", disk.size_bytes), ("used", disk.used_bytes)):
                sl = {**labels, "storage": name, "kind": kind}
                _add(self.storage, "netwatch_host_storage_bytes", sl, value)
        if host.processes is not None:
            _add(self.processes, "netwatch_host_processes", labels, host.processes)
        if host.load_average is not None:
            for period, load in zip(("1m", "5m", "15m"), host.load_average, strict=True):
                pl = {**labels, "period": period}
                _add(self.load, "netwatch_host_load_average", pl, load)


def _bytes(bits_per_second: int | None) -> float | None:
    return None if bits_per_second is None else bits_per_second / 8


def snmp_families(
    rows: Iterable[SnmpRow], label_names: Sequence[str], now: float
) -> Iterator[Metric]:
    """Every SNMP metric family for ``rows``, read at ``now`` (epoch seconds).

    Devices without SNMP settings are skipped; ``label_names`` is ``["device", "site", "role",
    *hierarchy]`` and each row's ``labels`` holds the values in that order.
    """
    families = _Families(label_names)
    for row in rows:
        families.add(row, now)
    yield from families.all()
