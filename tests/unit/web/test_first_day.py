"""What a new admin's first day showed missing: a failing application on an up server is seen
on the tree, the site page and the counts; "since when"; one word per state; digest items."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from netwatch.i18n import STATE_COLOURS, t
from netwatch.models import Failure, FailureKind, Sample, Status, Transition
from netwatch.probes.service_model import ServiceData
from tests.unit.web.backend import START, Province

Client = TestClient[web.Request, web.Application]
CSS = Path(__file__).parents[3] / "netwatch" / "web" / "static" / "netwatch.css"
REFUSED = Failure(FailureKind.REFUSED, "connect to 127.0.30.1:443: Connection refused")


def refuse_portal(p: Province) -> None:
    """The portal on the up ``xss-rtr`` refuses connections, twice (``down_after: 2``)."""
    device = p.inventory.devices["xss-rtr"]
    for _ in range(2):
        sample = Sample(
            "xss-rtr",
            "service:portal",
            p.clock(),
            0.01,
            REFUSED,
            ServiceData(None, 0.01, None, None),
        )
        p.state.record(device, sample)


async def get(client: Client, path: str) -> Any:
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    return await resp.json()


def nodes(tree: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for n in tree:
        out[n["id"]] = n
        out.update(nodes(n["children"]))
    return out


async def test_a_refused_portal_on_an_up_server_makes_its_site_degraded(
    client: Client, province: Province
) -> None:
    """The site stays "up" for alerting and history, but the API says degraded with the
    failing count (the subtree's in the parent), and the tree and the site page show it."""
    before = nodes((await get(client, "/api/v1/sites"))["sites"])
    assert before["xss"]["degraded"] is False
    assert before["xss"]["services_failing"] == 0
    refuse_portal(province)
    after = nodes((await get(client, "/api/v1/sites"))["sites"])
    assert after["xss"]["status"] == "up"
    assert after["xss"]["degraded"] is True
    assert after["xss"]["services_failing"] == 1
    assert after["can-tho"]["services_failing"] == 1  # counted up the tree, like devices
    assert after["can-tho"]["degraded"] is False  # its own services are fine
    assert province.engine.site_status("xss").value == "up"  # alerting's status is unchanged

    html = await (await client.get("/")).text()
    assert '<li class="node st-degraded" data-id="xss"' in html
    assert '<span class="badge st-degraded">Ứng dụng lỗi</span>' in html
    assert '<span class="chip st-degraded" title="Ứng dụng lỗi">1</span>' in html
    site = await (await client.get("/sites/xss")).text()
    assert '<span id="site-status"><span class="badge st-degraded">Ứng dụng lỗi</span>' in site
    section = site[site.index('id="failing-services"') :]
    assert "portal" in section
    assert "bị từ chối kết nối" in section
    assert "Connection refused</span>" not in section  # the probe's English only on hover
    # The device page says the same word for the failing portal, not "Mất kết nối".
    device = await (await client.get("/devices/xss-rtr")).text()
    checks = device.split('id="checks"')[1].split("</tbody>")[0]
    portal = checks.split("service:portal")[1].split("</tr>")[0]
    assert '<span class="badge st-degraded">Ứng dụng lỗi</span>' in portal


async def test_a_service_on_a_down_device_does_not_make_its_site_degraded(
    client: Client, province: Province
) -> None:
    """nk-rtr is down: its failing service is explained by that, not a second problem."""
    device = province.inventory.devices["nk-rtr"]
    for _ in range(2):
        sample: Sample[object] = Sample(
            "nk-rtr", "service:portal", province.clock(), 0.01, REFUSED, None
        )
        province.state.record(device, sample)
    sites = nodes((await get(client, "/api/v1/sites"))["sites"])
    assert sites["ninh-kieu"]["services_failing"] == 0
    assert sites["ninh-kieu"]["degraded"] is False


async def test_sites_and_devices_say_since_when_their_status_holds(
    client: Client, province: Province
) -> None:
    """``since`` is the time of the last status change, as the history dates it."""
    sites = nodes((await get(client, "/api/v1/sites"))["sites"])
    down_at = province.engine.status_since("site", "ninh-kieu")
    assert START < down_at <= province.clock()
    assert sites["ninh-kieu"]["since"] is not None
    assert sites["ninh-kieu"]["since"].startswith("2026-11-01T09:2")
    device = await get(client, "/api/v1/devices/nk-rtr")
    assert device["since"] == sites["ninh-kieu"]["since"]
    # The daemon dates a change back to the first failed poll: "since" follows the history.
    earlier = Transition("ninh-kieu", "site", Status.UP, Status.DOWN, START + 5.0)
    province.engine.dated([earlier])
    sites = nodes((await get(client, "/api/v1/sites"))["sites"])
    assert sites["ninh-kieu"]["since"] == "2026-11-01T09:26:45+07:00"
    assert sites["xss"]["since"] is not None


async def test_workstation_failures_for_the_digest_are_digest_items_on_alerts(
    client: Client, province: Province
) -> None:
    """ab-pc-01 (a workstation) fails: it waits for the digest, so /alerts lists it as a
    digest item after the alerts that page someone, not as one more "Mất kết nối"."""
    province.icmp("nk-rtr", ok=True)
    province.icmp("ab-rtr", ok=True)
    for _ in range(3):
        province.icmp("ab-pc-01", ok=True)
    for _ in range(3):
        province.advance(30)
        province.icmp("ab-pc-01", ok=False)
    province.advance(600)
    province.tick()
    alerts = (await get(client, "/api/v1/alerts"))["alerts"]
    digest = [a for a in alerts if a["subject"] == "ab-pc-01"]
    assert digest
    assert digest[0]["digest_only"] is True
    assert alerts[-1]["digest_only"] is True  # after every alert that pages someone
    html = await (await client.get("/alerts")).text()
    row = html[html.index("ab-pc-01") - 600 : html.index("ab-pc-01")]
    assert f'<span class="digest">{t("web_digest_item", "vi")}</span>' in row


async def test_levels_are_named_in_vietnamese_and_a_phuong_is_a_phuong(client: Client) -> None:
    """Tỉnh, Huyện, and a commune-level site named "Phường …" is a Phường, not a Xã."""
    html = await (await client.get("/")).text()
    assert '<span class="level">Tỉnh</span>' in html
    assert '<span class="level">Huyện</span>' in html
    assert '<span class="level">Phường</span>' in html  # "Phường An Bình"
    assert '<span class="level">Xã</span>' not in html
    assert "commune" not in re.sub(r'"[^"]*"', "", html.split("<main", 1)[1].split("</main>")[0])


def test_each_state_has_one_colour_in_the_css_and_the_catalogue() -> None:
    """The CSS variables and the catalogue's colours (used by the reports) are the same."""
    css = CSS.read_text(encoding="utf-8")
    for state, colour in STATE_COLOURS.items():
        assert re.search(rf"--{state}: {colour};", css), state


async def test_the_availability_page_has_services_and_says_how_much_was_known(
    client: Client, province: Province
) -> None:
    """by=service lists the portal; every row says how much of the month was known (the
    province was watched for a few minutes of November: coverage, not a bare 100 %)."""
    html = await (await client.get("/availability?month=2026-11&by=service")).text()
    body = html.split('id="report"')[1]
    assert '<a href="/devices/core-rtr">portal</a>' in body
    assert "Đã theo dõi" in html
    sites = await (await client.get("/availability?month=2026-11&by=site")).text()
    row = sites.split('<a href="/sites/xss">')[1].split("</tr>")[0]
    cells = re.findall(r'<td data-label="([^"]+)">([^<]*)</td>', row)
    values = dict(cells)
    assert values["Khả dụng"] == "100.00 %"
    assert values["Đã theo dõi"] == "0.4 %"  # 2 minutes watched of the 9.5 hours so far
