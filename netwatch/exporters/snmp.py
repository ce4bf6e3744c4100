"""The SNMP part of ``/metrics``: poll health, system, interfaces and host resources.

Read at scrape time from each device's "snmp" ``CheckState``; never polls. Names and labels are
the contract of ``dashboards/METRICS.md``. Values measured by a poll come from the last good
sample and are left out (no series, rather than a frozen one) once it is older than
``2 * interval + timeout``. Counters are the device's raw values: Prometheus' ``rate()``
handles resets (a reboot); 64-bit counters do not wrap in practice, and the 32-bit ones of old
devices (no ifXTable) wrap, which ``rate()`` reads as a reset: one interval under-counted.

At province scale this renders about a million series per scrape, so the per-series work is
kept small: lines are written straight into ``MetricsText`` (see ``text.py``), a device's label
pairs come pre-rendered in its row, and the label pairs of its interfaces (filtered, named,
escaped) are kept in an ``InterfaceLabels`` cache while the poll's interface tuple is the same
object, so a scrape between two polls only formats values.

A collector writes them next to its own families, one row per SNMP-polled device::

    rows = (SnmpRow(d, pairs_of(d), checks_of(d).get("snmp"), detector.reboots(d.id))
            for d in devices if d.snmp is not None)
    write_snmp(out, rows, time.time(), interface_labels)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from netwatch.exporters.health import HealthFamilies
from netwatch.exporters.text import Family, MetricsText, escape
from netwatch.models import Device, InterfaceFilter
from netwatch.probes.snmp_data import HostResources, Interface, SnmpData, interface_matcher
from netwatch.state import CheckState

SYS_DESCR_MAX = 256  # some agents put a whole banner in sysDescr; a label need not hold it


@dataclass(frozen=True, slots=True)
class SnmpRow:
    """One SNMP-polled device as the exporter sees it.

    ``labels`` are the device's label pairs, ``label_pairs(["device", "site", "role",
    *hierarchy], values)``; ``check`` is the device's "snmp" check state (``None`` before its
    first poll); ``reboots`` comes from ``RebootDetector.reboots(device.id)``.
    """

    device: Device
    labels: str
    check: CheckState | None
    reboots: int = 0


@dataclass(frozen=True, slots=True)
class _Ports:
    """The label pairs of a device's exported interfaces, for one poll's interface tuple."""

    interfaces: tuple[Interface, ...]
    device_labels: str
    rule: InterfaceFilter
    # (interface, its pairs, with direction="receive", with direction="transmit")
    rows: tuple[tuple[Interface, str, str, str], ...]


class InterfaceLabels:
    """Interface label pairs by device id, kept while the poll's interface tuple is the same
    object (a new poll replaces it). Safe to share between concurrent scrapes: an entry is
    replaced whole, and a lost race only renders one device's pairs twice."""

    def __init__(self) -> None:
        self._ports: dict[str, _Ports] = {}

    def of(
        self,
        device_id: str,
        device_labels: str,
        interfaces: tuple[Interface, ...],
        rule: InterfaceFilter,
    ) -> tuple[tuple[Interface, str, str, str], ...]:
        ports = self._ports.get(device_id)
        if (
            ports is None
            or ports.interfaces is not interfaces
            or ports.device_labels != device_labels
            or ports.rule != rule
        ):
            rows = _interface_rows(device_labels, interfaces, rule)
            ports = self._ports[device_id] = _Ports(interfaces, device_labels, rule, rows)
        return ports.rows


def _interface_rows(
    device_labels: str, interfaces: Iterable[Interface], rule: InterfaceFilter
) -> tuple[tuple[Interface, str, str, str], ...]:
    keep = interface_matcher(rule)
    seen: set[str] = set()
    rows = []
    for iface in interfaces:
        if keep is not None and not keep(iface):
            continue
        # Two rows with one name (ifDescr fallbacks repeat) would be duplicate series.
        name = iface.name or f"#{iface.index}"
        if name in seen:
            name = f"{name}#{iface.index}"
        seen.add(name)
        pairs = f'{device_labels},ifname="{escape(name)}",ifalias="{escape(iface.alias)}"'
        rows.append((iface, pairs, f'{pairs},direction="receive"', f'{pairs},direction="transmit"'))
    return tuple(rows)


class SnmpFamilies:
    """Every SNMP family of one scrape, declared in ``out`` and filled device by device
    (``add``); a device's values that cannot be written raise (``text.InvalidValue``)."""

    def __init__(self, out: MetricsText, interfaces: InterfaceLabels) -> None:
        self._interface_labels = interfaces

        def gauge(name: str, help_text: str) -> Family:
            return out.family(name, "gauge", help_text)

        def counter(name: str, help_text: str) -> Family:
            return out.family(name, "counter", help_text)

        self.up = gauge("netwatch_snmp_up", "1 if the last SNMP poll answered.")
        self.failures = counter("netwatch_snmp_failures", "Failed SNMP polls by reason.")
        self.duration = gauge(
            "netwatch_snmp_poll_duration_seconds", "Duration of the last SNMP poll."
        )
        self.info = gauge("netwatch_device_info", "1, with the device's SNMP system description.")
        self.uptime = gauge("netwatch_device_uptime_seconds", "sysUpTime (wraps after 497 days).")
        self.reboots = counter("netwatch_device_reboots", "Reboots seen since netwatch started.")
        self.if_rows = gauge(
            "netwatch_snmp_interface_rows",
            "Rows of ifTable/ifXTable the agent showed, before the filter (0: none in its view).",
        )
        self.if_up = gauge("netwatch_interface_up", "1 if ifOperStatus is up.")
        self.if_admin = gauge("netwatch_interface_admin_up", "1 if ifAdminStatus is up.")
        self.if_speed = gauge(
            "netwatch_interface_speed_bytes",
            "ifHighSpeed (or ifSpeed) in bytes per second (Prometheus base unit; x8 for bit/s).",
        )
        self.rx_bytes = counter(
            "netwatch_interface_receive_bytes", "ifHCInOctets (or ifInOctets), raw."
        )
        self.tx_bytes = counter(
            "netwatch_interface_transmit_bytes", "ifHCOutOctets (or ifOutOctets), raw."
        )
        self.rx_packets = counter(
            "netwatch_interface_receive_packets", "Unicast packets received, raw."
        )
        self.tx_packets = counter(
            "netwatch_interface_transmit_packets", "Unicast packets sent, raw."
        )
        self.errors = counter("netwatch_interface_errors", "ifIn/OutErrors, raw.")
        self.discards = counter("netwatch_interface_discards", "ifIn/OutDiscards, raw.")
        self.cpu = gauge(
            "netwatch_host_cpu_load_ratio",
            "hrProcessorLoad as a ratio, per processor and averaged.",
        )
        self.memory = gauge("netwatch_host_memory_bytes", "Physical memory (hrStorageRam).")
        self.storage = gauge(
            "netwatch_host_storage_bytes", "Fixed disks (hrStorageFixedDisk) by description."
        )
        self.processes = gauge("netwatch_host_processes", "hrSystemProcesses: processes running.")
        self.load = gauge("netwatch_host_load_average", "UCD-SNMP load averages.")
        self.health = HealthFamilies(out, self.cpu, self.memory)

    def add(self, row: SnmpRow, now: float) -> None:
        settings = row.device.snmp
        if settings is None:
            return
        labels = row.labels
        self.reboots.add(labels, row.reboots)
        check = row.check
        if check is None:
            return
        last = check.last
        if last is not None:
            self.up.add(labels, 1.0 if last.ok else 0.0)
            self.duration.add(labels, last.duration)
        for reason, count in check.failure_counts.items():
            self.failures.add(f'{labels},reason="{escape(reason)}"', count)
        good = check.last_ok
        if good is None or now - good.at > 2 * settings.interval + settings.timeout:
            return  # stale: no series rather than a frozen one
        data = good.data
        if not isinstance(data, SnmpData):
            return
        system = data.system
        if system is not None:
            info = (
                f'{labels},sys_name="{escape(system.sys_name)}"'
                f',sys_descr="{escape(system.sys_descr[:SYS_DESCR_MAX])}"'
                f',sys_object_id="{escape(system.sys_object_id)}"'
            )
            self.info.add(info, 1.0)
            if system.sys_uptime_seconds is not None:
                self.uptime.add(labels, system.sys_uptime_seconds)
        if data.interface_rows is not None:
            self.if_rows.add(labels, data.interface_rows)
        if data.interfaces:
            ports = self._interface_labels.of(
                row.device.id, labels, data.interfaces, settings.interfaces
            )
            self._interfaces(ports)
        health = data.health
        if health is not None:  # a vendor's CPU and memory win over host-resources'
            self.health.add(labels, health)
        if data.host is not None:
            self._host(
                labels,
                data.host,
                cpu=health is None or not health.cpu,
                memory=health is None or not health.memory,
            )

    def _interfaces(self, ports: Iterable[tuple[Interface, str, str, str]]) -> None:
        # The hot loop of a province scrape (~96,000 interfaces): families bound to locals.
        if_up, if_admin, if_speed = self.if_up.add, self.if_admin.add, self.if_speed.add
        rx_bytes, tx_bytes = self.rx_bytes.add, self.tx_bytes.add
        rx_packets, tx_packets = self.rx_packets.add, self.tx_packets.add
        errors, discards = self.errors.add, self.discards.add
        for iface, il, rx, tx in ports:
            if_up(il, 1.0 if iface.oper_up else 0.0)
            if_admin(il, 1.0 if iface.admin_up else 0.0)
            if iface.speed_bps is not None:
                if_speed(il, iface.speed_bps / 8)
            for add, value in (
                (rx_bytes, iface.in_octets),
                (tx_bytes, iface.out_octets),
                (rx_packets, iface.in_ucast_pkts),
                (tx_packets, iface.out_ucast_pkts),
            ):
                if value is not None:
                    add(il, value)
            for add, labels, value in (
                (errors, rx, iface.in_errors),
                (errors, tx, iface.out_errors),
                (discards, rx, iface.in_discards),
                (discards, tx, iface.out_discards),
            ):
                if value is not None:
                    add(labels, value)

    def _host(
        self, labels: str, host: HostResources, *, cpu: bool = True, memory: bool = True
    ) -> None:
        loads = host.cpu_loads if cpu else ()
        for i, load in enumerate(loads):
            self.cpu.add(f'{labels},cpu="{i}"', load)
        if loads:
            self.cpu.add(f'{labels},cpu="avg"', sum(loads) / len(loads))
        ram = [s for s in host.storage if s.type == "ram"] if memory else []
        size = sum(s.size_bytes for s in ram)
        if ram:
            used = sum(s.used_bytes for s in ram)
            self.memory.add(f'{labels},kind="size"', size)
            self.memory.add(f'{labels},kind="used"', used)
            if size > 0:
                self.health.memory_ratio.add(f'{labels},pool="physical"', used / size)
        seen: set[str] = set()
        for disk in host.storage:
            if disk.type != "fixed disk":
                continue
            name = disk.description or f"#{disk.index}"
            if name in seen:
                name = f"{name}#{disk.index}"
            seen.add(name)
            disk_labels = f'{labels},storage="{escape(name)}"'
            self.storage.add(f'{disk_labels},kind="size"', disk.size_bytes)
            self.storage.add(f'{disk_labels},kind="used"', disk.used_bytes)
        if host.processes is not None:
            self.processes.add(labels, host.processes)
        if host.load_average is not None:
            for period, load in zip(("1m", "5m", "15m"), host.load_average, strict=True):
                self.load.add(f'{labels},period="{period}"', load)


def write_snmp(
    out: MetricsText,
    rows: Iterable[SnmpRow],
    now: float,
    interfaces: InterfaceLabels | None = None,
) -> None:
    """Write every SNMP family for ``rows``, read at ``now`` (epoch seconds), into ``out``.

    Devices without SNMP settings are skipped. Pass the same ``interfaces`` cache to every
    scrape (the collector keeps one per inventory) to render interface labels once per poll.
    """
    families = SnmpFamilies(out, interfaces if interfaces is not None else InterfaceLabels())
    for row in rows:
        families.add(row, now)
