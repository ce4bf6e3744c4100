"""Alertmanager keeps the daemon's view across a reload, a restart and an acknowledgement.

The real daemon watches a TCP service on 127.0.0.1 that the test opens and closes; a real
Alertmanager (Debian's) receives the alerts, and its v2 API is read back. ``resend_interval`` is
one second, so an alert that netwatch stopped re-posting expires within three seconds.
"""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.alertmanager import RunningAlertmanager, available
from tests.daemon import RunningDaemon, free_port, write_config

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(not available(), reason="prometheus-alertmanager is not installed"),
]
TOKEN = "am-e2e-token-7f1c"
CONFIG = """
agent: {{listen: "127.0.0.1:{port}", data_dir: {data}, api_token: {{env: NW_AM_TOKEN}}}}
defaults:
  icmp: {{interval: 1s, count: 2, timeout: 500ms, spacing: 50ms}}
  service_interval: 1s
  service_timeout: 500ms
  down_after: 2
  up_after: 1
  retry_interval: 1s
notify:
  alertmanager: {{urls: ["{am}"], resend_interval: 1s, timeout: 2s}}
contacts:
  ops: {{alertmanager: true}}
sites:
  - id: can-tho
    name: "TP Cần Thơ"
    level: province
    contacts: [ops]
    devices:
      - id: portal
        address: 127.0.0.1
        role: server
        services: [{{name: cong-dich-vu, tcp: {service}}}]
"""


class Service:
    """A TCP listener on 127.0.0.1 that the test opens (up) and closes (refused)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._sock: socket.socket | None = None

    def up(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self._sock = sock

    def down(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def firing(am: RunningAlertmanager) -> list[str]:
    """The alertnames Alertmanager shows as active now."""
    return sorted(a["labels"]["alertname"] for a in am.alerts("?active=true&silenced=false"))


def wait_until(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def world(tmp_path: Path) -> Iterator[tuple[RunningAlertmanager, Service, Path, int]]:
    service = Service()
    service.up()
    try:
        with RunningAlertmanager(tmp_path) as am:
            port = free_port()
            config = write_config(
                tmp_path,
                CONFIG.format(port=port, data=tmp_path / "data", am=am.url, service=service.port),
            )
            yield am, service, config, port
    finally:
        service.down()


def start(config: Path, port: int) -> RunningDaemon:
    daemon = RunningDaemon(config, port, env={"NW_AM_TOKEN": TOKEN})
    daemon.__enter__()
    daemon.wait_ready()
    return daemon


def api_post(daemon: RunningDaemon, path: str, body: dict[str, Any]) -> int:
    req = urllib.request.Request(
        daemon.url(path),
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        status: int = resp.status
        return status


def test_alertmanager_keeps_an_outage_firing_across_reload_and_restart_and_ends_it_after_ack(
    tmp_path: Path,
) -> None:
    with world(tmp_path) as (am, service, config, port):
        daemon = start(config, port)
        try:
            daemon.wait_for_log("service cong-dich-vu on portal is up", timeout=20)
            service.down()
            wait_until(lambda: firing(am) == ["NetwatchServiceDown"], 20, "the firing alert")

            daemon.signal(signal.SIGHUP)  # an unchanged config: the notifier is rebuilt
            daemon.wait_for_log("reload", timeout=10)
            time.sleep(5)  # past three resend intervals: it would have expired by now
            assert firing(am) == ["NetwatchServiceDown"], "forgotten after a reload"

            code, _ = daemon.stop()
            assert code == 0
            daemon.__exit__(None, None, None)
            time.sleep(4)  # netwatch is away: its alert expires on its own
            assert firing(am) == []
            daemon = start(config, port)
            wait_until(lambda: firing(am) == ["NetwatchServiceDown"], 10, "re-posted on start")
            time.sleep(5)
            assert firing(am) == ["NetwatchServiceDown"], "not kept alive after a restart"

            alerts = json.loads(daemon.get("/api/v1/alerts"))["alerts"]
            [alert] = [a for a in alerts if a["kind"] == "service"]
            assert api_post(daemon, f"/api/v1/alerts/{alert['id']}/ack", {"by": "Lan"}) == 200
            service.up()
            daemon.wait_for_log("service cong-dich-vu on portal is up", timeout=20)
            wait_until(lambda: firing(am) == [], 10, "the resolved alert after the ack")
            time.sleep(4)  # and it stays resolved: nothing re-posts it as firing
            assert firing(am) == []
        finally:
            daemon.__exit__(None, None, None)
