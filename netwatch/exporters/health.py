"""The health part of ``/metrics``: what a device's profile read (CPU, memory, sensors, UPS).

Written by the SNMP exporter (:mod:`netwatch.exporters.snmp`) for each device's last good
sample; names and labels are the contract of ``dashboards/METRICS.md``. CPU and memory of a
profile go into the same families as host-resources' (``netwatch_host_cpu_load_ratio``,
``netwatch_host_memory_bytes``): the SNMP exporter leaves host-resources' out when the
profile has them, so a vendor's figure wins where both exist.

>>> from netwatch.exporters.text import MetricsText
>>> out = MetricsText()
>>> fams = HealthFamilies(out, out.family("c", "gauge", "c"), out.family("m", "gauge", "m"))
>>> fams.add('device="ups1"', HealthData("apc", ups=UpsStatus(on_battery=True)))
>>> "netwatch_ups_on_battery{device=\\"ups1\\"} 1.0" in out.text()
True
"""

from __future__ import annotations

from netwatch.exporters.text import Family, MetricsText, escape
from netwatch.probes.health import HealthData, MemoryPool, UpsStatus

BATTERY_STATES: tuple[str, ...] = ("normal", "low", "depleted", "fault", "unknown")


class HealthFamilies:
    """The health families of one scrape; ``cpu`` and ``memory`` are the SNMP exporter's."""

    def __init__(self, out: MetricsText, cpu: Family, memory: Family) -> None:
        self.cpu = cpu
        self.memory = memory
        self.memory_ratio = out.family(
            "netwatch_host_memory_used_ratio",
            "gauge",
            "Memory used as a ratio, per pool (vendor MIB, or hrStorageRam as pool physical).",
        )
        self.temperature = out.family(
            "netwatch_sensor_temperature_celsius", "gauge", "Temperature sensors, in celsius."
        )
        self.fan = out.family("netwatch_sensor_fan_ok", "gauge", "1 if the fan reports OK.")
        self.psu = out.family(
            "netwatch_sensor_psu_ok", "gauge", "1 if the power supply reports OK."
        )
        self.profile = out.family(
            "netwatch_device_profile_info", "gauge", "1, with the device profile in use."
        )
        self.on_battery = out.family(
            "netwatch_ups_on_battery", "gauge", "1 if the UPS feeds its load from the battery."
        )
        self.time_on_battery = out.family(
            "netwatch_ups_time_on_battery_seconds",
            "gauge",
            "Seconds since the UPS went on battery (0 on mains).",
        )
        self.charge = out.family(
            "netwatch_ups_battery_charge_ratio", "gauge", "Battery charge remaining, 0..1."
        )
        self.runtime = out.family(
            "netwatch_ups_battery_runtime_seconds",
            "gauge",
            "Estimated seconds the battery can hold the present load.",
        )
        self.battery_status = out.family(
            "netwatch_ups_battery_status",
            "gauge",
            "1 for the battery's state (normal, low, depleted, fault, unknown).",
        )
        self.replace = out.family(
            "netwatch_ups_battery_replace_needed", "gauge", "1 if the UPS asks for a new battery."
        )
        self.battery_temperature = out.family(
            "netwatch_ups_battery_temperature_celsius", "gauge", "Battery temperature."
        )
        self.output_source = out.family(
            "netwatch_ups_output_source",
            "gauge",
            "1 for what feeds the UPS output (normal, battery, bypass, booster, reducer...).",
        )

    def add(self, labels: str, health: HealthData) -> None:
        self.profile.add(f'{labels},profile="{escape(health.profile)}"', 1.0)
        if health.cpu:
            for reading in health.cpu:
                self.cpu.add(f'{labels},cpu="{escape(reading.name)}"', reading.value)
            avg = sum(r.value for r in health.cpu) / len(health.cpu)
            self.cpu.add(f'{labels},cpu="avg"', avg)
        if health.memory:
            self.pools(labels, health.memory)
        for reading in health.temperatures:
            self.temperature.add(f'{labels},sensor="{escape(reading.name)}"', reading.value)
        for family, rows in ((self.fan, health.fans), (self.psu, health.psus)):
            for status in rows:
                family.add(f'{labels},sensor="{escape(status.name)}"', 1.0 if status.ok else 0.0)
        if health.ups is not None:
            self._ups(labels, health.ups)

    def pools(self, labels: str, pools: tuple[MemoryPool, ...]) -> None:
        seen: set[str] = set()
        for pool in pools:
            name = pool.name if pool.name not in seen else f"{pool.name}#{len(seen)}"
            seen.add(name)
            self.memory_ratio.add(f'{labels},pool="{escape(name)}"', pool.used_ratio)
        sized = next((p for p in pools if p.total_bytes and p.used_bytes is not None), None)
        if sized is not None and sized.total_bytes is not None and sized.used_bytes is not None:
            self.memory.add(f'{labels},kind="size"', sized.total_bytes)
            self.memory.add(f'{labels},kind="used"', sized.used_bytes)

    def _ups(self, labels: str, ups: UpsStatus) -> None:
        if ups.on_battery is not None:
            self.on_battery.add(labels, 1.0 if ups.on_battery else 0.0)
        for family, value in (
            (self.time_on_battery, ups.seconds_on_battery),
            (self.charge, ups.charge_ratio),
            (self.runtime, ups.runtime_seconds),
            (self.battery_temperature, ups.battery_temperature_celsius),
        ):
            if value is not None:
                family.add(labels, value)
        if ups.replace_battery is not None:
            self.replace.add(labels, 1.0 if ups.replace_battery else 0.0)
        if ups.battery_status is not None:
            states = BATTERY_STATES
            if ups.battery_status not in states:
                states = (*states, ups.battery_status)
            for state in states:
                value = 1.0 if ups.battery_status == state else 0.0
                self.battery_status.add(f'{labels},status="{state}"', value)
        if ups.output_source is not None:
            self.output_source.add(f'{labels},source="{escape(ups.output_source)}"', 1.0)
