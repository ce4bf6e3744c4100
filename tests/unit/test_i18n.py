"""The message catalogue: both languages everywhere, local time, durations."""

from __future__ import annotations

import pytest

from netwatch import i18n
from netwatch.i18n import format_duration, format_time, t


def test_every_key_has_vietnamese_and_english() -> None:
    args = dict(n=2, sites=2, devices=2, site="s", time="t", start="a", end="b", duration="d",
                detail="x", url="u", channel="c", device="p", hm="1", d=1, m=1, y=1,
                mon="Jan", minutes=25)  # fmt: skip
    for key in i18n.message_keys():
        assert t(key, "vi", **args), key
        assert t(key, "en", **args), key


def test_vietnamese_keeps_its_diacritics() -> None:
    assert t("down", "vi") == "MẤT KẾT NỐI"
    assert t("resolved", "vi") == "Đã khôi phục"
    assert t("affected_sites", "vi", sites=3) == "3 đơn vị bị ảnh hưởng"


def test_unknown_language_falls_back_to_vietnamese_and_unknown_key_fails() -> None:
    assert t("down", "fr") == "MẤT KẾT NỐI"
    with pytest.raises(KeyError):
        t("no-such-key", "vi")


def test_times_are_in_the_agent_timezone() -> None:
    assert format_time(1700000000.0, "Asia/Ho_Chi_Minh", "vi") == "05:13 ngày 15/11/2023"
    assert format_time(1700000000.0, "UTC", "en") == "22:13, 14 Nov 2023"


@pytest.mark.parametrize(
    ("seconds", "vi", "en"),
    [(0, "0 giây", "0 s"), (45, "45 giây", "45 s"), (3900, "1 giờ 5 phút", "1 h 5 min"),
     (90061, "1 ngày 1 giờ", "1 d 1 h"), (86460, "1 ngày", "1 d")],
)  # fmt: skip
def test_durations_show_two_adjacent_units(seconds: float, vi: str, en: str) -> None:
    assert (format_duration(seconds, "vi"), format_duration(seconds, "en")) == (vi, en)
