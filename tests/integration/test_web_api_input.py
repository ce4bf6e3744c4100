"""What a client sends that netwatch cannot hold (a 400-digit duration, JSON 8,000 deep, year 1
or 9999 with a ±14:00 offset, a body past the limit) gets a 4xx with a JSON error from the real
daemon, which keeps serving; and what the daemon saved, even a window in year 1 left by an older
version, never stops it from starting again."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.daemon import RunningDaemon, free_port, write_config

pytestmark = pytest.mark.peer

TOKEN = "api-input-token-3f9a"
CONFIG = """
agent: {{listen: "127.0.0.1:{port}", data_dir: {data}, api_token: {{env: NW_TEST_TOKEN}}}}
defaults:
  icmp: {{interval: 1s, count: 1, timeout: 500ms}}
sites:
  - id: can-tho
    level: province
    gateway: core-rtr
    devices: [{{id: core-rtr, address: 127.0.0.1, role: router}}]
"""
# Year 1 and year 9999 at the offsets that push them past datetime's range in UTC.
EDGE_DATES = (
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-14:00",
    "9999-12-31T23:59:59+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01",
    "9999-12-31",
    "1969-12-31",
)
HUGE = "9" * 400
DEEP = b"[" * 8000 + b"]" * 8000  # 16,000 bytes: under the body limit, past the recursion limit


def send(
    port: int, method: str, path: str, body: bytes | Iterable[bytes] | None = None
) -> tuple[int, Any]:
    """One request with the token; the status and the decoded JSON body (text if not JSON)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=body)
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {TOKEN}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def refused(port: int, method: str, path: str, body: bytes | Iterable[bytes] | None = None) -> str:
    """The request is refused with a 4xx and a JSON ``{"error": ...}``; returns the message."""
    status, answer = send(port, method, path, body)
    assert 400 <= status < 500, f"{method} {path} answered {status}: {answer!r}"
    assert isinstance(answer, dict), f"{method} {path}: not a JSON error: {answer!r}"
    assert set(answer) == {"error"}, answer
    assert isinstance(answer["error"], str)
    assert answer["error"]
    return str(answer["error"])


def query(path: str, **params: str) -> str:
    return f"/api/v1/{path}?{urllib.parse.urlencode(params)}"


def test_bad_input_is_a_4xx_json_error_and_the_daemon_keeps_serving(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    config = write_config(tmp_path, CONFIG.format(port=port, data=data))
    env = {"NW_TEST_TOKEN": TOKEN}
    with RunningDaemon(config, port, env=env) as d:
        d.wait_ready()
        silence = {"sites": ["can-tho"]}
        window = {"target": "core-rtr", "start": "2026-12-06T22:00"}

        # A 400-digit duration, as a JSON number and as text, with and without a unit.
        for duration in (int(HUGE), HUGE, HUGE + "d", f"{HUGE}.5h", "1e400"):
            raw = json.dumps({**silence, "duration": duration}).encode()
            assert "duration" in refused(port, "POST", "/api/v1/silences", raw)
            raw = json.dumps({**window, "duration": duration}).encode()
            assert "duration" in refused(port, "POST", "/api/v1/maintenance", raw)

        # JSON nested 8,000 deep: as the whole body, and inside an allowed field.
        for path in ("/api/v1/silences", "/api/v1/maintenance"):
            assert "nests too deeply" in refused(port, "POST", path, DEEP)
            inside = b'{"sites": ' + DEEP + b', "duration": "1h"}'
            assert "nests too deeply" in refused(port, "POST", path, inside)
        # Brackets inside a string are text, not nesting.
        status, made = send(
            port,
            "POST",
            "/api/v1/silences",
            json.dumps({**silence, "duration": "1m", "comment": "[" * 400}).encode(),
        )
        assert status == 201, made

        # A body past the limit: with a length, and chunked (no length) so it must be counted.
        big = json.dumps({**silence, "duration": "1h", "comment": "x" * 40_000}).encode()
        for path in ("/api/v1/silences", "/api/v1/maintenance"):
            assert "too large" in refused(port, "POST", path, big)
            assert "too large" in refused(port, "POST", path, iter([big[:1000]] * 200))

        # Year 1 and year 9999 (± 14:00) everywhere a date is read.
        for when in EDGE_DATES:
            message = refused(
                port,
                "POST",
                "/api/v1/maintenance",
                json.dumps({**window, "start": when, "duration": "1h"}).encode(),
            )
            assert "1970-01-01 and 9998-12-31" in message, message
            for path, params in (
                ("history", {"device": "core-rtr"}),
                ("history", {"site": "can-tho"}),
                ("report", {}),
                ("report", {"format": "csv"}),
            ):
                message = refused(
                    port, "GET", query(path, **params, **{"from": when}, to="2026-01-01")
                )
                assert "1970-01-01 and 9998-12-31" in message, message
                refused(port, "GET", query(path, **params, **{"from": "2026-01-01"}, to=when))
        for month in ("0001-01", "9999-12", "1969-12"):
            assert "out of range" in refused(port, "GET", query("report", month=month))

        # A window that would end after 9998 is refused; the ones at the edges are kept.
        late = {**window, "start": "9998-12-31T20:00", "duration": "7d"}
        assert "9999-01-01" in refused(
            port, "POST", "/api/v1/maintenance", json.dumps(late).encode()
        )
        kept = []
        for start in ("1970-01-02T00:00", "9998-12-30T22:00"):
            status, made = send(
                port,
                "POST",
                "/api/v1/maintenance",
                json.dumps({**window, "start": start, "duration": "1h"}).encode(),
            )
            assert status == 201, made
            kept.append(made["id"])

        # Still serving, and no request was an internal error.
        status, sites = send(port, "GET", "/api/v1/sites")
        assert status == 200, sites
        status, listed = send(port, "GET", "/api/v1/maintenance")
        assert status == 200, listed
        assert kept[1] in {w["id"] for w in listed["windows"]}
        assert "API request" not in d.log, d.log[-4000:]  # what a 500 logs
        assert "Traceback" not in d.log
        saved_path = data / "operator.json"
        deadline = time.monotonic() + 10  # saved within a tick of the change
        while kept[1] not in (saved_path.read_text() if saved_path.exists() else ""):
            assert time.monotonic() < deadline, "the new window was not saved"
            time.sleep(0.1)
        code, _ = d.stop()
        assert code == 0

    # The saved window at the far edge is read back, and the daemon starts with it.
    saved = json.loads(saved_path.read_text(encoding="utf-8"))
    assert [w["start"][:4] for w in saved["windows"]] == ["9998"]  # the 1970 one is over
    with RunningDaemon(config, port, env=env) as d:
        d.wait_ready()
        status, listed = send(port, "GET", "/api/v1/maintenance")
        assert status == 200, listed
        assert [w["id"] for w in listed["windows"]] == [kept[1]]
        assert "skipped" not in d.log


def test_saved_entries_out_of_range_are_skipped_and_named_and_the_daemon_starts(
    tmp_path: Path,
) -> None:
    """What netwatch 0.x accepted before these checks (a window starting in year 1) used to
    stop it at startup with an OverflowError, a crash loop under systemd."""
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    good = {
        "id": "m-good",
        "target": "core-rtr",
        "start": "2026-12-06T22:00:00+07:00",
        "duration_seconds": 3600.0,
        "recurrence": "weekly",
        "reason": "",
        "timezone": "Asia/Ho_Chi_Minh",
    }
    operator = {
        "silences": [
            {"id": "s-good", "until": 4e9, "sites": ["can-tho"]},
            {"id": "s-far", "until": 1e300, "sites": ["can-tho"]},
            {"id": "s-huge", "until": int(HUGE), "sites": ["can-tho"]},
        ],
        "windows": [
            good,
            {**good, "id": "m-year-1", "start": "0001-01-01T00:00:00+07:06:40"},
            {**good, "id": "m-9999", "start": "9999-12-31T23:00:00-14:00"},
            {**good, "id": "m-forever", "duration_seconds": 1e300},
        ],
    }
    (data / "operator.json").write_text(json.dumps(operator), encoding="utf-8")
    incident = {
        "key": "down:core-rtr",
        "id": "down:core-rtr:1",
        "kind": "down",
        "device": "core-rtr",
        "site": "can-tho",
        "started_at": 1.7e9,
        "detail": "",
        "severity": "warning",
        "digest": False,
    }
    incidents = [1, {**incident, "id": "i-year-1", "started_at": -6.2e10}]
    (data / "incidents.json").write_text(json.dumps(incidents), encoding="utf-8")
    config = write_config(tmp_path, CONFIG.format(port=port, data=data))
    with RunningDaemon(config, port, env={"NW_TEST_TOKEN": TOKEN}) as d:
        d.wait_ready()
        skipped = [line for line in d.log.splitlines() if "skipped" in line]
        for bad in ("s-far", "s-huge", "m-year-1", "m-9999", "m-forever", "i-year-1"):
            assert any(bad in line for line in skipped), f"{bad} not named:\n{d.log[-4000:]}"
        assert not any("good" in line for line in skipped)
        status, listed = send(port, "GET", "/api/v1/maintenance")
        assert status == 200
        assert [w["id"] for w in listed["windows"]] == ["m-good"]
        status, silences = send(port, "GET", "/api/v1/silences")
        assert status == 200
        assert [s["id"] for s in silences["silences"]] == ["s-good"]
        assert "Traceback" not in d.log
