"""Rendering of alerts into phone-sized texts, in Vietnamese and English."""

from __future__ import annotations

import dataclasses

import pytest

from netwatch.alerting.messages import MAX_TEXT, render
from netwatch.alerting.model import Alert

TZ = "Asia/Ho_Chi_Minh"
URL = "https://netwatch.example.gov.vn"
# 2023-11-15 05:13:20 +07
T0 = 1700000000.0

DOWN = Alert(
    id="device:nk-rtr:1700000000",
    state="firing",
    kind="down",
    severity="critical",
    subject="nk-rtr",
    subject_kind="device",
    site="ninh-kieu",
    site_name="Quận Ninh Kiều",
    device_name="Router Ninh Kiều",
    detail="timeout: no reply in 1s",
    started_at=T0,
    affected_sites=tuple(f"xa-{i}" for i in range(12)),
    affected_devices=tuple(f"pc-{i}" for i in range(30)),
)
RESOLVED = dataclasses.replace(DOWN, state="resolved", resolved_at=T0 + 3900)


def test_firing_vi_says_what_since_when_how_many_and_links() -> None:
    m = render(DOWN, "vi", TZ, URL)
    assert m.subject == "MẤT KẾT NỐI: Router Ninh Kiều — Quận Ninh Kiều"
    assert "Từ: 05:13 ngày 15/11/2023" in m.text
    assert "Ảnh hưởng: 12 đơn vị, 30 thiết bị" in m.text
    assert "Chi tiết: không phản hồi trong thời gian chờ" in m.text
    assert m.text.endswith(f"Xem: {URL}/devices/nk-rtr")


def test_firing_en_uses_english_and_plurals() -> None:
    m = render(dataclasses.replace(DOWN, affected_sites=("a",)), "en", TZ, URL)
    assert m.subject == "DOWN: Router Ninh Kiều — Quận Ninh Kiều"
    assert "Since: 05:13, 15 Nov 2023" in m.text
    assert "Affected: 1 site, 30 devices" in m.text
    assert f"Status: {URL}/devices/nk-rtr" in m.text


def test_resolved_shows_duration_and_period() -> None:
    vi = render(RESOLVED, "vi", TZ, URL)
    assert vi.subject.startswith("Đã khôi phục: Router Ninh Kiều")
    assert "Thời gian gián đoạn: 1 giờ 5 phút" in vi.text
    assert "Từ 05:13 ngày 15/11/2023 đến 06:18" in vi.text
    en = render(RESOLVED, "en", TZ, URL)
    assert "Outage lasted: 1 h 5 min" in en.text


def test_resolved_across_midnight_repeats_the_date() -> None:
    m = render(dataclasses.replace(RESOLVED, resolved_at=T0 + 86400 + 60), "vi", TZ, URL)
    assert "đến 05:14 ngày 16/11/2023" in m.text
    assert "1 ngày 1 phút" not in m.text  # adjacent units only
    assert "Thời gian gián đoạn: 1 ngày" in m.text


def test_site_subject_links_to_the_site_page() -> None:
    site = dataclasses.replace(DOWN, subject="an-binh", subject_kind="site", site="an-binh",
                               site_name="Xã An Bình", device_name="")  # fmt: skip
    m = render(site, "vi", TZ, URL)
    assert m.subject == "MẤT KẾT NỐI ĐƠN VỊ: Xã An Bình"
    assert f"{URL}/sites/an-binh" in m.text


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_variant_fits_a_phone(lang: str) -> None:
    huge = dataclasses.replace(
        DOWN, kind="digest", detail="x" * 2000,
        items=tuple(f"an-binh-pc-{i:03d}: không phản hồi ping trong 3 chu kỳ" for i in range(200)),
    )  # fmt: skip
    variants = [
        DOWN, RESOLVED, huge, dataclasses.replace(DOWN, kind="flapping"),
        dataclasses.replace(DOWN, escalated=True), dataclasses.replace(DOWN, kind="test"),
    ]  # fmt: skip
    for alert in variants:
        m = render(alert, lang, TZ, URL, channel="email", now=T0)
        assert len(m.text) <= MAX_TEXT, (alert.kind, len(m.text))
        assert "\n" not in m.subject


def test_digest_counts_and_lists_the_first_workstations() -> None:
    digest = dataclasses.replace(DOWN, kind="digest", items=tuple(f"pc-{i}" for i in range(20)))
    m = render(digest, "vi", TZ, URL)
    assert m.subject == "20 máy trạm không hoạt động — Quận Ninh Kiều"
    assert "• pc-0" in m.text
    assert "… và 12 máy khác" in m.text
    assert f"{URL}/sites/ninh-kieu" in m.text


def test_escalation_and_flapping_are_marked() -> None:
    esc = render(dataclasses.replace(DOWN, escalated=True), "vi", TZ, URL)
    assert esc.subject.startswith("[CHUYỂN CẤP TRÊN] MẤT KẾT NỐI")
    assert "đã thông báo lên cấp trên" in esc.text
    flap = render(dataclasses.replace(DOWN, kind="flapping"), "en", TZ, URL)
    assert flap.subject.startswith("FLAPPING: Router Ninh Kiều")


def test_test_message_names_the_channel() -> None:
    m = render(dataclasses.replace(DOWN, kind="test"), "vi", TZ, "", channel="telegram", now=T0)
    assert m.subject == "Tin nhắn thử nghiệm từ netwatch"
    assert "Kênh telegram hoạt động bình thường" in m.text
    assert "Xem:" not in m.text  # no external_url, no link


def test_no_status_url_means_no_link_line() -> None:
    assert "http" not in render(DOWN, "en", TZ, "").text


@pytest.mark.parametrize(
    ("alert", "english"),
    [
        (DOWN, "no reply"),
        (
            dataclasses.replace(
                DOWN,
                kind="service",
                service="cổng dịch vụ công",
                detail="cổng dịch vụ công: refused: connect to 10.0.0.5:443: Connection refused",
            ),
            "Connection refused",
        ),
        (dataclasses.replace(DOWN, kind="flapping", detail="5 changes within 600s"), "changes"),
        (
            dataclasses.replace(
                DOWN,
                kind="digest",
                subject_kind="site",
                detail="2 down, 1 back",
                items=("pc-1", "pc-2"),
                item_downtimes=(None, None),
            ),
            "down",
        ),
    ],
    ids=["down", "service", "flapping", "digest"],
)
def test_a_vietnamese_message_has_no_english_reason(alert: Alert, english: str) -> None:
    """The probe's or the engine's English stays out of a Vietnamese message (the reason is
    translated); the English message keeps it."""
    assert english not in render(alert, "vi", TZ, URL).text
    if alert.kind != "digest":
        assert english in render(alert, "en", TZ, URL).text


def test_a_refused_service_says_so_in_vietnamese() -> None:
    """A refused portal's reason reads as Vietnamese words, with the HTTP status if any."""
    refused = dataclasses.replace(
        DOWN, kind="service", service="portal", detail="portal: refused: connect: refused"
    )
    text = render(refused, "vi", TZ, URL).text
    assert text.startswith("ỨNG DỤNG LỖI: portal @ Router Ninh Kiều")  # the page's word
    assert "Chi tiết: portal: bị từ chối kết nối (dịch vụ không chạy hoặc cổng đóng)" in text
    wrong = dataclasses.replace(refused, detail="portal: mismatch: HTTP 503, expected 200")
    assert "phản hồi không như mong đợi (HTTP 503)" in render(wrong, "vi", TZ, URL).text
