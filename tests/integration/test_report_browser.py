"""The HTML report served by ``/api/v1/report?format=html`` keeps its styling in a real browser
(Chromium via Playwright) under the Content-Security-Policy it is served with, and the browser
reports no CSP violation; served under the status pages' CSP instead, the same document loses
its style and Chromium says so (the check can fail)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netwatch.web.security import CSP
from tests.daemon import RunningDaemon, free_port, write_config

pytestmark = pytest.mark.peer

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
REPORT = "/api/v1/report?format=html&by=site&lang=en"
CONFIG = """
agent: {{listen: "127.0.0.1:{port}", data_dir: {data}}}
defaults:
  icmp: {{interval: 1s, count: 1, timeout: 500ms}}
sites:
  - id: can-tho
    name: "TP Cần Thơ"
    level: province
    gateway: core-rtr
    devices: [{{id: core-rtr, address: 127.0.0.1, role: router}}]
"""
TEXT = "rgb(33, 33, 33)"  # body{color:#212121}; Chromium's default is rgb(0, 0, 0)
HEADER = "rgb(236, 239, 241)"  # th{background:#eceff1}
DOWN = "rgb(198, 40, 40)"  # .legend i.down{background:#c62828}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("needs Debian chromium (apt-get install -y chromium)")
    tmp: Path = tmp_path_factory.mktemp("report")
    port = free_port()
    config = write_config(tmp, CONFIG.format(port=port, data=tmp / "data"))
    with RunningDaemon(config, port) as daemon:
        daemon.wait_for_log("site can-tho is up", timeout=30)
        with playwright_sync.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update",
                      "--disable-sync"],
            )  # fmt: skip
            try:
                yield f"http://127.0.0.1:{port}", browser
            finally:
                browser.close()


def open_page(browser: Any) -> tuple[Any, list[str]]:
    page = browser.new_page()
    errors: list[str] = []  # CSP violations are console errors in Chromium
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


def styles(page: Any) -> tuple[str, str, str]:
    def computed(selector: str, prop: str) -> str:
        value: str = page.locator(selector).first.evaluate(f"e => getComputedStyle(e).{prop}")
        return value

    return (
        computed("body", "color"),
        computed("th", "backgroundColor"),
        computed(".legend i.down", "backgroundColor"),
    )


def test_the_html_report_keeps_its_style_under_its_csp(served: tuple[str, Any]) -> None:
    base, browser = served
    page, errors = open_page(browser)
    response = page.goto(base + REPORT)
    assert response is not None
    assert response.status == 200
    csp = response.headers["content-security-policy"]
    assert "style-src 'sha256-" in csp
    assert "unsafe-inline" not in csp
    page.wait_for_load_state("load")
    assert page.locator("h1").text_content() == "Network availability report"
    assert page.locator("table tbody tr").count() >= 1
    assert styles(page) == (TEXT, HEADER, DOWN)
    assert errors == []
    page.close()


def test_under_the_pages_csp_the_same_report_loses_its_style(served: tuple[str, Any]) -> None:
    """The control: the browser does enforce the CSP and does report the violation."""
    base, browser = served
    page, errors = open_page(browser)

    def pages_csp(route: Any) -> None:
        answer = route.fetch()
        headers = {**answer.headers, "content-security-policy": CSP}
        route.fulfill(response=answer, headers=headers)

    page.route("**/api/v1/report*", pages_csp)
    page.goto(base + REPORT)
    page.wait_for_load_state("load")
    assert page.locator("h1").text_content() == "Network availability report"
    assert styles(page)[0] == "rgb(0, 0, 0)"
    assert any("Content Security Policy" in e for e in errors), errors
    page.close()
