"""Effective status over the site tree: own failure vs upstream vs planned work."""

from __future__ import annotations

from dataclasses import replace

from netwatch.models import Device, Role, Site, Status
from netwatch.topology import Topology, evaluate
from tests.unit.alerting.harness import BEHIND_HUYEN, build, province

UP, DOWN = Status.UP, Status.DOWN


def all_up(**overrides: Status) -> dict[str, Status]:
    own = dict.fromkeys(province().devices, UP)
    own.update({k.replace("_", "-"): v for k, v in overrides.items()})
    return own


def never(target: str, now: float) -> bool:
    return False


def test_everything_behind_a_down_gateway_is_unreachable_with_it_as_cause() -> None:
    r = evaluate(province(), all_up(huyen_rtr=DOWN), never, 0.0)
    assert r.devices["huyen-rtr"].status is DOWN
    assert r.devices["huyen-rtr"].cause is None
    for d in BEHIND_HUYEN:
        assert (r.devices[d].status, r.devices[d].cause) == (Status.UNREACHABLE, "huyen-rtr")
    assert r.devices["srv-mail"].status is UP


def test_a_device_cut_off_is_unreachable_even_when_its_own_checks_also_failed() -> None:
    r = evaluate(province(), all_up(huyen_rtr=DOWN, xa_1_rtr=DOWN), never, 0.0)
    assert r.devices["xa-1-rtr"].status is Status.UNREACHABLE


def test_site_status_is_its_gateways_and_a_root_site_is_up_while_a_device_is() -> None:
    r = evaluate(province(), all_up(xa_2_rtr=DOWN, core_rtr=UP, srv_mail=DOWN), never, 0.0)
    assert r.sites["xa-2"] == r.devices["xa-2-rtr"]._replace(cause="xa-2-rtr")
    assert r.sites["xa-2"].status is DOWN
    assert r.sites["xa-1"].status is UP
    assert r.sites["tinh"].status is UP


def test_a_site_without_devices_takes_its_parents_status() -> None:
    inv = province()
    empty = Site("thon", "Thôn", "village", "xa-1", (), None, (), ())
    sites = [*inv.sites.values(), empty]
    sites[2] = replace(sites[2], children=("thon",))
    inv2 = build(sites, list(inv.devices.values()))
    r = evaluate(inv2, all_up(huyen_rtr=DOWN), never, 0.0)
    assert r.sites["thon"] == r.sites["xa-1"]
    assert r.sites["thon"].status is Status.UNREACHABLE


def test_redundant_uplinks_cut_off_only_when_all_are_down() -> None:
    devices = [
        Device("a", "1", Role.ROUTER, "s"),
        Device("b", "2", Role.ROUTER, "s"),
        Device("c", "3", Role.SERVER, "s", depends_on=("a", "b")),
    ]
    inv = build([Site("s", "S", "province", None, (), None, ("a", "b", "c"), ())], devices)
    one = evaluate(inv, {"a": DOWN, "b": UP, "c": UP}, never, 0.0)
    assert one.devices["c"].status is UP
    both = evaluate(inv, {"a": DOWN, "b": DOWN, "c": DOWN}, never, 0.0)
    assert both.devices["c"].status is Status.UNREACHABLE


def test_a_window_on_a_site_covers_everything_below_it() -> None:
    r = evaluate(province(), all_up(huyen_rtr=DOWN), lambda t, now: t == "huyen", 0.0)
    assert r.devices["huyen-rtr"].status is Status.MAINTENANCE
    assert all(r.devices[d].status is Status.MAINTENANCE for d in BEHIND_HUYEN)
    assert r.devices["xa-1-pc-1"].cause == "huyen-rtr"
    assert r.sites["xa-3"].status is Status.MAINTENANCE


def test_devices_cut_off_by_a_router_in_maintenance_are_maintenance_too() -> None:
    r = evaluate(province(), all_up(huyen_rtr=DOWN), lambda t, now: t == "huyen-rtr", 0.0)
    assert r.devices["xa-1-rtr"].status is Status.MAINTENANCE
    assert r.devices["xa-1-rtr"].planned


def test_a_real_failure_wins_over_maintenance_when_both_uplinks_are_gone() -> None:
    devices = [
        Device("a", "1", Role.ROUTER, "s"),
        Device("b", "2", Role.ROUTER, "s"),
        Device("c", "3", Role.SERVER, "s", depends_on=("a", "b")),
    ]
    inv = build([Site("s", "S", "province", None, (), None, ("a", "b", "c"), ())], devices)
    r = evaluate(inv, {"a": DOWN, "b": DOWN, "c": DOWN}, lambda t, now: t == "a", 0.0)
    assert (r.devices["c"].status, r.devices["c"].cause) == (Status.UNREACHABLE, "b")


def test_a_dependency_cycle_terminates() -> None:
    devices = [
        Device("a", "1", Role.ROUTER, "s", depends_on=("b",)),
        Device("b", "2", Role.ROUTER, "s", depends_on=("a",)),
    ]
    inv = build([Site("s", "S", "province", None, (), None, ("a", "b"), ())], devices)
    r = evaluate(inv, {"a": DOWN, "b": UP}, never, 0.0)
    assert r.devices["b"].status is Status.UNREACHABLE


def test_an_update_touches_only_what_is_below_the_change() -> None:
    inv = province()
    topo = Topology(inv)
    own = all_up()
    topo.evaluate_all(own.__getitem__, set())
    own["xa-1-rtr"] = DOWN
    changed = topo.update(["xa-1-rtr"], own.__getitem__, set())
    assert set(changed.devices) == {"xa-1-rtr", "xa-1-pc-1", "xa-1-pc-2"}
    assert set(changed.sites) == {"xa-1"}
    assert changed.devices["xa-1-rtr"].status is UP  # the previous value


def test_affected_lists_the_devices_and_sites_cut_off_by_a_root_cause() -> None:
    topo = Topology(province())
    own = all_up(huyen_rtr=DOWN)
    topo.evaluate_all(own.__getitem__, set())
    devices, sites = topo.affected("huyen-rtr")
    assert set(devices) == set(BEHIND_HUYEN)
    assert sites == ["huyen", "xa-1", "xa-2", "xa-3"]
