"""One device's unrenderable value never breaks the scrape: that device's series are left out,
counted in netwatch_render_errors_total and logged once; every other series is as before."""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from netwatch.exporters.collector import RenderCache, View, render_text
from netwatch.inventory import build_inventory
from netwatch.models import Sample
from netwatch.probes.snmp_data import SnmpData
from netwatch.state import CheckState
from tests.unit.exporters.test_collector import NOW, Series, parse, port, province

BAD = "sw-2"  # an SNMP device in district h0


def small() -> View:
    """The test province, smaller: 4 SNMP devices of 4 ports, 12 pinged only."""
    return province(snmp=4, icmp=12, ports=4)


ERRORS = "netwatch_render_errors_total"
Spoil = Callable[[View], View]


def _data(view: View) -> SnmpData:
    """``BAD``'s last SNMP data."""
    last = view.state.devices[BAD].checks["snmp"].last_ok
    assert last is not None
    assert isinstance(last.data, SnmpData)
    return last.data


def _with_port(view: View, **changes: Any) -> View:
    """``BAD``'s last SNMP poll, with interface 1 changed."""
    check = view.state.devices[BAD].checks["snmp"]
    data = _data(view)
    ports = (dataclasses.replace(port(1), **changes), *(data.interfaces or ())[1:])
    polled = Sample(BAD, "snmp", NOW - 5, 0.8, None, dataclasses.replace(data, interfaces=ports))
    check.last = check.last_ok = polled
    return view


def _with_snmp(view: View, **changes: Any) -> View:
    """``BAD``'s last SNMP poll with its data changed (system, host)."""
    check = view.state.devices[BAD].checks["snmp"]
    data = dataclasses.replace(_data(view), **changes)
    check.last = check.last_ok = Sample(BAD, "snmp", NOW - 5, 0.8, None, data)
    return view


def _with_icmp(view: View, **changes: Any) -> View:
    check = view.state.devices[BAD].checks["icmp"]
    view.state.devices[BAD].checks["icmp"] = dataclasses.replace(check, **changes)
    return view


def _system(descr: str) -> Spoil:
    def spoil(view: View) -> View:
        system = _data(view).system
        assert system is not None
        return _with_snmp(view, system=dataclasses.replace(system, sys_descr=descr))

    return spoil


def _host_ram(size: Any) -> Spoil:
    def spoil(view: View) -> View:
        host = _data(view).host
        assert host is not None
        ram = dataclasses.replace(host.storage[0], size_bytes=size)
        return _with_snmp(view, host=dataclasses.replace(host, storage=(ram,)))

    return spoil


def _reboots_raise(view: View) -> View:
    def reboots(device: str) -> int:
        if device == BAD:
            raise RuntimeError("a bug in the reboot detector")
        return 0

    return dataclasses.replace(view, reboots=reboots)


SPOILERS: dict[str, Spoil] = {
    "counter 2^16000 (no str() at all)": lambda v: _with_port(v, in_octets=2**16000),
    "counter 10^400 (no float64)": lambda v: _with_port(v, out_octets=10**400),
    "counter 2^64 (wider than Counter64)": lambda v: _with_port(v, in_errors=2**64),
    "counter negative": lambda v: _with_port(v, in_ucast_pkts=-1),
    "counter NaN": lambda v: _with_icmp(v, packets_sent=math.nan),
    "counter inf": lambda v: _with_icmp(v, packets_received=math.inf),
    "gauge 10^400": _host_ram(10**400),
    "gauge not a number": _host_ram("12"),
    "label with a lone surrogate": _system("Cisco \udc80 IOS"),
    "alias that is not text": lambda v: _with_port(v, alias=None),
    "a callable that raises": _reboots_raise,
}


def _without(series: Series, device: str) -> dict[object, float | None]:
    """The other series; NaN (a site's ratio not computed yet) as None, to compare equal."""
    return {
        k: None if math.isnan(v) else v
        for k, v in series.items()
        if dict(k[1]).get("device") != device and k[0] != ERRORS
    }


def _of(series: Series, device: str) -> set[str]:
    return {name for name, labels in series if dict(labels).get("device") == device}


@pytest.mark.parametrize("spoil", SPOILERS.values(), ids=SPOILERS.keys())
def test_a_bad_value_drops_that_device_only_counts_and_logs_once(
    spoil: Spoil, caplog: pytest.LogCaptureFixture
) -> None:
    """Over three scrapes: every other device's series are exactly those of a clean render,
    the bad device has none but its render error counter (1, 2, 3), and one log line."""
    clean = parse(render_text(small(), cache=RenderCache()))
    view = spoil(small())
    cache = RenderCache()
    caplog.set_level(logging.INFO, "netwatch.exporters.collector")
    for scrape in (1, 2, 3):
        series = parse(render_text(view, cache=cache))
        assert _without(series, BAD) == _without(clean, BAD)
        assert _of(series, BAD) == {ERRORS}
        (errors,) = [v for (name, lb), v in series.items() if name == ERRORS]
        assert errors == scrape
    assert _of(clean, BAD) >= {"netwatch_device_up", "netwatch_interface_up"}
    lines = [r for r in caplog.records if BAD in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].levelno == logging.WARNING
    assert "left out of /metrics" in lines[0].getMessage()


def test_a_bad_device_leaves_its_shard_and_the_others_whole() -> None:
    """A shard scrape with the bad device still holds its other devices; the other shards are
    exactly as in a clean render."""
    clean_view = small()
    view = _with_port(small(), in_octets=2**16000)
    cache, clean_cache = RenderCache(), RenderCache()
    for shard in view.inventory.shards:
        clean = parse(render_text(clean_view, shard, cache=clean_cache))
        series = parse(render_text(view, shard, cache=cache))
        assert _without(series, BAD) == _without(clean, BAD)
        if view.inventory.shard_of(view.inventory.devices[BAD].site) == shard:
            assert _of(series, BAD) == {ERRORS}
            assert len({dict(lb)["device"] for _, lb in series if "device" in dict(lb)}) > 5
        else:
            assert ERRORS not in {name for name, _ in series}


def test_a_device_that_renders_again_comes_back_and_keeps_its_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Fixed, the device's series return, its counter stays (so rate() sees no reset), one
    line says it is back; failing anew logs anew."""
    view = small()
    cache = RenderCache()
    good = view.state.devices[BAD].checks["snmp"].last_ok
    caplog.set_level(logging.INFO, "netwatch.exporters.collector")
    _with_port(view, in_octets=10**400)
    render_text(view, cache=cache)
    render_text(view, cache=cache)
    view.state.devices[BAD].checks["snmp"].last = good
    view.state.devices[BAD].checks["snmp"].last_ok = good
    series = parse(render_text(view, cache=cache))
    assert "netwatch_interface_up" in _of(series, BAD)
    assert [v for (name, _), v in series.items() if name == ERRORS] == [2]
    _with_port(view, in_octets=10**400)
    render_text(view, cache=cache)
    messages = [r.getMessage() for r in caplog.records if BAD in r.getMessage()]
    assert len(messages) == 3
    assert "back in /metrics" in messages[1]
    assert "left out" in messages[2]


def test_a_device_whose_labels_cannot_be_rendered_is_counted_not_fatal() -> None:
    """A device id no UTF-8 can carry (a lone surrogate) costs that device only; its error
    series names it with the surrogate escaped."""
    view = province(snmp=3, icmp=3)
    config = view.inventory.config
    odd = dataclasses.replace(config.devices[-1], id="pc-\udcff")
    inventory = build_inventory(dataclasses.replace(config, devices=(*config.devices[:-1], odd)))
    view = dataclasses.replace(view, inventory=inventory)
    series = parse(render_text(view, cache=RenderCache()))
    assert sum(1 for name, _ in series if name == "netwatch_device_up") == 5
    (errors,) = [dict(lb) for name, lb in series if name == ERRORS]
    assert errors["device"] == "pc-\\udcff"


def test_nan_and_infinite_gauges_are_kept() -> None:
    """A gauge may be NaN or infinite (the format spells them): no error, the series is there."""
    view = _with_icmp(small(), last=None)
    check = view.state.devices[BAD].checks["snmp"]
    assert check.last is not None
    check.last = dataclasses.replace(check.last, duration=math.nan)
    series = parse(render_text(view, cache=RenderCache()))
    assert ERRORS not in {name for name, _ in series}
    (duration,) = [
        v for (n, lb), v in series.items()
        if n == "netwatch_snmp_poll_duration_seconds" and dict(lb)["device"] == BAD
    ]  # fmt: skip
    assert math.isnan(duration)


def test_a_failed_device_across_a_chunk_boundary_leaves_no_line() -> None:
    """A device whose samples straddle a flushed chunk (2,048 lines) is taken back whole."""
    view = province(snmp=3, icmp=0, ports=12)
    check = view.state.devices[BAD].checks["snmp"]
    many = tuple(dataclasses.replace(port(i), name=f"p{i}") for i in range(1, 3001))
    spoilt = (*many, dataclasses.replace(port(3001), in_octets=2**70))
    data = dataclasses.replace(_data(view), interfaces=spoilt)
    check.last = check.last_ok = Sample(BAD, "snmp", NOW - 5, 0.8, None, data)
    series = parse(render_text(view, cache=RenderCache()))
    assert _of(series, BAD) == {ERRORS}
    assert _of(series, "sw-1") >= {"netwatch_interface_up"}


@pytest.mark.peer
def test_the_text_with_bad_devices_passes_promtool() -> None:
    """Every kind of bad value at once, on several scrapes: promtool check metrics accepts the
    text, the counter included."""
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed")
    view = small()
    for spoil in SPOILERS.values():
        view = spoil(view)
    check = view.state.devices["pc-5"].checks["icmp"]
    view.state.devices["pc-5"].checks["icmp"] = CheckState(
        check.status, last=check.last, last_ok=check.last_ok, packets_sent=2**80
    )
    cache = RenderCache()
    for shard in (None, *view.inventory.shards):
        text = render_text(view, shard, cache=cache)
        out = subprocess.run(
            ["promtool", "check", "metrics"], input=text, capture_output=True, timeout=60
        )
        assert out.returncode == 0, (out.stdout + out.stderr).decode()
    assert b'netwatch_render_errors_total{device="pc-5"' in render_text(view, cache=cache)
