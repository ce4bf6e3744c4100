"""The HTML pages: what they show, in which language, and that user text stays text."""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.unit.web.backend import Province

Client = TestClient[web.Request, web.Application]


async def page(client: Client, path: str, status: int = 200, **kw: object) -> str:
    resp = await client.get(path, **kw)  # type: ignore[arg-type]
    assert resp.status == status, path
    assert resp.content_type == "text/html"
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    return await resp.text()


async def test_the_tree_shows_the_cut_district_first_and_its_commune_unreachable(
    client: Client,
) -> None:
    html = await page(client, "/")
    order = re.findall(r'<li class="node st-(\w+)" data-id="([^"]+)"', html)
    assert order == [
        ("up", "can-tho"),
        ("down", "ninh-kieu"),
        ("unreachable", "an-binh"),
        ("up", "xss"),
    ]
    assert "Quận Ninh Kiều" in html
    assert "Mất kết nối" in html  # Vietnamese by default
    assert '<html lang="vi">' in html


async def test_a_site_named_script_is_escaped_everywhere(client: Client) -> None:
    for path in ("/", "/sites/xss", "/devices/xss-rtr", "/sites/can-tho", "/availability"):
        html = await page(client, path)
        assert "<script>alert(1)</script>" not in html, path
        assert "<b>bold</b>" not in html, path
    html = await page(client, "/")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # The only scripts are our file and the JSON text block.
    assert re.findall(r"<script[^>]*>", html) == [
        '<script src="/static/netwatch.js" defer>',
        '<script type="application/json" id="nw-text">',
    ]


async def test_english_by_query_then_by_cookie(client: Client) -> None:
    resp = await client.get("/?lang=en")
    html = await resp.text()
    assert '<html lang="en">' in html
    assert "Network status" in html
    assert resp.cookies["netwatch_lang"].value == "en"
    again = await page(client, "/alerts")  # the client keeps the cookie
    assert "Open alerts" in again
    back = await page(client, "/alerts?lang=vi")
    assert "Cảnh báo đang mở" in back
    assert '<a href="/alerts?lang=en" hreflang="en"' in back


async def test_the_device_page_shows_checks_sparkline_interfaces_host(client: Client) -> None:
    html = await page(client, "/devices/core-rtr")
    assert "Các phép kiểm tra" in html
    assert '<svg class="spark"' in html
    # Three minutes of samples at the right edge of four hours, one unbroken line.
    assert re.search(
        r'<path class="rtt" d="M593\.8 [\d.]+ h0 L596\.\d [\d.]+ L598\.\d [\d.]+"/>', html
    )
    assert "uplink &lt;to DC&gt;" in html
    assert "100 kbit/s" in html
    assert "2 GiB / 8 GiB (25 %)" in html
    nk = await page(client, "/devices/nk-rtr")
    # The reason in Vietnamese, the probe's own (English) words only on hover.
    assert '<span title="no reply in 1s">không phản hồi trong thời gian chờ</span>' in nk
    assert "timeout: no reply" not in nk
    assert 'class="loss"' in nk  # every probe lost: red bars
    ab = await page(client, "/devices/ab-rtr")
    assert 'Nguyên nhân gốc: <a href="/devices/nk-rtr">nk-rtr</a>' in ab
    assert "09:28 ngày 01/11/2026" in ab  # its transition, in the agent's time


async def test_the_alerts_page_lists_the_alert_with_its_actions(
    client: Client, province: Province
) -> None:
    html = await page(client, "/alerts")
    (alert,) = province.engine.active_alerts()
    assert f'data-id="{alert.id}"' in html
    assert 'id="token" autocomplete="off"' in html
    assert "Nghiêm trọng" in html


async def test_the_availability_page_shows_the_month(client: Client) -> None:
    html = await page(client, "/availability?month=2026-11&by=district")
    assert 'value="2026-11"' in html
    rows = re.findall(r'<a href="/sites/([^"]+)">', html.split('id="report"')[1])
    assert rows == ["ninh-kieu", "xss"]
    assert "format=csv" in html
    bad = await page(client, "/availability?month=<x>&by=<y>")
    assert "&lt;x&gt;" not in bad  # an invalid month falls back to this month
    assert 'value="2026-11"' in bad


async def test_unknown_pages_are_404_in_the_layout(client: Client) -> None:
    html = await page(client, "/devices/%3Cscript%3E", 404)
    assert "Không tìm thấy" in html
    await page(client, "/sites/nope", 404)


async def test_static_files_are_served(client: Client) -> None:
    js = await client.get("/static/netwatch.js")
    assert js.status == 200
    assert "textContent" in await js.text()
    assert "innerHTML" not in await js.text()
    css = await client.get("/static/netwatch.css")
    assert css.status == 200
    missing = await client.get("/static/../pages.py")
    assert missing.status in (403, 404)


def test_every_text_the_script_asks_for_is_in_the_catalogue() -> None:
    """A typo in a key in netwatch.js would show the raw key to users."""
    from pathlib import Path

    from netwatch.i18n import message_keys
    from netwatch.web.layout import _for_js

    script = (Path(__file__).parents[3] / "netwatch/web/static/netwatch.js").read_text()
    keys = set(re.findall(r'\bt\("(\w+)"\)', script)) | set(re.findall(r'\bt\("(\w+)",', script))
    assert len(keys) > 15
    assert {k for k in keys if k not in message_keys() or not _for_js(k)} == set()
