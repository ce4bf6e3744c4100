"""The alert engine on a hand-built province and a fake clock: one message per incident."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from netwatch.alerting.incidents import incidents_from_json, incidents_to_json
from netwatch.alerting.messages import render
from netwatch.models import Device, Role, Status, Transition
from netwatch.settings.alerting import AlertSettings, MaintenanceWindow, Silence
from tests.unit.alerting.harness import BEHIND_HUYEN, TZ, Harness, alerts, build, province, sent

UP, DOWN, UNREACHABLE = Status.UP, Status.DOWN, Status.UNREACHABLE
HUYEN_CONTACT = ["it-huyen/email", "it-huyen/telegram", "-/log"]


def test_a_district_gateway_down_sends_one_critical_alert_to_the_district() -> None:
    h = Harness()
    h.all_up()
    h.set("huyen-rtr", DOWN)
    out = h.tick()
    assert sent(out) == [("down", "firing", "huyen-rtr", c) for c in HUYEN_CONTACT]
    alert = out.deliveries[0].alert
    assert alert.severity == "critical"
    assert alert.affected_sites == ("huyen", "xa-1", "xa-2", "xa-3")
    assert set(alert.affected_devices) == set(BEHIND_HUYEN)
    assert alert.labels["district"] == "huyen"
    assert all(h.engine.status_of(d) is UNREACHABLE for d in BEHIND_HUYEN)
    assert h.engine.root_cause("xa-2-pc-1") == "huyen-rtr"
    assert h.engine.root_cause("huyen-rtr") == "huyen-rtr"


def test_commune_routers_failing_after_the_gateway_send_nothing() -> None:
    h = Harness()
    h.all_up()
    h.set("huyen-rtr", DOWN)
    h.tick()
    for xa in ("xa-1", "xa-2", "xa-3"):
        h.set(f"{xa}-rtr", DOWN)
    out = h.run(1200)  # before the escalation
    assert out.deliveries == []
    assert all(h.engine.status_of(d) is UNREACHABLE for d in BEHIND_HUYEN)


def test_children_confirmed_down_before_their_parent_never_page() -> None:
    h = Harness()
    h.all_up()
    h.suspects.add("huyen-rtr")  # its polls are failing, not yet confirmed
    for xa in ("xa-1", "xa-2", "xa-3"):
        h.set(f"{xa}-rtr", DOWN)
    out = h.tick()
    assert out.deliveries == []
    assert "huyen-rtr" in out.recheck  # poll the parent now to settle it sooner
    assert h.run(20).deliveries == []
    h.suspects.clear()
    h.set("huyen-rtr", DOWN)
    out = h.tick()
    assert alerts(out) == [("down", "firing", "huyen-rtr")]
    assert h.run(600).deliveries == []
    assert [a.subject for a in h.engine.active_alerts()] == ["huyen-rtr"]


def test_children_confirmed_before_their_parent_are_never_shown_down() -> None:
    # Found end to end: the communes behind a cut district line flashed "down" on /metrics
    # and in the history for the second between their own and their gateway's confirmation.
    h = Harness()
    h.all_up()
    h.suspects.update({"huyen-rtr", "xa-2-rtr"})  # failing, not confirmed yet
    h.set("xa-1-rtr", DOWN)
    h.set("xa-2-pc-1", DOWN)
    first = h.tick()
    assert h.engine.status_of("xa-1-rtr") is UNREACHABLE
    assert h.engine.status_of("xa-2-pc-1") is UNREACHABLE
    assert h.engine.site_status("xa-1") is UNREACHABLE
    h.suspects.clear()
    h.set("huyen-rtr", DOWN)
    h.set("xa-2-rtr", DOWN)
    second = h.tick(1)
    assert alerts(second) == [("down", "firing", "huyen-rtr")]
    downs = [t.subject for t in first.transitions + second.transitions if t.new is DOWN]
    assert downs == ["huyen-rtr", "huyen"]
    assert all(h.engine.status_of(d) is UNREACHABLE for d in BEHIND_HUYEN)


def test_a_held_child_is_shown_down_once_its_parent_answered() -> None:
    h = Harness()
    h.all_up()
    h.suspects.add("huyen-rtr")
    h.set("xa-1-rtr", DOWN)
    held = h.tick()
    assert h.engine.status_of("xa-1-rtr") is UNREACHABLE  # shown behind the unsettled parent
    assert h.engine.root_cause("xa-1-pc-1") == "huyen-rtr"
    # ... but not recorded: the parent is up, and the history must not name it as the cause.
    assert held.transitions == []
    h.suspects.clear()  # the parent's retry answered
    out = h.tick(1)
    assert {(t.subject, t.old, t.new, t.cause) for t in out.transitions} == {
        ("xa-1-rtr", UP, DOWN, None),
        ("xa-1-pc-1", UP, UNREACHABLE, "xa-1-rtr"),
        ("xa-1-pc-2", UP, UNREACHABLE, "xa-1-rtr"),
        ("xa-1", UP, DOWN, "xa-1-rtr"),  # a site's status is its gateway's
    }
    assert alerts(out) == [("down", "firing", "xa-1-rtr")]
    alert = out.deliveries[0].alert
    assert alert.affected_sites == ("xa-1",)
    assert set(alert.affected_devices) == {"xa-1-pc-1", "xa-1-pc-2"}
    assert h.engine.status_of("xa-1-rtr") is DOWN
    assert h.engine.site_status("xa-1") is DOWN
    assert h.engine.root_cause("xa-1-pc-1") == "xa-1-rtr"
    assert h.run(60).deliveries == []  # not taken for a recovery to re-check


def test_a_child_is_held_until_its_parent_has_been_polled_since_it_failed() -> None:
    h = Harness()
    h.all_up()
    h.polled["huyen-rtr"] = h.now - 5  # the parent's last poll is older than the failure
    h.set("xa-1-rtr", DOWN)
    assert h.tick(1).deliveries == []
    h.polled["huyen-rtr"] = h.now  # polled since, and it answered
    assert alerts(h.tick(1)) == [("down", "firing", "xa-1-rtr")]


def test_a_held_child_alerts_when_the_hold_expires_without_the_parent_settling() -> None:
    h = Harness(settings=AlertSettings(hold=60))
    h.all_up()
    h.suspects.add("huyen-rtr")
    h.set("xa-1-rtr", DOWN)
    assert h.run(59).deliveries == []
    assert alerts(h.tick(1)) == [("down", "firing", "xa-1-rtr")]


def test_recovery_resolves_once_and_rechecks_the_children_before_saying_anything() -> None:
    h = Harness(recovering=True)
    h.all_up()
    h.set("huyen-rtr", DOWN)
    firing = h.tick().deliveries[0].alert
    h.set("xa-1-rtr", DOWN)
    h.set("xa-2-rtr", DOWN)
    h.tick(30)
    h.polled.update({"xa-1-rtr": h.now, "xa-2-rtr": h.now})  # last polled during the outage
    h.tick(30)
    h.set("huyen-rtr", UP)
    out = h.tick()
    assert sent(out) == [("down", "resolved", "huyen-rtr", c) for c in HUYEN_CONTACT]
    assert out.deliveries[0].alert.id == firing.id
    assert set(out.recheck) == {"xa-1-rtr", "xa-2-rtr"}
    assert h.engine.status_of("xa-1-rtr") is UNREACHABLE  # nothing said before the re-check
    assert h.engine.status_of("xa-1-pc-1") is UNREACHABLE
    assert h.engine.status_of("xa-3-rtr") is UP  # its own checks never failed
    assert h.run(30).deliveries == []  # not polled again yet
    h.set("xa-1-rtr", UP)  # the re-check: xa-1 is fine
    h.polled["xa-2-rtr"] = h.now + 0.5  # the re-check: xa-2 still fails
    out = h.tick(1)
    assert alerts(out) == [("down", "firing", "xa-2-rtr")]
    assert h.engine.status_of("xa-1-rtr") is UP
    assert h.engine.status_of("xa-1-pc-1") is UP
    assert h.engine.status_of("xa-2-rtr") is DOWN
    assert h.engine.status_of("xa-2-pc-1") is UNREACHABLE


def test_a_recheck_waits_while_the_first_good_poll_has_not_made_it_up_yet() -> None:
    h = Harness(recovering=True)
    h.all_up()
    h.set("huyen-rtr", DOWN)
    h.set("xa-1-rtr", DOWN)
    h.tick()
    h.polled["xa-1-rtr"] = h.now
    h.set("huyen-rtr", UP)
    h.tick(1)
    h.polled["xa-1-rtr"] = h.now + 1
    h.recovering.add("xa-1-rtr")  # one good poll; up_after wants two
    assert h.run(10).deliveries == []
    h.set("xa-1-rtr", UP)
    h.recovering.clear()
    assert h.run(10).deliveries == []
    assert h.engine.status_of("xa-1-rtr") is UP


def test_without_a_recovering_hint_a_recheck_also_waits_for_the_hold() -> None:
    h = Harness(settings=AlertSettings(hold=60))
    h.all_up()
    h.set("huyen-rtr", DOWN)
    h.set("xa-1-rtr", DOWN)
    h.tick()
    h.polled["xa-1-rtr"] = h.now
    h.set("huyen-rtr", UP)
    h.tick(1)
    del h.polled["xa-1-rtr"]  # polled every second from now on, still failing
    assert h.run(58).deliveries == []
    assert alerts(h.run(2)) == [("down", "firing", "xa-1-rtr")]


def test_a_commune_router_down_alone_alerts_its_communes_contacts() -> None:
    h = Harness()
    h.all_up()
    h.set("xa-3-rtr", DOWN)
    h.set("xa-1-rtr", DOWN)
    out = h.tick()
    assert sorted(sent(out)) == sorted(
        [("down", "firing", "xa-3-rtr", c) for c in ["it-xa3/email", "-/log"]]
        + [("down", "firing", "xa-1-rtr", c) for c in HUYEN_CONTACT]  # inherited contacts
    )
    alert = next(d.alert for d in out.deliveries if d.alert.subject == "xa-3-rtr")
    assert alert.severity == "warning"
    assert set(alert.affected_devices) == {"xa-3-pc-1", "xa-3-pc-2"}
    assert alert.affected_sites == ("xa-3",)


def test_workstations_down_go_into_one_daily_digest_per_site() -> None:
    h = Harness()
    h.all_up()
    for pc in ("xa-1-pc-1", "xa-1-pc-2", "xa-2-pc-1"):
        h.set(pc, DOWN)
    assert h.tick().deliveries == []
    h.set("xa-2-pc-1", UP)  # recovered before the digest: listed with how long it was down
    assert h.tick(3600).deliveries == []
    out = h.tick(21 * 3600)  # Thursday 08:00 local
    assert alerts(out) == [("digest", "firing", "xa-1"), ("digest", "firing", "xa-2")]
    digest = out.deliveries[0].alert
    assert digest.items == ("xa-1-pc-1", "xa-1-pc-2")
    assert digest.item_downtimes == (None, None)
    assert digest.subject_kind == "site"
    assert [d.contact for d in out.deliveries if d.alert.site == "xa-1"] == [
        "it-huyen",
        "it-huyen",
        "-",
    ]
    back = next(d.alert for d in out.deliveries if d.alert.site == "xa-2")
    assert (back.items, back.item_downtimes) == (("xa-2-pc-1",), (3600.0,))
    text = render(back, "vi", TZ, "")
    assert text.subject.startswith("1 máy trạm gặp sự cố từ bản tin trước, nay đã hoạt động")
    assert "• xa-2-pc-1: mất kết nối 1 giờ, đã hoạt động lại" in text.text
    assert render(back, "en", TZ, "").subject.startswith("1 workstation failed since the last")
    assert h.tick(3600).deliveries == []  # once a day
    # The next day lists only what is still down: the recovered PC was told once.
    assert alerts(h.tick(23 * 3600)) == [("digest", "firing", "xa-1")]


def test_flapping_sends_one_flapping_alert_then_settles_back() -> None:
    h = Harness(settings=AlertSettings(flap_window=600, flap_threshold=4))
    h.all_up()
    log = []
    for status in (DOWN, UP, DOWN, UP):
        h.set("xa-1-rtr", status)
        log += alerts(h.tick(30))
    assert log == [
        ("down", "firing", "xa-1-rtr"),
        ("down", "resolved", "xa-1-rtr"),
        ("down", "firing", "xa-1-rtr"),
        ("flapping", "firing", "xa-1-rtr"),
    ]
    assert h.engine.flapping() == {"xa-1-rtr"}
    for status in (DOWN, UP, DOWN, UP):
        h.set("xa-1-rtr", status)
        assert h.tick(60).deliveries == []
    assert h.run(500, step=10).deliveries == []
    out = h.run(100, step=10)  # 600 s since the last change
    assert alerts(out) == [("flapping", "resolved", "xa-1-rtr"), ("down", "resolved", "xa-1-rtr")]
    assert h.engine.flapping() == set()


def test_a_flapping_district_line_sends_one_flapping_alert_not_one_per_commune() -> None:
    # Everything behind a flapping line flaps with it; a commune may reach the threshold first.
    h = Harness(settings=AlertSettings(flap_window=600, flap_threshold=4, hold=60))
    h.all_up()
    behind = ["xa-1-rtr", "xa-2-rtr", "xa-3-rtr"]
    log = []
    for status in (DOWN, UP, DOWN, UP, DOWN, UP):
        for did in [*behind, "huyen-rtr"]:  # the communes' polls happened to come first
            h.set(did, status)
        log += alerts(h.tick(20))
    log += alerts(h.run(120))
    flapping = [a for a in log if a[0] == "flapping"]
    assert flapping == [("flapping", "firing", "huyen-rtr")]
    assert {a[2] for a in log} == {"huyen-rtr"}
    assert h.engine.flapping() == {"huyen-rtr", *behind}
    log = alerts(h.run(700, step=10))
    assert ("flapping", "resolved", "huyen-rtr") in log
    assert {a[2] for a in log} == {"huyen-rtr"}


def test_a_commune_flapping_after_its_parent_changed_alerts_once_the_hold_shows_it_alone() -> None:
    h = Harness(settings=AlertSettings(flap_window=600, flap_threshold=4, hold=60))
    h.all_up()
    h.set("huyen-rtr", DOWN)
    h.tick(10)
    h.set("huyen-rtr", UP)  # one outage of the district line, long over
    h.tick(10)
    log = []
    for status in (DOWN, UP, DOWN, UP):
        h.set("xa-1-rtr", status)
        log += alerts(h.tick(10))
    assert ("flapping", "firing", "xa-1-rtr") not in log  # held: is the line flapping too?
    out = h.run(60)
    assert alerts(out) == [("flapping", "firing", "xa-1-rtr")]


def test_a_flapping_device_that_settles_down_keeps_one_firing_alert() -> None:
    h = Harness(settings=AlertSettings(flap_window=600, flap_threshold=4))
    h.all_up()
    for status in (DOWN, UP, DOWN, UP, DOWN):
        h.set("xa-1-rtr", status)
        h.tick(30)
    out = h.run(600, step=10)
    assert alerts(out) == [("flapping", "resolved", "xa-1-rtr")]
    assert [(a.kind, a.subject) for a in h.engine.active_alerts()] == [("down", "xa-1-rtr")]
    # Found end to end: it said "Đã ổn định" (stable again) while the device was down.
    ended = out.deliveries[0].alert
    assert ended.ended == "still_down"
    msg = render(ended, "vi", TZ, "")
    assert msg.subject.startswith("HẾT CHẬP CHỜN, VẪN MẤT KẾT NỐI")
    assert "Đã ổn định" not in msg.text
    assert "vẫn mất kết nối" in msg.text


def test_a_flapping_device_that_settles_up_is_stable_again() -> None:
    h = Harness(settings=AlertSettings(flap_window=600, flap_threshold=4))
    h.all_up()
    for status in (DOWN, UP, DOWN, UP):
        h.set("xa-1-rtr", status)
        h.tick(30)
    out = h.run(600, step=10)
    assert alerts(out) == [("flapping", "resolved", "xa-1-rtr"), ("down", "resolved", "xa-1-rtr")]
    assert out.deliveries[0].alert.ended == ""
    assert render(out.deliveries[0].alert, "vi", TZ, "").subject.startswith("Đã ổn định")


def test_an_unresolved_alert_is_repeated_and_a_critical_one_escalated_once() -> None:
    h = Harness(settings=AlertSettings(repeat_interval=4 * 3600, escalate_after=1800))
    h.all_up()
    h.set("huyen-rtr", DOWN)
    h.tick()
    assert h.run(1799).deliveries == []
    out = h.tick(1)
    assert sent(out) == [
        ("down", "firing", "huyen-rtr", c) for c in ["dc-admin/email", "dc-admin/telegram", "-/log"]
    ]
    assert out.deliveries[0].alert.escalated
    assert h.run(3600 * 3.5 - 1, step=60).deliveries == []
    out = h.run(60, step=60)
    assert {d.contact for d in out.deliveries} == {"it-huyen", "dc-admin", "-"}
    h.set("huyen-rtr", UP)
    out = h.tick()
    assert {d.contact for d in out.deliveries} == {"it-huyen", "dc-admin", "-"}
    assert all(d.alert.state == "resolved" and d.alert.escalated for d in out.deliveries)


def test_a_warning_is_repeated_but_not_escalated() -> None:
    h = Harness(settings=AlertSettings(repeat_interval=3600, escalate_after=600))
    h.all_up()
    h.set("xa-3-rtr", DOWN)
    h.tick()
    out = h.run(3600, step=60)
    assert [d.contact for d in out.deliveries] == ["it-xa3", "-"]


def test_a_reload_applies_new_alerting_settings_from_now_on() -> None:
    h = Harness(settings=AlertSettings(repeat_interval=3600, escalate_after=10**6, hold=60))
    h.all_up()
    h.set("xa-3-rtr", DOWN)
    assert alerts(h.tick()) == [("down", "firing", "xa-3-rtr")]
    h.engine.set_settings(
        AlertSettings(repeat_interval=600, escalate_after=10**6, hold=60, flap_threshold=2,
                      severity_by_role={"router": "critical"})
    )  # fmt: skip
    # The repeat armed before the reload keeps its time; the next ones use the new interval.
    out = h.run(3600 + 1200, step=60)
    assert [d.alert.kind for d in out.deliveries if d.contact == "it-xa3"] == ["down"] * 3
    # New incidents take the new grades, and two changes are now flapping.
    h.set("xa-1-rtr", DOWN)
    out = h.tick(1)
    assert [(d.alert.subject, d.alert.severity) for d in out.deliveries][:1] == [
        ("xa-1-rtr", "critical")
    ]
    h.set("xa-1-rtr", UP)
    assert ("flapping", "firing", "xa-1-rtr") in alerts(h.tick(1))


def test_silenced_alerts_are_recorded_not_sent_and_still_listed() -> None:
    h = Harness()
    h.all_up()
    h.engine.silence(Silence("s1", until=h.now + 3600, sites=("huyen",), by="lan"))
    h.set("xa-2-rtr", DOWN)
    out = h.tick()
    assert out.deliveries == []
    assert [(a.subject, why) for a, why in out.suppressed] == [("xa-2-rtr", "silenced")]
    assert [a.subject for a in h.engine.active_alerts()] == ["xa-2-rtr"]
    h.set("srv-mail", DOWN)  # outside the silenced subtree
    assert alerts(h.tick()) == [("down", "firing", "srv-mail")]


def test_an_acknowledged_alert_sends_nothing_more() -> None:
    h = Harness(settings=AlertSettings(repeat_interval=600, escalate_after=300))
    h.all_up()
    h.set("huyen-rtr", DOWN)
    alert_id = h.tick().deliveries[0].alert.id
    assert h.engine.acknowledge(alert_id, "lan")
    assert not h.engine.acknowledge("down:nothing:1", "lan")
    out = h.run(600, step=60)
    assert out.deliveries == []
    assert {why for _, why in out.suppressed} == {"acknowledged"}
    assert h.engine.active_alerts()[0].acknowledged_by == "lan"
    h.set("huyen-rtr", UP)
    out = h.tick()
    assert out.deliveries == []
    assert [(a.state, why) for a, why in out.suppressed] == [("resolved", "acknowledged")]


def test_every_ack_silence_and_window_change_moves_the_revision_and_nothing_else_does() -> None:
    h = Harness()
    h.all_up()
    h.set("huyen-rtr", DOWN)
    alert_id = h.tick().deliveries[0].alert.id
    window = MaintenanceWindow("m-1", "xa-1", datetime.fromtimestamp(h.now, TZ),
                               timedelta(hours=1))  # fmt: skip
    changes: list[Callable[[], object]] = [
        lambda: h.engine.acknowledge(alert_id, "lan"),
        lambda: h.engine.silence(Silence("s1", until=h.now + 3600, sites=("xa-2",))),
        lambda: h.engine.unsilence("s1"),
        lambda: h.engine.add_window(window),
        lambda: h.engine.remove_window("m-1"),
    ]
    for change in changes:  # each is what the daemon must save
        before = h.engine.revision
        change()
        assert h.engine.revision > before
    before = h.engine.revision
    assert not h.engine.acknowledge("down:nothing:1", "lan")
    h.set("xa-3-rtr", DOWN)
    h.run(600, step=60)  # polls, incidents and repeats are saved with their deliveries
    assert h.engine.revision == before


def test_maintenance_on_a_site_records_maintenance_and_sends_nothing() -> None:
    from tests.unit.alerting.test_maintenance import window_now

    h = Harness()
    h.all_up()
    h.engine.add_window(window_now("works", "huyen", h.now, hours=2))
    out = h.tick()
    moved = {t.subject for t in out.transitions if t.new is Status.MAINTENANCE}
    assert moved == {"huyen-rtr", *BEHIND_HUYEN, "huyen", "xa-1", "xa-2", "xa-3"}
    h.set("huyen-rtr", DOWN)
    h.set("xa-1-rtr", DOWN)
    out = h.tick()
    assert out.deliveries == []
    assert [(a.subject, why) for a, why in out.suppressed] == [("huyen-rtr", "maintenance")]
    assert h.engine.status_of("xa-1-rtr") is Status.MAINTENANCE
    out = h.run(2 * 3600, step=60)  # the window ends; the gateway is still down
    assert alerts(out) == [("down", "firing", "huyen-rtr")]
    assert h.engine.status_of("xa-1-rtr") is UNREACHABLE


def test_maintenance_on_one_device_covers_what_it_cuts_off() -> None:
    from tests.unit.alerting.test_maintenance import window_now

    h = Harness()
    h.all_up()
    h.engine.add_window(window_now("swap", "xa-1-rtr", h.now, hours=1))
    h.set("xa-1-rtr", DOWN)
    out = h.tick()
    assert out.deliveries == []
    assert h.engine.status_of("xa-1-pc-1") is Status.MAINTENANCE
    assert h.engine.site_status("xa-1") is Status.MAINTENANCE
    h.set("xa-1-rtr", UP)
    out = h.tick(600)
    assert out.deliveries == []
    assert [(a.state, why) for a, why in out.suppressed] == [("resolved", "maintenance")]


def test_a_service_down_on_an_up_server_alerts_like_the_server() -> None:
    h = Harness()
    h.all_up()
    h.engine.service_changed("srv-mail", "smtp", False, "refused: port 25", h.now)
    out = h.tick()
    assert alerts(out) == [("service", "firing", "srv-mail")]
    assert [d.contact for d in out.deliveries] == ["dc-admin", "dc-admin", "-"]
    assert out.deliveries[0].alert.severity == "critical"
    assert "smtp" in out.deliveries[0].alert.detail
    h.engine.service_changed("srv-mail", "smtp", True, "", h.now)
    assert alerts(h.tick()) == [("service", "resolved", "srv-mail")]


def test_a_service_on_an_unreachable_server_is_not_an_alert_of_its_own() -> None:
    h = Harness()
    h.all_up()
    h.set("core-rtr", DOWN)
    h.tick()
    h.engine.service_changed("srv-portal", "https", False, "timeout", h.now)
    assert h.run(600).deliveries == []


def test_a_service_failure_waits_while_its_server_is_suspect() -> None:
    h = Harness()
    h.all_up()
    h.suspects.add("srv-portal")
    h.engine.service_changed("srv-portal", "https", False, "timeout", h.now)
    assert h.tick().deliveries == []
    h.set("srv-portal", DOWN)
    h.suspects.clear()
    out = h.run(120)
    assert alerts(out) == [("down", "firing", "srv-portal")]


def test_sites_get_transitions_with_their_root_cause() -> None:
    h = Harness()
    h.all_up()
    h.set("huyen-rtr", DOWN)
    out = h.tick()
    sites = {t.subject: t for t in out.transitions if t.kind == "site"}
    assert sites["huyen"] == Transition("huyen", "site", UP, DOWN, h.now, "huyen-rtr")
    assert sites["xa-3"] == Transition("xa-3", "site", UP, UNREACHABLE, h.now, "huyen-rtr")
    assert h.engine.site_status("tinh") is UP
    devices = {t.subject: t for t in out.transitions if t.kind == "device"}
    assert devices["xa-1-pc-1"].cause == "huyen-rtr"


def test_a_quiet_tick_produces_nothing() -> None:
    h = Harness()
    h.all_up()
    out = h.tick(1)
    assert (out.transitions, out.deliveries, out.recheck, out.suppressed) == ([], [], [], [])


def test_a_reload_keeps_the_state_of_unchanged_devices() -> None:
    h = Harness()
    h.all_up()
    h.set("xa-1-rtr", DOWN)
    h.set("xa-2-rtr", DOWN)
    h.tick()
    inv = province()
    devices = [d for d in inv.devices.values() if not d.id.startswith("xa-2")]
    devices.append(Device("srv-new", "10.0.1.12", Role.SERVER, "tinh", depends_on=("core-rtr",)))
    sites = [s for s in inv.sites.values() if s.id != "xa-2"]
    sites = [replace(s, children=("xa-1", "xa-3")) if s.id == "huyen" else s for s in sites]
    sites[0] = replace(sites[0], devices=(*sites[0].devices, "srv-new"))
    h.engine.set_inventory(build(sites, devices))
    out = h.tick()
    assert out.transitions == []  # srv-new is unknown, as it starts
    # The removed commune's router was down: its contacts learn it is no longer watched.
    assert {(d.alert.subject, d.alert.ended) for d in out.deliveries} == {("xa-2-rtr", "removed")}
    assert h.engine.status_of("xa-1-rtr") is DOWN
    assert [a.subject for a in h.engine.active_alerts()] == ["xa-1-rtr"]
    h.set("xa-1-rtr", UP)
    assert alerts(h.tick()) == [("down", "resolved", "xa-1-rtr")]


def test_a_service_held_for_a_suspect_server_alerts_once_the_hold_expires() -> None:
    h = Harness(settings=AlertSettings(hold=60))
    h.all_up()
    h.suspects.add("srv-portal")  # never confirmed either way
    h.engine.service_changed("srv-portal", "https", False, "timeout", h.now)
    assert h.run(59).deliveries == []
    out = h.run(5)
    assert alerts(out) == [("service", "firing", "srv-portal")]


def test_a_flapping_devices_open_alert_is_not_repeated() -> None:
    h = Harness(settings=AlertSettings(flap_window=7200, flap_threshold=4, repeat_interval=600))
    h.all_up()
    for status in (DOWN, UP, DOWN, UP, DOWN):
        h.set("xa-1-rtr", status)
        h.tick(10)
    out = h.run(1800, step=60)
    assert {a[0] for a in alerts(out)} == {"flapping"}  # the flapping alert itself repeats


def test_a_removed_workstation_leaves_the_digest() -> None:
    h = Harness()
    h.all_up()
    h.set("xa-2-pc-1", DOWN)
    h.set("xa-1-pc-1", DOWN)
    h.tick()
    inv = province()
    devices = [d for d in inv.devices.values() if d.id != "xa-2-pc-1"]
    sites = [
        replace(s, devices=("xa-2-rtr", "xa-2-pc-2")) if s.id == "xa-2" else s
        for s in inv.sites.values()
    ]
    h.engine.set_inventory(build(sites, devices))
    out = h.tick(22 * 3600)
    assert alerts(out) == [("digest", "firing", "xa-1")]


def test_the_engine_runs_on_the_real_inventory() -> None:
    from netwatch.inventory import build_inventory

    inv = build_inventory(province().config)
    h = Harness()
    h.engine.set_inventory(inv)
    h.all_up()
    h.set("huyen-rtr", DOWN)
    out = h.tick()
    assert alerts(out) == [("down", "firing", "huyen-rtr")]
    assert out.deliveries[0].alert.labels["district"] == "huyen"


def test_an_outage_spanning_a_restart_is_announced_once_and_resolved_with_its_id() -> None:
    # Found end to end: after a restart the outage got a second "down" message with a new id,
    # and the first one was never resolved.
    before = Harness()
    before.all_up()
    before.set("xa-1-rtr", DOWN)
    firing = before.tick().deliveries[0].alert
    saved = incidents_to_json(before.engine.open_incidents())
    after = Harness(start=before.now + 30)  # a new process: nothing known of any device
    after.engine.adopt(incidents_from_json(saved))
    assert after.tick().deliveries == []  # not polled yet: neither over nor confirmed
    for did in after.inventory.devices:  # the first polls: still down
        after.set(did, DOWN if did == "xa-1-rtr" else UP)
    assert after.run(120).deliveries == []  # still the same outage
    assert [a.id for a in after.engine.active_alerts()] == [firing.id]
    after.set("xa-1-rtr", UP)
    out = after.tick(1)
    assert sent(out)[0][:3] == ("down", "resolved", "xa-1-rtr")
    assert {d.alert.id for d in out.deliveries} == {firing.id}


def test_an_outage_that_ended_during_a_restart_is_resolved_at_the_first_poll() -> None:
    before = Harness()
    before.all_up()
    before.set("huyen-rtr", DOWN)
    before.tick()
    flap = Harness(settings=AlertSettings(flap_window=600, flap_threshold=4))
    flap.all_up()
    for status in (DOWN, UP, DOWN, UP):
        flap.set("xa-3-rtr", status)
        flap.tick(30)
    saved = [*before.engine.open_incidents(), *flap.engine.open_incidents()]
    after = Harness(start=flap.now + 30)
    after.engine.adopt(incidents_from_json(incidents_to_json(saved)))
    out = after.all_up()
    assert alerts(out) == [("down", "resolved", "huyen-rtr")]
    assert after.engine.flapping() == {"xa-3-rtr"}  # settles after a quiet window, as before
    out = after.run(600, step=10)
    assert alerts(out) == [("flapping", "resolved", "xa-3-rtr"), ("down", "resolved", "xa-3-rtr")]
    assert after.engine.active_alerts() == []


def test_a_device_removed_while_down_tells_its_contacts_it_is_no_longer_watched() -> None:
    h = Harness()
    h.all_up()
    h.set("xa-3-rtr", DOWN)
    assert alerts(h.tick()) == [("down", "firing", "xa-3-rtr")]
    inv = province()
    devices = [d for d in inv.devices.values() if d.id != "xa-3-rtr"]
    sites = [
        replace(s, devices=tuple(d for d in s.devices if d != "xa-3-rtr"), gateway=None)
        if s.id == "xa-3"
        else s
        for s in inv.sites.values()
    ]
    h.engine.set_inventory(build(sites, devices))
    out = h.tick()
    assert [d.contact for d in out.deliveries] == ["it-xa3", "-"]
    ended = out.deliveries[0].alert
    assert (ended.state, ended.ended) == ("resolved", "removed")
    msg = render(ended, "vi", TZ, "")
    assert msg.subject.startswith("NGỪNG GIÁM SÁT")
    assert "gỡ khỏi cấu hình" in msg.text
    assert h.engine.active_alerts() == []


def test_warnings_escalate_when_the_setting_says_so() -> None:
    only_critical = Harness(settings=AlertSettings(repeat_interval=10**6, escalate_after=600))
    warnings_too = Harness(
        settings=AlertSettings(
            repeat_interval=10**6, escalate_after=600, escalate=("critical", "warning")
        )
    )
    for h in (only_critical, warnings_too):
        h.all_up()
        h.set("xa-3-rtr", DOWN)  # a commune router: a warning
        h.tick()
    assert only_critical.run(700, step=60).deliveries == []
    out = warnings_too.run(700, step=60)
    assert {d.contact for d in out.deliveries} == {"it-huyen", "-"}
    assert all(d.alert.escalated for d in out.deliveries)


def test_a_workstation_waiting_for_the_digest_is_not_a_firing_alert() -> None:
    from netwatch.exporters.sites import write_alerts
    from netwatch.exporters.text import MetricsText

    h = Harness()
    h.all_up()
    h.set("xa-2-pc-1", DOWN)
    h.set("xa-3-rtr", DOWN)
    h.tick()
    active = h.engine.active_alerts()
    assert {(a.subject, a.digest_only) for a in active} == {
        ("xa-2-pc-1", True),
        ("xa-3-rtr", False),
    }
    text = MetricsText()
    write_alerts(text, active)
    rendered = text.encode().decode()
    assert 'netwatch_alerts_firing{severity="warning"} 1' in rendered
