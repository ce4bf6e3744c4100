"""write_snmp: SNMP check state rendered as the families of dashboards/METRICS.md."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families

from netwatch.exporters.snmp import InterfaceLabels, SnmpRow, write_snmp
from netwatch.exporters.text import MetricsText, label_pairs
from netwatch.models import (
    Device,
    Failure,
    FailureKind,
    InterfaceFilter,
    Role,
    Sample,
    SnmpSettings,
    Status,
)
from netwatch.probes.snmp_data import (
    HostResources,
    Interface,
    SnmpData,
    Storage,
    SystemInfo,
    interface_matcher,
)
from netwatch.state import CheckState

NAMES = ["device", "site", "role", "province", "district", "commune"]
NOW = 10_000.0
GIB = 1024**3


def iface(index: int, name: str, *, up: bool = True, admin: bool = True) -> Interface:
    return Interface(
        index=index, name=name, alias=f"uplink {index}", oper_up=up, admin_up=admin,
        speed_bps=1_000_000_000, in_octets=2**40 + index, out_octets=2**33 + index,
        in_ucast_pkts=1000 + index, out_ucast_pkts=2000 + index, in_errors=3, out_errors=4,
        in_discards=5, out_discards=None, hc=True,
    )  # fmt: skip


DATA = SnmpData(
    system=SystemInfo("core-rtr", "Cisco IOS\nline two", "1.3.6.1.4.1.9.1.1", 123456.78),
    interfaces=(iface(1, "Gi0/1"), iface(2, "Gi0/2", up=False), iface(3, "Gi0/1")),
    host=HostResources(
        cpu_loads=(0.1, 0.3),
        storage=(
            Storage(1, "Physical memory", "ram", 8 * GIB, 3 * GIB),
            Storage(3, "Virtual memory", "virtual", 10 * GIB, 4 * GIB),
            Storage(31, "/", "fixed disk", 100 * GIB, 40 * GIB),
            Storage(32, "/var", "fixed disk", 50 * GIB, 5 * GIB),
        ),
        processes=212,
        load_average=(0.5, 0.25, 0.125),
    ),
)


ALL = InterfaceFilter()


def device(interfaces: InterfaceFilter = ALL, snmp: bool = True) -> Device:
    settings = SnmpSettings(interval=60.0, timeout=2.0, interfaces=interfaces)
    return Device("core-rtr", "127.0.0.1", Role.ROUTER, "can-tho", snmp=settings if snmp else None)


def check(
    ok_at: float | None = NOW - 30, failed_at: float | None = None, data: object = DATA
) -> CheckState:
    state = CheckState(status=Status.UP)
    if ok_at is not None:
        state.last = state.last_ok = Sample("core-rtr", "snmp", ok_at, 0.25, None, data)
    if failed_at is not None:
        failure = Failure(FailureKind.TIMEOUT, "no reply")
        state.last = Sample("core-rtr", "snmp", failed_at, 4.0, failure, None)
        state.failure_counts = {"timeout": 2, "protocol": 1}
    return state


LABELS = ["core-rtr", "can-tho", "router", "can-tho", "", ""]
PAIRS = label_pairs(NAMES, LABELS)


def render(
    rows: Iterable[SnmpRow], now: float = NOW, cache: InterfaceLabels | None = None
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Through the text format and prometheus_client's parser to {(sample name, labels): value}."""
    writer = MetricsText()
    write_snmp(writer, rows, now, cache)
    text = writer.text()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            extra = {k: v for k, v in s.labels.items() if k not in NAMES}
            assert [s.labels[k] for k in NAMES] == LABELS
            key = (s.name, frozenset(extra.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def test_fresh_sample_gives_every_family() -> None:
    """A good poll 30 s ago: poll health, system, interfaces and host series with their values."""
    m = render([SnmpRow(device(), PAIRS, check(), reboots=2)])
    assert m[key("netwatch_snmp_up")] == 1
    assert m[key("netwatch_snmp_poll_duration_seconds")] == 0.25
    assert m[key("netwatch_device_reboots_total")] == 2
    assert m[key("netwatch_device_uptime_seconds")] == 123456.78
    info = key(
        "netwatch_device_info", sys_name="core-rtr", sys_descr="Cisco IOS\nline two",
        sys_object_id="1.3.6.1.4.1.9.1.1",
    )  # fmt: skip
    assert m[info] == 1
    gi1 = {"ifname": "Gi0/1", "ifalias": "uplink 1"}
    assert m[key("netwatch_interface_up", **gi1)] == 1
    assert m[key("netwatch_interface_up", ifname="Gi0/2", ifalias="uplink 2")] == 0
    assert m[key("netwatch_interface_admin_up", **gi1)] == 1
    assert m[key("netwatch_interface_speed_bytes", **gi1)] == 1e9 / 8
    assert m[key("netwatch_interface_receive_bytes_total", **gi1)] == 2**40 + 1
    assert m[key("netwatch_interface_transmit_bytes_total", **gi1)] == 2**33 + 1
    assert m[key("netwatch_interface_receive_packets_total", **gi1)] == 1001
    assert m[key("netwatch_interface_transmit_packets_total", **gi1)] == 2001
    assert m[key("netwatch_interface_errors_total", **gi1, direction="receive")] == 3
    assert m[key("netwatch_interface_errors_total", **gi1, direction="transmit")] == 4
    assert m[key("netwatch_interface_discards_total", **gi1, direction="receive")] == 5
    assert key("netwatch_interface_discards_total", **gi1, direction="transmit") not in m
    assert m[key("netwatch_host_cpu_load_ratio", cpu="0")] == 0.1
    assert m[key("netwatch_host_cpu_load_ratio", cpu="1")] == 0.3
    assert abs(m[key("netwatch_host_cpu_load_ratio", cpu="avg")] - 0.2) < 1e-12
    assert m[key("netwatch_host_memory_bytes", kind="size")] == 8 * GIB
    assert m[key("netwatch_host_memory_bytes", kind="used")] == 3 * GIB
    assert m[key("netwatch_host_storage_bytes", storage="/", kind="size")] == 100 * GIB
    assert m[key("netwatch_host_storage_bytes", storage="/var", kind="used")] == 5 * GIB
    assert key("netwatch_host_storage_bytes", storage="Virtual memory", kind="size") not in m
    assert m[key("netwatch_host_processes")] == 212
    assert m[key("netwatch_host_load_average", period="15m")] == 0.125


def test_duplicate_interface_names_get_the_index() -> None:
    """Two rows named Gi0/1 stay two series: the second name carries its ifIndex."""
    m = render([SnmpRow(device(), PAIRS, check())])
    assert m[key("netwatch_interface_up", ifname="Gi0/1#3", ifalias="uplink 3")] == 1
    assert sum(1 for name, _ in m if name == "netwatch_interface_up") == 3


def test_stale_values_are_left_out() -> None:
    """Last good poll older than 2 x 60 s + 2 s: only poll health and counters remain."""
    m = render([SnmpRow(device(), PAIRS, check(ok_at=NOW - 123))])
    names = {name for name, _ in m}
    assert names == {
        "netwatch_snmp_up", "netwatch_snmp_poll_duration_seconds", "netwatch_device_reboots_total",
    }  # fmt: skip
    fresh = render([SnmpRow(device(), PAIRS, check(ok_at=NOW - 121))])
    assert key("netwatch_device_uptime_seconds") in fresh


def test_failed_poll_keeps_recent_values_and_counts_reasons() -> None:
    """The last poll timed out: snmp_up 0, its duration, failures by reason; data still fresh."""
    m = render([SnmpRow(device(), PAIRS, check(ok_at=NOW - 70, failed_at=NOW - 10))])
    assert m[key("netwatch_snmp_up")] == 0
    assert m[key("netwatch_snmp_poll_duration_seconds")] == 4.0
    assert m[key("netwatch_snmp_failures_total", reason="timeout")] == 2
    assert m[key("netwatch_snmp_failures_total", reason="protocol")] == 1
    assert m[key("netwatch_device_uptime_seconds")] == 123456.78


def test_never_polled_and_non_snmp_devices() -> None:
    """No check yet: only the reboot counter. No SNMP settings: nothing at all."""
    m = render([SnmpRow(device(), PAIRS, None)])
    assert m == {key("netwatch_device_reboots_total"): 0}
    assert render([SnmpRow(device(snmp=False), PAIRS, check())]) == {}


def test_interface_filter_applies_at_export() -> None:
    """include/exclude/admin_up_only from the device's settings select exported interfaces."""
    rule = InterfaceFilter(include=("^Gi0/",), exclude=("/2$",))
    m = render([SnmpRow(device(rule), PAIRS, check())])
    names = sorted(dict(labels)["ifname"] for n, labels in m if n == "netwatch_interface_up")
    assert names == ["Gi0/1", "Gi0/1#3"]
    data = SnmpData(None, (iface(1, "a", admin=False), iface(2, "b")), None)
    m = render([SnmpRow(device(InterfaceFilter(admin_up_only=True)), PAIRS, check(data=data))])
    assert [dict(lb)["ifname"] for n, lb in m if n == "netwatch_interface_up"] == ["b"]


def test_interface_matcher_is_compiled_once_per_filter() -> None:
    """The same filter (equal value) gives the same cached predicate; no filter gives None."""
    a = interface_matcher(InterfaceFilter(include=("^x",)))
    assert a is interface_matcher(InterfaceFilter(include=("^x",)))
    assert interface_matcher(InterfaceFilter()) is None


def test_other_data_is_ignored() -> None:
    """A last_ok sample that is not SnmpData (a bug elsewhere) adds no values, raises nothing."""
    m = render([SnmpRow(device(), PAIRS, check(data="junk"))])
    assert key("netwatch_device_uptime_seconds") not in m
    assert m[key("netwatch_snmp_up")] == 1


def test_interface_labels_are_kept_while_the_poll_is_the_same() -> None:
    """A second scrape of the same poll reuses its interface label pairs; a new poll's
    interfaces, or a device whose labels changed (a reload), get new ones."""
    cache = InterfaceLabels()
    rule = InterfaceFilter()
    ifaces = DATA.interfaces
    assert ifaces is not None
    first = cache.of("core-rtr", PAIRS, ifaces, rule)
    assert cache.of("core-rtr", PAIRS, ifaces, rule) is first
    assert cache.of("core-rtr", PAIRS, tuple(ifaces), rule) == first  # equal, not identical
    moved = label_pairs(NAMES, ["core-rtr", "o-mon", "router", "can-tho", "o-mon", ""])
    assert cache.of("core-rtr", moved, ifaces, rule)[0][1].startswith(moved)
    m = render([SnmpRow(device(), PAIRS, check())], cache=cache)
    assert m == render([SnmpRow(device(), PAIRS, check())])
