"""Power cuts: a site's UPS on battery tells its contacts once, and names the cause when the
site's gateway then goes down."""

from __future__ import annotations

from dataclasses import replace

from netwatch.alerting.messages import render
from netwatch.alerting.power import PowerWatch
from netwatch.models import Device, Role, Status
from netwatch.probes.health import UpsStatus
from tests.unit.alerting.province import TZ, Harness, build, province

ON_BATTERY = UpsStatus(on_battery=True, runtime_seconds=25 * 60, charge_ratio=0.9)
ON_MAINS = UpsStatus(on_battery=False, runtime_seconds=3600, charge_ratio=1.0)


def with_ups() -> tuple[Harness, PowerWatch, Device]:
    """The test province with a UPS at commune xa-3 (contact it-xa3)."""
    base = province()
    ups = Device("xa-3-ups", "10.2.0.5", Role.UPS, "xa-3", depends_on=("xa-3-rtr",))
    sites = [
        replace(s, devices=(*s.devices, ups.id)) if s.id == "xa-3" else s
        for s in base.sites.values()
    ]
    inventory = build(sites, [*base.devices.values(), ups])
    watch = PowerWatch()
    return Harness(inventory, power_cut=watch.power_cut), watch, ups


def observe(h: Harness, watch: PowerWatch, ups: Device, state: UpsStatus) -> list[str]:
    inv = h.inventory
    out = watch.observe(ups, state, h.now, inv.sites, inv.config, inv.labels(ups.id))
    return [f"{d.contact}/{d.channel}:{d.alert.state}" for d in out]


def test_on_battery_tells_the_sites_contacts_once_then_back_on_mains() -> None:
    """One message per outage to the UPS site's contacts, and one when mains power returns."""
    h, watch, ups = with_ups()
    assert observe(h, watch, ups, ON_MAINS) == []
    first = watch.observe(ups, ON_BATTERY, h.now, h.inventory.sites, h.inventory.config, {})
    assert [(d.contact, d.channel) for d in first] == [("it-xa3", "email"), ("-", "log")]
    message = render(first[0].alert, "vi", TZ, "")
    assert message.subject == "Xã xa-3 đang chạy bằng pin UPS, còn khoảng 25 phút"
    assert render(first[0].alert, "en", TZ, "").subject == (
        "Xã xa-3 is running on UPS battery, about 25 minutes left"
    )
    assert watch.power_cut("xa-3")
    assert observe(h, watch, ups, ON_BATTERY) == []  # still on battery: nothing more
    assert observe(h, watch, ups, ON_MAINS) == ["it-xa3/email:resolved", "-/log:resolved"]
    assert not watch.power_cut("xa-3")


def test_a_ups_that_stops_answering_keeps_its_site_on_battery() -> None:
    """No UPS state (the UPS stopped answering): the site is still taken to be on battery."""
    h, watch, ups = with_ups()
    observe(h, watch, ups, ON_BATTERY)
    assert observe(h, watch, ups, UpsStatus()) == []
    assert watch.power_cut("xa-3")


def test_gateway_down_while_on_battery_is_a_power_cut() -> None:
    """The gateway of a site on UPS battery goes down: the incident says mất điện."""
    h, watch, ups = with_ups()
    h.all_up()
    observe(h, watch, ups, ON_BATTERY)
    h.set("xa-3-rtr", Status.DOWN)
    out = h.tick()
    detail = {d.alert.detail for d in out.deliveries if d.alert.subject == "xa-3-rtr"}
    assert len(detail) == 1
    assert next(iter(detail)).startswith("mất điện (power cut)")


def test_gateway_down_on_mains_is_not_a_power_cut() -> None:
    """Same failure with the UPS on mains: the detail is the poll failure alone."""
    h, watch, ups = with_ups()
    h.all_up()
    observe(h, watch, ups, ON_MAINS)
    h.set("xa-3-rtr", Status.DOWN)
    out = h.tick()
    details = [d.alert.detail for d in out.deliveries if d.alert.subject == "xa-3-rtr"]
    assert details
    assert not any("mất điện" in d for d in details)


def test_the_open_outages_survive_a_restart_and_bad_entries_are_named() -> None:
    """What ``power.json`` keeps: a restarted agent neither says "on battery" again nor loses
    the back-on-mains message (same alert id as the first message, for Alertmanager)."""
    h, watch, ups = with_ups()
    first = watch.observe(ups, ON_BATTERY, h.now, h.inventory.sites, h.inventory.config, {})
    assert watch.revision == 1
    restarted, errors = PowerWatch(), list[str]()
    restarted.adopt(watch.to_json(), errors)
    assert errors == []
    assert restarted.power_cut("xa-3")
    assert observe(h, restarted, ups, ON_BATTERY) == []
    inv = h.inventory
    back = restarted.observe(ups, ON_MAINS, h.now + 60, inv.sites, inv.config, {})
    assert [d.alert.id for d in back] == [d.alert.id for d in first]
    assert back[0].alert.started_at == first[0].alert.started_at
    bad = PowerWatch()
    bad.adopt(
        '{"a": {"started_at": 1e300, "device": "u", "alert_id": "x"}, "b": "nope",'
        ' "c": {"started_at": true, "device": "u", "alert_id": "x"},'
        ' "d": {"started_at": 1.8e9, "device": 7, "alert_id": "x"},'
        f' "e": {{"started_at": {10**400}, "device": "u", "alert_id": "x"}},'
        ' "ok": {"started_at": 1.8e9, "device": "u", "alert_id": "x"}}',
        errors,
    )
    assert [e.split("'")[1] for e in errors] == ["a", "b", "c", "d", "e"]
    assert bad.power_cut("ok")
    assert not bad.power_cut("a")
