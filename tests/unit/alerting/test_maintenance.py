"""Maintenance windows: one-off and recurring, local time, across midnight and DST; silences;
and how the ones added over the API are kept across a restart."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from netwatch.alerting.maintenance import operator_from_json, operator_to_json
from netwatch.settings.alerting import AlertSettings, MaintenanceWindow, Silence, parse_clock

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def window_now(window_id: str, target: str, now: float, *, hours: float) -> MaintenanceWindow:
    start = datetime.fromtimestamp(now, HCM)
    return MaintenanceWindow(window_id, target, start, timedelta(hours=hours), reason="test")


def at(year: int, month: int, day: int, hour: int, minute: int, tz: ZoneInfo = HCM) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=tz).timestamp()


def test_a_one_off_window_is_active_from_its_start_for_its_duration() -> None:
    w = MaintenanceWindow(
        "fw", "core-fw", datetime(2026, 3, 14, 21, tzinfo=HCM), timedelta(hours=3)
    )
    assert not w.active(at(2026, 3, 14, 20, 59))
    assert w.active(at(2026, 3, 14, 21, 0))
    assert w.active(at(2026, 3, 14, 23, 59))
    assert not w.active(at(2026, 3, 15, 0, 0))
    assert not w.active(at(2026, 3, 21, 22, 0))  # no recurrence


def test_every_sunday_at_22_for_2h_in_the_agents_time_zone() -> None:
    w = MaintenanceWindow.recurring("sun", "huyen", "22:00", timedelta(hours=2), weekday=6)
    assert not w.active(at(2026, 3, 1, 21, 59))  # Sunday
    assert w.active(at(2026, 3, 1, 22, 0))
    assert w.active(at(2026, 3, 1, 23, 59))
    assert not w.active(at(2026, 3, 2, 0, 0))  # Monday: two hours are over
    assert w.active(at(2026, 3, 8, 22, 30))  # next Sunday
    assert not w.active(at(2026, 3, 7, 22, 30))  # Saturday
    # 22:00 in Hanoi is 15:00 UTC: the window follows the agent's clock, not UTC.
    assert w.active(datetime(2026, 3, 1, 15, 30, tzinfo=ZoneInfo("UTC")).timestamp())


def test_a_weekly_window_across_midnight_covers_the_next_morning() -> None:
    w = MaintenanceWindow.recurring("late", "huyen", "23:00", timedelta(hours=2), weekday=6)
    assert w.active(at(2026, 3, 1, 23, 30))  # Sunday
    assert w.active(at(2026, 3, 2, 0, 30))  # Monday
    assert not w.active(at(2026, 3, 2, 1, 0))
    assert not w.active(at(2026, 3, 3, 0, 30))  # Tuesday


def test_a_daily_window_repeats_every_day() -> None:
    w = MaintenanceWindow.recurring("backup", "srv-mail", "02:00", timedelta(minutes=30))
    assert all(w.active(at(2026, 3, d, 2, 15)) for d in range(1, 8))
    assert not w.active(at(2026, 3, 4, 2, 30))


def test_a_recurring_window_keeps_local_time_across_a_dst_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    w = MaintenanceWindow.recurring(
        "sun", "x", "22:00", timedelta(hours=2), weekday=6, timezone="Europe/Berlin"
    )
    assert w.active(at(2026, 3, 22, 22, 30, tz=berlin))  # CET
    assert w.active(at(2026, 3, 29, 22, 30, tz=berlin))  # CEST since that morning
    assert not w.active(at(2026, 3, 29, 21, 30, tz=berlin))


def test_next_change_is_the_next_edge() -> None:
    w = MaintenanceWindow.recurring("sun", "huyen", "22:00", timedelta(hours=2), weekday=6)
    assert w.next_change(at(2026, 3, 1, 12, 0)) == at(2026, 3, 1, 22, 0)
    assert w.next_change(at(2026, 3, 1, 23, 0)) == at(2026, 3, 2, 0, 0)


def test_a_recurring_window_does_not_apply_before_its_start() -> None:
    w = MaintenanceWindow(
        "w", "x", datetime(2026, 3, 8, 22, tzinfo=HCM), timedelta(hours=2), recurrence="weekly"
    )
    assert not w.active(at(2026, 3, 1, 22, 30))
    assert w.active(at(2026, 3, 15, 22, 30))


def test_a_window_needs_an_aware_start_and_a_positive_duration() -> None:
    with pytest.raises(ValueError, match="time zone"):
        MaintenanceWindow("w", "x", datetime(2026, 3, 8, 22), timedelta(hours=2))
    with pytest.raises(ValueError, match="duration"):
        MaintenanceWindow("w", "x", datetime(2026, 3, 8, 22, tzinfo=HCM), timedelta(0))
    with pytest.raises(ValueError, match="22:00"):
        parse_clock("10pm")


@pytest.mark.parametrize(
    ("start", "hours", "message"),
    [
        ("0001-01-01T00:00:00+14:00", 1, "between 1970-01-01 and 9998-12-31"),
        ("9999-12-31T23:00:00-14:00", 1, "between 1970-01-01 and 9998-12-31"),
        ("1969-12-31T23:59:59+00:00", 1, "between 1970-01-01 and 9998-12-31"),
        ("9998-12-31T23:30:00+00:00", 1, "end before 9999-01-01"),
        ("2026-03-08T22:00:00+07:00", 24 * 366 * 11, "at most 10 years"),
    ],
)
def test_a_window_that_would_overflow_later_is_refused_when_made(
    start: str, hours: int, message: str
) -> None:
    """Checked in the constructor: the API, the config and a saved file all go through it."""
    with pytest.raises(ValueError, match=message):
        MaintenanceWindow("w", "x", datetime.fromisoformat(start), timedelta(hours=hours))


@pytest.mark.parametrize("until", [-1.0, float("nan"), float("inf"), 1e300])
def test_a_silence_ending_outside_1970_to_9998_is_refused_when_made(until: float) -> None:
    with pytest.raises(ValueError, match="until"):
        Silence("s", until=until, sites=("x",))


def test_the_edges_of_the_range_are_accepted() -> None:
    first = MaintenanceWindow("a", "x", datetime.fromisoformat("1970-01-01T00:00:00+00:00"),
                              timedelta(hours=1))  # fmt: skip
    last = MaintenanceWindow("b", "x", datetime.fromisoformat("9998-12-31T22:59:59+00:00"),
                             timedelta(hours=1))  # fmt: skip
    assert first.over(1e9)
    assert not last.active(1e9)
    assert Silence("s", until=253370764799.0).until == 253370764799.0  # 9998-12-31T23:59:59Z


def test_the_digest_is_at_its_local_time_each_day() -> None:
    s = AlertSettings(digest_time="08:00")
    assert s.next_digest(at(2026, 3, 4, 7, 59), "Asia/Ho_Chi_Minh") == at(2026, 3, 4, 8, 0)
    assert s.next_digest(at(2026, 3, 4, 8, 0), "Asia/Ho_Chi_Minh") == at(2026, 3, 5, 8, 0)


def test_severity_by_role_and_level() -> None:
    s = AlertSettings()
    assert s.severity_of("province", "server", gateway=False) == ("critical", False)
    assert s.severity_of("district", "router", gateway=True) == ("critical", False)
    assert s.severity_of("commune", "router", gateway=True) == ("warning", False)
    assert s.severity_of("commune", "workstation", gateway=False) == ("warning", True)
    custom = AlertSettings(severity_by_role={"commune/gateway": "critical"})
    assert custom.severity_of("commune", "router", gateway=True) == ("critical", False)


def test_a_silence_matches_its_devices_and_everything_below_its_sites_until_it_ends() -> None:
    s = Silence("s", until=100.0, devices=("a",), sites=("huyen",))
    assert s.matches("a", ("xa-1",), 50.0)
    assert s.matches("b", ("xa-1", "huyen", "tinh"), 50.0)
    assert not s.matches("b", ("tinh",), 50.0)
    assert not s.matches("a", (), 100.0)


def test_a_one_off_window_is_over_after_its_end_and_a_recurring_one_never() -> None:
    one_off = MaintenanceWindow("fw", "core-fw", datetime(2026, 3, 14, 21, tzinfo=HCM),
                                timedelta(hours=3))  # fmt: skip
    weekly = MaintenanceWindow.recurring("sun", "huyen", "22:00", timedelta(hours=2), weekday=6)
    assert not one_off.over(at(2026, 3, 14, 23, 59))
    assert one_off.over(at(2026, 3, 15, 0, 0))
    assert not weekly.over(at(2036, 1, 1, 0, 0))


def test_silences_and_windows_added_over_the_api_read_back_as_they_were_written() -> None:
    silences = [
        Silence("s-1", until=1.8e9, sites=("le-binh",), by="Lan", comment="thay cáp quang",
                created_at=1.7e9),
        Silence("s-2", until=1.8e9, devices=("ab-rtr", "ab-sw")),
    ]  # fmt: skip
    windows = [
        MaintenanceWindow("m-1", "cai-rang", datetime(2026, 3, 14, 21, tzinfo=HCM),
                          timedelta(hours=3), reason="Nâng cấp", timezone="Asia/Ho_Chi_Minh"),
        MaintenanceWindow.recurring("m-2", "ninh-kieu", "22:00", timedelta(minutes=90),
                                    weekday=6, timezone="Europe/Berlin"),
    ]  # fmt: skip
    text = operator_to_json(silences, windows)
    assert operator_from_json(text) == (silences, windows, [])
    assert "thay cáp quang" in text  # readable by a person, not \u-escaped
    # A recurring window keeps its zone: every Sunday at 22:00 in Berlin, summer or winter.
    back = operator_from_json(text)[1][1]
    assert back.active(at(2026, 7, 5, 22, 30, ZoneInfo("Europe/Berlin")))
    assert back.active(at(2026, 1, 4, 22, 30, ZoneInfo("Europe/Berlin")))


def test_an_entry_that_cannot_be_read_is_skipped_and_named_the_rest_kept() -> None:
    good = json.loads(operator_to_json(
        [Silence("s-ok", until=1.8e9, devices=("a",))],
        [MaintenanceWindow("m-ok", "x", datetime(2026, 3, 14, 21, tzinfo=HCM), timedelta(hours=1))],
    ))  # fmt: skip
    doc = {
        "silences": [*good["silences"], {"id": "s-bad", "devices": ["a"]}, "not an object"],
        "windows": [
            *good["windows"],
            {**good["windows"][0], "id": "m-naive", "start": "2026-03-14T21:00:00"},
            {**good["windows"][0], "id": "m-zone", "timezone": "Mars/Olympus"},
            {**good["windows"][0], "id": "m-often", "recurrence": "hourly"},
        ],
    }
    silences, windows, errors = operator_from_json(json.dumps(doc))
    assert [s.id for s in silences] == ["s-ok"]
    assert [w.id for w in windows] == ["m-ok"]
    assert len(errors) == 5
    for name in ("s-bad", "not objects", "m-naive", "m-zone", "m-often"):
        assert any(name in e for e in errors), (name, errors)


@pytest.mark.parametrize("text", ["", "[]", "{", '"silences"'])
def test_a_file_that_is_not_such_a_document_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"Expecting|a JSON object"):
        operator_from_json(text)
