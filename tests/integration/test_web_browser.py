"""The status page in a real browser (Chromium via Playwright) against a real daemon.

The daemon and the browser both run inside a network namespace the test creates: the daemon
watches a small province on 127.x addresses, and cutting the district gateway is an nft rule
dropping its address. Chromium runs in the namespace through a two-line wrapper around
``ip netns exec`` (Playwright talks to it over a pipe, which crosses namespaces), so it reaches
the daemon's 127.0.0.1 there. Screenshots of every page at 1280 px and 360 px are saved under
``tests/artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.daemon import RunningDaemon, free_port, write_config
from tests.netns import Netns

pytestmark = [pytest.mark.netns, pytest.mark.peer]

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

ROOT = Path(__file__).parents[2]
SHOTS = ROOT / "tests" / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
TOKEN = "web-test-token-5b1c"
NK_RTR = "127.0.20.1"
RED = "rgb(198, 40, 40)"  # --down in netwatch.css
PURPLE = "rgb(142, 36, 170)"  # --degraded
XSS = "<script>alert(1)</script>"
# Waits (30 s at most) until every site of /api/v1/sites is up; fails if it never is.
ALL_UP = """
import json, sys, time, urllib.request
def ids(nodes):
    return [(n["id"], n["status"]) for n in nodes] + [x for n in nodes for x in ids(n["children"])]
deadline = time.monotonic() + 30
while True:
    try:
        sites = ids(json.load(urllib.request.urlopen(sys.argv[1], timeout=5))["sites"])
        if len(sites) == 5 and all(status == "up" for _, status in sites):
            break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit(f"not every site is up within 30 s")
    time.sleep(0.2)
"""

CONFIG = """
agent: {{listen: "127.0.0.1:{port}", data_dir: {data}, api_token: {{env: NW_TEST_TOKEN}}}}
defaults:
  icmp: {{interval: 1s, count: 2, timeout: 500ms, spacing: 50ms}}
  down_after: 2
  up_after: 1
  retry_interval: 300ms
sites:
  - id: can-tho
    name: "TP Cần Thơ — Trung tâm dữ liệu"
    level: province
    gateway: core-rtr
    devices:
      # The province's portal refuses connections (nothing listens on port 9 in the
      # namespace) while its server pings: the province is shown degraded.
      - {{id: core-rtr, address: 127.0.0.1, role: router,
          services: [{{name: "Cổng dịch vụ công", tcp: 9, interval: 1s, timeout: 500ms}}]}}
    sites:
      - id: ninh-kieu
        name: "Quận Ninh Kiều"
        level: district
        gateway: nk-rtr
        devices: [{{id: nk-rtr, address: {nk}, role: router}}]
        sites:
          - id: an-binh
            name: "Phường An Bình"
            level: commune
            gateway: ab-rtr
            devices:
              - {{id: ab-rtr, address: 127.0.21.1, role: router}}
              - {{id: ab-pc-01, address: 127.0.21.101, role: workstation}}
          - id: cai-khe
            name: "Phường Cái Khế"
            level: commune
            gateway: ck-rtr
            devices: [{{id: ck-rtr, address: 127.0.22.1, role: router}}]
      - id: xss
        name: "{xss}"
        level: district
        gateway: xss-rtr
        devices: [{{id: xss-rtr, address: 127.0.30.1, role: router}}]
"""


@dataclass
class Setup:
    ns: Netns
    daemon: RunningDaemon
    browser: Any
    base: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("needs Debian chromium (apt-get install -y chromium)")
    tmp = tmp_path_factory.mktemp("web")
    port = free_port()
    text = CONFIG.format(port=port, data=tmp / "data", nk=NK_RTR, xss=XSS)
    config = write_config(tmp, text)
    with Netns() as ns:
        wrapper = tmp / "chromium-in-netns"
        ip = shutil.which("ip")
        wrapper.write_text(f'#!/bin/sh\nexec {ip} netns exec {ns.name} {CHROMIUM} "$@"\n')
        wrapper.chmod(0o755)
        env = {"NW_TEST_TOKEN": TOKEN}
        with RunningDaemon(config, port, prefix=ns.argv([]), env=env) as daemon:
            daemon.wait_for_log("netwatch started", timeout=30)
            # Every site up, asked of the API: the log rate-limits a burst of start-up lines.
            probe = ns.run(
                [sys.executable, "-c", ALL_UP, f"http://127.0.0.1:{port}/api/v1/sites"],
                check=False,
            )
            assert probe.returncode == 0, (
                "the daemon does not serve the status page and API (is make_app(hooks, backend)"
                f" wired in netwatch/daemon.py?): {probe.stdout}{probe.stderr}"
            )
            with playwright_sync.sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=str(wrapper),
                    args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update",
                          "--disable-sync"],
                )  # fmt: skip
                try:
                    yield Setup(ns, daemon, browser, f"http://127.0.0.1:{port}")
                finally:
                    browser.close()
            assert TOKEN not in daemon.log


def new_page(s: Setup, width: int = 1280, height: int = 900) -> Any:
    context = s.browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.dialogs = dialogs
    errors: list[str] = []  # script errors and CSP violations the page caused
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    return page


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_1_a_site_named_script_shows_as_text_and_runs_nothing(setup: Setup) -> None:
    page = new_page(setup)
    page.goto(setup.base + "/")
    link = page.locator('li[data-id="xss"] > .row a.name')
    assert link.text_content() == XSS
    page.wait_for_timeout(500)
    # Let the page refresh itself from the API once, then look again.
    expect(page.locator("#updated")).not_to_be_empty()
    assert page.locator('li[data-id="xss"] > .row a.name').text_content() == XSS
    page.goto(setup.base + "/sites/xss")
    assert page.locator("h1").text_content().startswith(XSS)
    assert page.dialogs == []
    page.context.close()


def test_2_cutting_the_district_turns_it_red_and_its_communes_unreachable(setup: Setup) -> None:
    page = new_page(setup)
    page.goto(setup.base + "/")
    assert page.locator('li[data-id="ninh-kieu"]').get_attribute("class") == "node st-up"
    shot(page, "index-all-up-1280")
    setup.ns.drop(NK_RTR)
    # No reload: the page refreshes itself from the API (every 15 s) and shows the cut.
    page.wait_for_selector('li[data-id="ninh-kieu"].st-down', timeout=60_000)
    page.wait_for_selector('li[data-id="an-binh"].st-unreachable', timeout=30_000)
    page.wait_for_selector('li[data-id="cai-khe"].st-unreachable', timeout=30_000)
    row = page.locator('li[data-id="ninh-kieu"] > .row')
    assert row.evaluate("e => getComputedStyle(e).borderLeftColor") == RED
    badge = page.locator('li[data-id="ninh-kieu"] > .row .badge')
    assert badge.text_content() == "Mất kết nối"
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == RED
    assert page.locator('li[data-id="an-binh"] > .row .badge').text_content() == (
        "Không truy cập được"
    )
    # Worst first: the cut district comes before the healthy one.
    order = page.locator("#tree > li > ul > li").evaluate_all("ls => ls.map(l => l.dataset.id)")
    assert order == ["ninh-kieu", "xss"]
    shot(page, "index-cut-1280")
    page.set_viewport_size({"width": 360, "height": 780})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "index-cut-360")
    # The search box filters the tree by name.
    page.fill("#q", "cái khế")
    page.wait_for_timeout(100)
    visible = page.locator("#tree li:visible").evaluate_all("ls => ls.map(l => l.dataset.id)")
    assert visible == ["can-tho", "ninh-kieu", "cai-khe"]
    # ... and finds devices by name or address.
    page.fill("#q", "127.0.21")
    expect(page.locator("#found-list li")).to_have_count(2)
    expect(page.locator("#found-list")).to_contain_text("ab-rtr")
    page.context.close()


def test_3_acknowledging_works_with_the_token_and_is_refused_without(setup: Setup) -> None:
    setup.ns.drop(NK_RTR)  # idempotent: the cut of the previous test, or this test alone
    page = new_page(setup)
    page.goto(setup.base + "/alerts")
    ack = page.locator("#alerts button.ack")
    ack.first.wait_for(timeout=60_000)
    row = page.locator("#alerts tr", has=page.locator('a[href="/devices/nk-rtr"]'))
    assert row.count() == 1
    # No token: the page says so and sends nothing.
    row.locator("button.ack").click()
    page.wait_for_selector("#message.error")
    assert page.locator("#message").text_content() == "Hãy nhập mã truy cập API trước"
    # A wrong token: the server refuses (401) and the page shows why.
    page.fill("#token", "not-the-token")
    page.click("#token-save")
    row.locator("button.ack").click()
    expect(page.locator("#message")).to_contain_text("bearer token", timeout=10_000)
    assert row.locator("button.ack").count() == 1
    # The right token, kept for the session: acknowledged, and the row says by whom.
    page.fill("#token", TOKEN)
    page.fill("#who", "Lan <CNTT>")
    page.click("#token-save")
    assert page.input_value("#token") == ""  # not left in the form
    row.locator("button.ack").click()
    page.wait_for_selector("#message.ok")
    acked = page.locator("#alerts tr .acked")
    acked.first.wait_for(timeout=10_000)
    assert acked.first.text_content() == "Đã xác nhận: Lan <CNTT>"
    assert page.evaluate("sessionStorage.getItem('netwatch-token')") == TOKEN
    assert TOKEN not in page.content()
    shot(page, "alerts-1280")
    page.set_viewport_size({"width": 360, "height": 780})
    page.reload()
    page.locator("#alerts tr .acked").first.wait_for()
    shot(page, "alerts-360")
    # A silence from the page shows up in the silences table.
    page.locator("#alerts button.silence").first.click()
    page.locator("#silences button.unsilence").first.wait_for(timeout=10_000)
    page.context.close()


def test_4_the_language_switch_changes_the_page_and_sticks(setup: Setup) -> None:
    page = new_page(setup)
    page.goto(setup.base + "/")
    assert page.locator("html").get_attribute("lang") == "vi"
    assert page.locator("h1").text_content() == "Trạng thái mạng"
    page.click("header .langs a.lang-en")
    page.wait_for_url(re.compile(r"lang=en"))
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").text_content() == "Network status"
    page.goto(setup.base + "/alerts")  # the cookie keeps English
    assert page.locator("h1").text_content() == "Open alerts"
    expect(page.locator("#updated")).to_contain_text("Updated")
    page.click("header .langs a.lang-vi")
    page.wait_for_url(re.compile(r"lang=vi"))
    assert page.locator("h1").text_content() == "Cảnh báo đang mở"
    page.context.close()


def test_6_a_refused_portal_on_an_up_server_shows_its_site_degraded(setup: Setup) -> None:
    """The province's server answers ping but its portal refuses: the tree shows the province
    as "Ứng dụng lỗi" in its own colour, with a failing-services chip, and keeps it after the
    page refreshes itself from the API; the site page lists the portal with the reason."""
    page = new_page(setup)
    page.goto(setup.base + "/")
    node = 'li[data-id="can-tho"]'
    page.wait_for_selector(f"{node}.st-degraded", timeout=30_000)
    expect(page.locator("#updated")).not_to_be_empty()  # re-rendered by the script
    page.wait_for_timeout(500)
    assert page.locator(node).get_attribute("class") == "node st-degraded"
    badge = page.locator(f"{node} > .row .badge")
    assert badge.text_content() == "Ứng dụng lỗi"
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == PURPLE
    chip = page.locator(f"{node} > .row .chip.st-degraded")
    assert chip.text_content() == "1"
    assert chip.get_attribute("title") == "Ứng dụng lỗi"
    assert "Ứng dụng lỗi" in page.locator("#summary").text_content()
    page.goto(setup.base + "/sites/can-tho")
    assert page.locator("#site-status .badge").text_content() == "Ứng dụng lỗi"
    section = page.locator("#failing-services")
    expect(section).to_contain_text("Cổng dịch vụ công")
    expect(section).to_contain_text("bị từ chối kết nối")
    shot(page, "site-degraded-1280")
    assert page.errors == []
    page.context.close()


@pytest.mark.parametrize("width", [1920, 1280, 360])
def test_5_every_page_renders_and_is_saved(setup: Setup, width: int) -> None:
    page = new_page(setup, width=width, height={1920: 1080, 1280: 900, 360: 780}[width])
    for name, path in (
        ("index", "/"),
        ("site-ninh-kieu", "/sites/ninh-kieu"),
        ("device-core-rtr", "/devices/core-rtr"),
        ("device-nk-rtr", "/devices/nk-rtr"),
        ("alerts", "/alerts"),
        ("availability", "/availability"),
        ("index-en", "/?lang=en"),
    ):
        resp = page.goto(setup.base + path)
        assert resp is not None
        assert resp.status == 200, path
        page.wait_for_timeout(300)
        if width == 360:
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
        shot(page, f"{name}-{width}")
    page.goto(setup.base + "/devices/core-rtr")
    page.wait_for_selector("#spark svg path.rtt", state="attached", timeout=30_000)
    assert page.locator("#checks tr").count() >= 1
    assert page.errors == []
    page.context.close()
