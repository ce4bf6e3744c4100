"""Topology-aware alerting end to end: the real daemon, real packets, real receivers.

A small province runs inside a network namespace the test creates: every device is a 127.x.y.z
address (all of 127/8 answers ping there), nftables rules cut or degrade them, and the daemon
(``python -m netwatch run``) and a webhook/SMTP receiver (``alerting_receiver.py``) run inside
the same namespace. What the receiver got is read from its JSON-lines file; the daemon's view
from ``/metrics`` (fetched from inside the namespace) and, after it stops, from its history.

Timings are short (ICMP every second, three echoes, down after three failed rounds, retries every
second), so a cut is confirmed in about 3-4 s; every fault loop is bounded in count and time.
Three echoes and three rounds, not two and two: at 30 % loss a round fails with p = 0.3^3, and
90 rounds of two echoes and two rounds would raise a false "down" about half the time.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from tests.daemon import RunningDaemon, free_port, metric_value, netwatch_argv
from tests.netns import Netns
from tests.province import Dev, Place, below, config_sites

pytestmark = pytest.mark.netns

ROOT = Path(__file__).parents[2]
RECEIVER = Path(__file__).with_name("alerting_receiver.py")
TZ = "Asia/Ho_Chi_Minh"
TOKEN = "e2e-api-token-5c2d"  # agent.api_token, given to the daemon in its environment
# Run inside the namespace by Province.api: one request with the token, prints status and body.
API_CLIENT = """
import os, sys, urllib.error, urllib.request
url, method, body = sys.argv[1:4]
req = urllib.request.Request(url, data=body.encode() or None, method=method, headers={
    "Content-Type": "application/json", "Authorization": "Bearer " + os.environ["NW_TEST_TOKEN"]})
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
"""
LOSSY_SECONDS = 90  # ~90 rounds of 3 echoes at 30 % loss: a false alert would show
FLAP_CYCLES = 6  # down then up again, FLAP_HALF seconds each
FLAP_HALF = 6.0  # long enough to be confirmed down (~4 s) and up again (~2 s)


def _place(
    sid: str,
    name: str,
    level: str,
    parent: str | None,
    contact: str,
    devices: list[tuple[str, str, str]],
) -> Place:
    """One site of the table below; its router is named after it, as an officer would write it."""
    router = f"Router {name.split(' — ')[0]}"
    devs = tuple(Dev(d, a, r, name=router if i == 0 else "") for i, (d, a, r) in enumerate(devices))
    return Place(sid, name, level, parent, devs, (contact,))


# Each site: (id, name, level, parent, contact, [(device id, address, role), ...]).
# The first router of a site is its gateway; the district gateways depend on the core router.
PLACES = [_place(*site) for site in [
    ("can-tho", "TP Cần Thơ — Trung tâm dữ liệu", "province", None, "tt-du-lieu",
     [("core-rtr", "127.10.0.1", "router"), ("eoffice", "127.10.0.20", "server"),
      ("mail-srv", "127.10.0.21", "server")]),
    ("ninh-kieu", "Quận Ninh Kiều", "district", "can-tho", "it-ninh-kieu",
     [("nk-rtr", "127.20.0.1", "router"), ("nk-srv", "127.20.0.10", "server")]),
    ("an-binh", "Phường An Bình", "commune", "ninh-kieu", "xa-an-binh",
     [("ab-rtr", "127.20.1.1", "router"), ("ab-pc", "127.20.1.101", "workstation")]),
    ("an-hoa", "Phường An Hòa", "commune", "ninh-kieu", "xa-an-hoa",
     [("ah-rtr", "127.20.2.1", "router"), ("ah-pc", "127.20.2.101", "workstation")]),
    ("an-cu", "Phường An Cư", "commune", "ninh-kieu", "xa-an-cu",
     [("ac-rtr", "127.20.3.1", "router"), ("ac-pc", "127.20.3.101", "workstation")]),
    ("cai-rang", "Quận Cái Răng", "district", "can-tho", "it-cai-rang",
     [("cr-rtr", "127.30.0.1", "router"), ("cr-sw", "127.30.0.2", "switch")]),
    ("le-binh", "Phường Lê Bình", "commune", "cai-rang", "xa-le-binh",
     [("lb-rtr", "127.30.1.1", "router"), ("lb-pc", "127.30.1.101", "workstation")]),
    ("hung-phu", "Phường Hưng Phú", "commune", "cai-rang", "xa-hung-phu",
     [("hp-rtr", "127.30.2.1", "router"), ("hp-pc", "127.30.2.101", "workstation")]),
]]  # fmt: skip
ADDRESS = {d.id: d.address for p in PLACES for d in p.devices}
SITE_OF = {d.id: p.id for p in PLACES for d in p.devices}
CONTACT = {p.id: p.contacts[0] for p in PLACES}
SITE_NAME = {p.id: p.name for p in PLACES}
NAME = {d.id: d.name for p in PLACES for d in p.devices if d.name}


def behind(site_id: str) -> list[str]:
    """The addresses of every device of ``site_id`` and of the sites below it."""
    return [d.address for p in below(PLACES, site_id) for d in p.devices]


@dataclass
class Options:
    hold: str = "8s"
    flap_window: str = "60s"
    flap_threshold: int = 4
    maintenance: list[dict[str, Any]] = field(default_factory=list)  # config `maintenance:`
    smtp_port: int | None = None
    email_for: dict[str, str] = field(default_factory=dict)  # contact -> address
    repeat_interval: str | None = None  # alerting.repeat_interval, when not the default


def province_config(tmp: Path, port: int, hook_port: int, opts: Options) -> Path:
    """The province above as netwatch YAML; every contact has a webhook on the receiver."""
    doc: dict[str, Any] = {
        "agent": {
            "listen": f"127.0.0.1:{port}",
            "data_dir": str(tmp / "data"),
            "timezone": TZ,
            "api_token": {"env": "NW_TEST_TOKEN"},
        },
        "defaults": {
            "icmp": {"interval": "1s", "count": 3, "timeout": "400ms", "spacing": "50ms"},
            "down_after": 3,
            "up_after": 2,
            "retry_interval": "1s",
        },
        "alerting": {
            "hold": opts.hold,
            "flap_window": opts.flap_window,
            "flap_threshold": opts.flap_threshold,
            "recheck_timeout": "30s",
        },
        "contacts": {},
    }
    if opts.repeat_interval is not None:
        doc["alerting"]["repeat_interval"] = opts.repeat_interval
    if opts.smtp_port is not None:
        doc["notify"] = {
            "smtp": {"host": "127.0.0.1", "port": opts.smtp_port, "security": "none",
                     "from": "netwatch <netwatch@cantho.example.gov.vn>", "timeout": "5s"}
        }  # fmt: skip
    if opts.maintenance:
        doc["maintenance"] = opts.maintenance
    for contact in CONTACT.values():
        contact_doc: dict[str, Any] = {
            "webhook": {"url": f"http://127.0.0.1:{hook_port}/{contact}"}
        }
        if contact in opts.email_for:
            contact_doc["email"] = [opts.email_for[contact]]
        doc["contacts"][contact] = contact_doc
    doc["sites"] = config_sites(PLACES)
    path = tmp / "netwatch.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the harness


class Province:
    """The namespace, the receiver and the daemon; ``messages()`` is what the receiver got.

    >>> with Province(tmp_path, Options()) as p:  # doctest: +SKIP
    ...     p.start(); p.wait_up(); p.cut("ninh-kieu"); p.wait_messages(lambda m: ...)
    """

    def __init__(self, tmp: Path, opts: Options) -> None:
        self.tmp = tmp
        self.opts = opts
        self.port = free_port()
        self.hook_port = free_port()
        self.smtp_port = free_port() if opts.smtp_port is not None else None
        if self.smtp_port is not None:
            opts.smtp_port = self.smtp_port
        self.out = tmp / "received.jsonl"
        self.scraped = tmp / "scraped.jsonl"
        self.config = province_config(tmp, self.port, self.hook_port, opts)
        self.ns = Netns()
        self.daemon: RunningDaemon | None = None
        self.receiver: subprocess.Popen[str] | None = None

    def __enter__(self) -> Province:
        self.ns.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.daemon is not None:
                self.daemon.__exit__(None, None, None)
        finally:
            self.ns.close()
            if self.receiver is not None and self.receiver.stdout is not None:
                self.receiver.stdout.close()

    # ------------------------------------------------------------------ processes

    def start_receiver(self, *, scrape: bool = True) -> None:
        argv = [sys.executable, str(RECEIVER), str(self.out),
                "--http", f"127.0.0.1:{self.hook_port}"]  # fmt: skip
        if self.smtp_port is not None:
            argv += ["--smtp", f"127.0.0.1:{self.smtp_port}"]
        if scrape:
            argv += ["--scrape", f"http://127.0.0.1:{self.port}/metrics",
                     "--scrape-out", str(self.scraped)]  # fmt: skip
        self.receiver = self.ns.popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.receiver.stdout is not None
        line = self.receiver.stdout.readline()  # blocks until bound (or the child died)
        assert line.strip() == "ready", f"receiver did not start: {line!r}"

    def stop_receiver(self) -> None:
        assert self.receiver is not None
        self.receiver.send_signal(signal.SIGTERM)
        self.receiver.wait(timeout=10)
        if self.receiver.stdout is not None:
            self.receiver.stdout.close()
        self.receiver = None

    def start_daemon(self) -> RunningDaemon:
        self.daemon = RunningDaemon(
            self.config, self.port, prefix=self.ns.argv([]), env={"NW_TEST_TOKEN": TOKEN}
        )
        self.daemon.__enter__()
        self.daemon.wait_for_log("netwatch started", timeout=30)
        return self.daemon

    def wait_all_up(self, timeout: float = 30.0) -> None:
        """Every device answers and every site has a status (from the daemon's log: one line
        per change; a site in maintenance is "maintenance", not "up")."""
        assert self.daemon is not None
        for did in ADDRESS:
            self.daemon.wait_for_log(f"device {did} own status unknown -> up", timeout=timeout)
        for sid in CONTACT:
            self.daemon.wait_for_log(f"site {sid} is ", timeout=timeout)

    # ------------------------------------------------------------------ faults

    def cut(self, *addresses: str) -> None:
        for address in addresses:
            self.ns.drop(address)

    def restore(self, *addresses: str) -> None:
        for address in addresses:
            self.ns.restore(address)

    # ------------------------------------------------------------------ what was seen

    def records(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        lines = self.out.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def hooks(self) -> list[dict[str, Any]]:
        """Webhook bodies, each with the contact (the URL path) it was posted to."""
        return [
            {**r["body"], "contact": r["path"].strip("/"), "received_at": r["received_at"]}
            for r in self.records()
            if r["channel"] == "webhook"
        ]

    def wait_hooks(
        self, done: Callable[[list[dict[str, Any]]], bool], timeout: float
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hooks = self.hooks()
            if done(hooks):
                return hooks
            self._alive()
            time.sleep(0.2)
        log = self.daemon.log[-6000:] if self.daemon else ""
        raise AssertionError(f"not received within {timeout}s: {summary(self.hooks())}\n{log}")

    def mails(self) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["channel"] == "email"]

    def scrapes(self) -> list[dict[str, Any]]:
        if not self.scraped.exists():
            return []
        lines = self.scraped.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def metrics(self) -> str:
        """``/metrics``, fetched from inside the namespace."""
        code = (
            "import sys, urllib.request;"
            "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"
        )
        url = f"http://127.0.0.1:{self.port}/metrics"
        return self.ns.run([sys.executable, "-c", code, url], timeout=30).stdout

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """An API request with the token, sent from inside the namespace: (status, JSON)."""
        url = f"http://127.0.0.1:{self.port}{path}"
        data = "" if body is None else json.dumps(body)
        done = self.ns.run([sys.executable, "-c", API_CLIENT, url, method, data], timeout=30,
                           env={**os.environ, "NW_TEST_TOKEN": TOKEN})  # fmt: skip
        status, _, text = done.stdout.partition(" ")
        return int(status), json.loads(text)

    def _alive(self) -> None:
        if self.daemon is not None and self.daemon.proc is not None:
            code = self.daemon.proc.poll()
            assert code is None, f"netwatch exited {code}:\n{self.daemon.log[-6000:]}"


def summary(hooks: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(contact, kind, status, device) of each webhook: what an assertion message shows."""
    return [(h["contact"], h["kind"], h["status"], h["device"]) for h in hooks]


def wait_until(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s")


@contextmanager
def province(tmp: Path, opts: Options | None = None, *, scrape: bool = True) -> Iterator[Province]:
    """A province with its receiver and daemon running, every device and site up."""
    with Province(tmp, opts or Options()) as p:
        p.start_receiver(scrape=scrape)
        p.start_daemon()
        p.wait_all_up()
        yield p


def statuses_seen(p: Province, since: float) -> dict[str, set[str]]:
    """Every status each device/site showed on /metrics since ``since`` (epoch seconds)."""
    seen: dict[str, set[str]] = {}
    for scrape in p.scrapes():
        if scrape["at"] >= since:
            for subject, status in scrape["status"].items():
                seen.setdefault(subject, set()).add(status)
    return seen


def commune_subjects(district: str) -> list[str]:
    """``device:ID`` and ``site:ID`` of every commune under ``district`` (as /metrics has them)."""
    communes = [p.id for p in PLACES if p.parent == district]
    return [f"site:{c}" for c in communes] + [
        f"device:{d}" for d in SITE_OF if SITE_OF[d] in communes
    ]


# --------------------------------------------------------------------------- the tests


def test_a_cut_district_line_sends_one_alert_to_the_district_and_none_about_its_communes(
    tmp_path: Path,
) -> None:
    with province(tmp_path) as p:
        cut_at = time.time()
        p.cut(*behind("ninh-kieu"))  # the gateway first, then everything behind it
        p.wait_hooks(lambda hooks: len(hooks) >= 1, timeout=30)
        # Longer than the hold: anything held about a commune would have been released by now.
        time.sleep(12)
        during = p.metrics()
        p.restore(*behind("ninh-kieu"))
        restored_at = time.time()
        hooks = p.wait_hooks(lambda hooks: any(h["status"] == "resolved" for h in hooks), 30)
        wait_until(
            lambda: all(v == "up" for v in p.scrapes()[-1]["status"].values()),
            timeout=30,
            what="everything up again after the cut",
        )
        time.sleep(3)  # room for a late message about a re-checked commune
        hooks = p.hooks()
        seen = statuses_seen(p, cut_at)
        log = p.daemon.log if p.daemon else ""

    # Every cause named in the log (and so in the history) is the router that failed: a device
    # held behind its unsettled parent was once recorded as "unreachable, cause <that parent>".
    named = [line for line in log.splitlines() if "cause: " in line]
    causes = {line.rsplit("cause: ", 1)[1].strip() for line in named}
    assert causes == {"nk-rtr"}, causes
    assert summary(hooks) == [
        ("it-ninh-kieu", "down", "firing", "nk-rtr"),
        ("it-ninh-kieu", "down", "resolved", "nk-rtr"),
    ]
    firing, resolved = hooks
    assert firing["id"] == resolved["id"]
    assert firing["severity"] == "critical"
    assert firing["affected_sites"] == ["ninh-kieu", "an-binh", "an-hoa", "an-cu"]
    assert firing["summary"] == "MẤT KẾT NỐI: Router Quận Ninh Kiều — Quận Ninh Kiều"
    assert "Đơn vị: Quận Ninh Kiều" in firing["text"]
    assert "Ảnh hưởng: 4 đơn vị, 7 thiết bị" in firing["text"]  # the district and 3 communes
    assert resolved["summary"].startswith("Đã khôi phục: Router Quận Ninh Kiều")
    assert resolved["received_at"] >= restored_at
    # On /metrics, the communes were unreachable during the cut, and never down.
    for subject in commune_subjects("ninh-kieu"):
        kind, _, sid = subject.partition(":")
        assert "down" not in seen[subject], (subject, seen[subject])
        assert "unreachable" in seen[subject], (subject, seen[subject])
        label = {"device": sid} if kind == "device" else {"site": sid}
        name = f"netwatch_{kind}_status"
        assert metric_value(during, name, status="unreachable", **label) == 1.0, subject
    assert metric_value(during, "netwatch_device_status", device="nk-rtr", status="down") == 1.0
    assert metric_value(during, "netwatch_site_status", site="ninh-kieu", status="down") == 1.0
    assert seen["site:cai-rang"] == {"up"}  # the other district never noticed


def test_a_commune_router_down_alone_alerts_the_commune_by_webhook_and_mail(
    tmp_path: Path,
) -> None:
    opts = Options(smtp_port=0, email_for={"xa-an-binh": "cntt@anbinh.example.gov.vn"})
    with province(tmp_path, opts) as p:
        p.cut(*behind("an-binh"))
        hooks = p.wait_hooks(lambda hooks: len(hooks) >= 1, timeout=30)
        wait_until(lambda: len(p.mails()) >= 1, timeout=30, what="the mail")
        time.sleep(12)  # longer than the hold: nothing else comes
        during = p.metrics()
        p.restore(*behind("an-binh"))
        p.wait_hooks(lambda hooks: any(h["status"] == "resolved" for h in hooks), 30)
        wait_until(lambda: len(p.mails()) >= 2, timeout=30, what="the recovery mail")
        time.sleep(3)
        hooks, mails = p.hooks(), p.mails()

    assert summary(hooks) == [
        ("xa-an-binh", "down", "firing", "ab-rtr"),
        ("xa-an-binh", "down", "resolved", "ab-rtr"),
    ]
    assert hooks[0]["severity"] == "warning"
    assert hooks[0]["affected_sites"] == ["an-binh"]
    assert hooks[0]["affected_devices"] == ["ab-pc"]
    assert metric_value(during, "netwatch_device_status", device="ab-rtr", status="down") == 1.0
    assert metric_value(during, "netwatch_site_status", site="an-binh", status="down") == 1.0
    assert metric_value(during, "netwatch_device_status", device="ab-pc", status="unreachable")
    assert metric_value(during, "netwatch_site_status", site="ninh-kieu", status="up") == 1.0
    # The mail: UTF-8 subject in Vietnamese, to the commune's address only, one per state.
    assert [(m["to"], m["subject"]) for m in mails] == [
        (["cntt@anbinh.example.gov.vn"], "MẤT KẾT NỐI: Router Phường An Bình — Phường An Bình"),
        (["cntt@anbinh.example.gov.vn"], "Đã khôi phục: Router Phường An Bình — Phường An Bình"),
    ]
    assert "Đơn vị: Phường An Bình" in mails[0]["text"]
    assert "Ảnh hưởng: 1 đơn vị, 1 thiết bị" in mails[0]["text"]


def test_an_outage_longer_than_repeat_interval_sends_numbered_reminders(tmp_path: Path) -> None:
    """Each reminder is delivered (the outbox once took it for a duplicate of the first)."""
    with province(tmp_path, Options(repeat_interval="4s")) as p:
        p.cut(*behind("an-binh"))
        p.wait_hooks(lambda hooks: sum(h["repeat"] > 0 for h in hooks) >= 2, timeout=40)
        p.restore(*behind("an-binh"))
        p.wait_hooks(lambda hooks: any(h["status"] == "resolved" for h in hooks), 30)
        time.sleep(2)
        hooks = p.hooks()

    firing = [h for h in hooks if h["status"] == "firing"]
    assert {h["contact"] for h in hooks} == {"xa-an-binh"}
    assert [h["repeat"] for h in firing] == list(range(len(firing)))
    assert len(firing) >= 3
    assert firing[1]["summary"].startswith("[NHẮC LẠI LẦN 1] MẤT KẾT NỐI")
    assert len({h["id"] for h in hooks}) == 1  # one incident
    assert [h["status"] for h in hooks][-1] == "resolved"
    assert sum(h["status"] == "resolved" for h in hooks) == 1


def test_a_commune_removed_by_a_reload_while_down_is_announced_as_no_longer_monitored(
    tmp_path: Path,
) -> None:
    with province(tmp_path) as p:
        p.cut(*behind("an-hoa"))
        p.wait_hooks(lambda hooks: len(hooks) >= 1, timeout=30)
        doc = yaml.safe_load(p.config.read_text(encoding="utf-8"))
        district = doc["sites"][0]["sites"][0]
        assert district["id"] == "ninh-kieu"
        district["sites"] = [s for s in district["sites"] if s["id"] != "an-hoa"]
        p.config.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        assert p.daemon is not None
        p.daemon.signal(signal.SIGHUP)
        hooks = p.wait_hooks(lambda hooks: len(hooks) >= 2, timeout=30)
        time.sleep(3)
        hooks = p.hooks()

    assert summary(hooks) == [
        ("xa-an-hoa", "down", "firing", "ah-rtr"),
        ("xa-an-hoa", "down", "resolved", "ah-rtr"),
    ]
    assert hooks[1]["ended"] == "removed"
    assert hooks[1]["summary"].startswith("NGỪNG GIÁM SÁT: Router Phường An Hòa")


def test_a_line_losing_30_percent_of_its_packets_raises_no_alert(tmp_path: Path) -> None:
    lossy = behind("le-binh")  # the commune's line: everything behind it loses packets
    with province(tmp_path) as p:
        started = time.time()
        for address in lossy:
            p.ns.lossy(address, 30)
        time.sleep(LOSSY_SECONDS)
        for address in lossy:
            p.restore(address)
        text = p.metrics()
        seen = statuses_seen(p, started)
        hooks = p.hooks()
        log = p.daemon.log if p.daemon else ""

    assert hooks == []
    sent = metric_value(text, "netwatch_icmp_packets_sent_total", device="lb-rtr")
    received = metric_value(text, "netwatch_icmp_packets_received_total", device="lb-rtr")
    assert sent is not None
    assert received is not None
    assert 0.1 < 1 - received / sent < 0.5  # the loss was real (30 % of the requests)
    assert "lb-rtr is down" not in log
    for subject in ("device:lb-rtr", "device:lb-pc", "site:le-binh"):
        assert seen[subject] == {"up"}, (subject, seen[subject])


def test_a_flapping_district_line_sends_one_flapping_alert_not_a_stream(tmp_path: Path) -> None:
    # Everything behind the line flaps with it: the communes must not add alerts of their own.
    line = behind("cai-rang")
    opts = Options(flap_window="40s", flap_threshold=4)
    with province(tmp_path, opts) as p:
        for _ in range(FLAP_CYCLES):  # bounded: FLAP_CYCLES x 2 x FLAP_HALF seconds
            p.cut(*line)
            time.sleep(FLAP_HALF)
            p.restore(*line)
            time.sleep(FLAP_HALF)
        flapping_until = time.time()
        # Stable from now on: after a whole flap window without a change, it settles.
        hooks = p.wait_hooks(
            lambda hooks: any(h["kind"] == "flapping" and h["status"] == "resolved" for h in hooks),
            timeout=90,
        )
        time.sleep(3)
        hooks = p.hooks()
        downs = p.daemon.log.count("device cr-rtr is down") if p.daemon else 0

    assert downs >= FLAP_CYCLES - 1  # it did go down again and again (not one long outage)
    assert {h["contact"] for h in hooks} == {"it-cai-rang"}, summary(hooks)
    assert {h["device"] for h in hooks} == {"cr-rtr"}, summary(hooks)
    flapping = [h for h in hooks if h["kind"] == "flapping"]
    assert [h["status"] for h in flapping] == ["firing", "resolved"]
    assert flapping[1]["received_at"] > flapping_until
    # Before it was recognised, the first changes were ordinary down/up messages; after, none.
    first = hooks.index(flapping[0])
    assert all(h["kind"] == "down" for h in hooks[:first])
    assert len([h for h in hooks[:first] if h["status"] == "firing"]) <= 2
    later = [h for h in hooks[first + 1 :] if h["status"] == "firing"]
    assert later == []
    assert len(hooks) <= 6  # against 2 x FLAP_CYCLES changes of state


def test_a_line_that_flaps_then_stays_cut_is_reported_still_down_not_stable(
    tmp_path: Path,
) -> None:
    line = behind("an-binh")
    with province(tmp_path, Options(flap_window="20s", flap_threshold=4)) as p:
        for _ in range(3):  # bounded: 3 x 2 x FLAP_HALF seconds
            p.cut(*line)
            time.sleep(FLAP_HALF)
            p.restore(*line)
            time.sleep(FLAP_HALF)
        p.cut(*line)  # and now it stays cut
        p.wait_hooks(lambda hooks: any(h["kind"] == "flapping" for h in hooks), timeout=30)
        hooks = p.wait_hooks(
            lambda hooks: any(h["kind"] == "flapping" and h["status"] == "resolved" for h in hooks),
            timeout=60,
        )
        during = p.metrics()

    ended = next(h for h in hooks if h["kind"] == "flapping" and h["status"] == "resolved")
    assert ended["ended"] == "still_down"
    assert ended["summary"].startswith("HẾT CHẬP CHỜN, VẪN MẤT KẾT NỐI"), ended["summary"]
    assert "Đã ổn định" not in ended["text"]
    assert metric_value(during, "netwatch_device_status", device="ab-rtr", status="down") == 1.0


def test_a_cut_during_maintenance_sends_nothing_and_history_says_maintenance(
    tmp_path: Path,
) -> None:
    start = datetime.now(ZoneInfo(TZ)) - timedelta(minutes=1)
    window = {"id": "nang-cap-cai-rang", "target": "cai-rang", "duration": "30m",
              "start": start.strftime("%Y-%m-%d %H:%M"), "reason": "Nâng cấp"}  # fmt: skip
    with province(tmp_path, Options(maintenance=[window])) as p:
        p.cut(*behind("cai-rang"))
        time.sleep(15)  # confirmed down (3-4 s), past the hold (8 s)
        during = p.metrics()
        p.restore(*behind("cai-rang"))
        time.sleep(8)
        hooks = p.hooks()
        assert p.daemon is not None
        code, _ = p.daemon.stop()
        log = p.daemon.log
    assert code == 0
    assert hooks == []
    assert "not sent: maintenance" in log  # recorded, deliberately not sent
    for did in ("cr-rtr", "cr-sw", "lb-rtr", "hp-rtr"):
        status = metric_value(during, "netwatch_device_status", device=did, status="maintenance")
        assert status == 1.0, did
    today = datetime.now(ZoneInfo(TZ)).date()
    report = subprocess.run(
        [*netwatch_argv("-c", str(p.config), "report", "--by", "device", "--format", "json"),
         "--from", today.isoformat(), "--to", (today + timedelta(days=1)).isoformat()],
        capture_output=True, text=True, timeout=60, check=True, cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "NW_TEST_TOKEN"},  # needs no secret
    )  # fmt: skip
    rows = {r["device"]: r for r in json.loads(report.stdout)["rows"]}
    for did in ("cr-rtr", "cr-sw", "lb-rtr", "lb-pc", "hp-rtr", "hp-pc"):
        row = rows[did]
        assert (row["outages"], row["downtime_seconds"]) == (0, 0.0), row
        assert row["maintenance_seconds"] >= 20, row  # the whole run, the 15 s cut included
    for did in ("nk-rtr", "ab-rtr", "core-rtr"):
        assert rows[did]["maintenance_seconds"] == 0.0, rows[did]
        assert rows[did]["availability"] == 1.0, rows[did]


def test_a_window_counts_as_maintenance_to_its_end_and_downtime_starts_there(
    tmp_path: Path,
) -> None:
    # Found end to end: the change at a window's end was backdated to the device's own failure
    # inside the window, so a cut inside a 90 s window got 95 s of downtime and 11 s of
    # maintenance, and a cut that recovered inside the window shortened its maintenance.
    window_s = 24
    with province(tmp_path) as p:
        begun = time.time()
        start = datetime.fromtimestamp(begun, ZoneInfo(TZ)).strftime("%Y-%m-%dT%H:%M:%S")
        for site in ("an-binh", "le-binh"):
            body = {"target": site, "start": start, "duration": f"{window_s}s", "reason": "Thử"}
            status, window = p.api("POST", "/api/v1/maintenance", body)
            assert status == 201, window
        p.cut(*behind("an-binh"), *behind("le-binh"))  # both cut inside their windows
        time.sleep(12)  # confirmed down (3-4 s) inside the window
        p.restore(*behind("le-binh"))  # le-binh comes back inside its window; an-binh not
        assert p.daemon is not None
        p.daemon.wait_for_log("device ab-rtr is down (was maintenance)", timeout=window_s + 10)
        time.sleep(6)
        code, _ = p.daemon.stop()
        stopped = time.time()
    assert code == 0
    today = datetime.now(ZoneInfo(TZ)).date()
    report = subprocess.run(
        [*netwatch_argv("-c", str(p.config), "report", "--by", "device", "--format", "json"),
         "--from", today.isoformat(), "--to", (today + timedelta(days=1)).isoformat()],
        capture_output=True, text=True, timeout=60, check=True, cwd=ROOT,
    )  # fmt: skip
    rows = {r["device"]: r for r in json.loads(report.stdout)["rows"]}
    slack = 4  # the window starts when the API call lands; a tick (1 s) at either end
    for did in ("ab-rtr", "lb-rtr"):
        assert rows[did]["maintenance_seconds"] >= window_s - slack, rows[did]
    after_window = stopped - (begun + window_s)
    assert rows["ab-rtr"]["downtime_seconds"] <= after_window + slack, rows["ab-rtr"]
    assert rows["ab-rtr"]["outages"] == 1, rows["ab-rtr"]
    assert rows["lb-rtr"]["downtime_seconds"] == 0.0, rows["lb-rtr"]


def test_notifications_queued_before_a_kill_9_arrive_exactly_once_after_restart(
    tmp_path: Path,
) -> None:
    lines = [*behind("an-binh"), *behind("le-binh")]
    with Province(tmp_path, Options()) as p:
        daemon = p.start_daemon()  # the receiver is down: every webhook is refused
        p.wait_all_up()
        p.cut(*lines)
        outbox = tmp_path / "data" / "outbox.sqlite"
        wait_until(lambda: daemon.log.count("via webhook failed (attempt 1)") >= 2, 30, "firing")
        p.restore(*lines)
        # The recoveries queue behind their alarms (never sent before them).
        wait_until(lambda: len(pending_webhooks(outbox)) == 4, 30, "resolved")
        queued = pending_webhooks(outbox)
        assert daemon.proc is not None
        daemon.proc.kill()  # SIGKILL: no graceful stop, nothing flushed
        daemon.proc.wait(10)
        daemon.__exit__(None, None, None)
        p.start_receiver(scrape=False)
        p.start_daemon()
        p.wait_hooks(lambda hooks: len(hooks) >= 4, timeout=90)  # retries back off 10 s, 20 s
        time.sleep(12)  # longer than the first retry delay: a duplicate would be here by now
        hooks = p.hooks()
        after = pending_webhooks(outbox)

    assert sorted(queued) == [
        ("xa-an-binh", "down:ab-rtr", "firing"),
        ("xa-an-binh", "down:ab-rtr", "resolved"),
        ("xa-le-binh", "down:lb-rtr", "firing"),
        ("xa-le-binh", "down:lb-rtr", "resolved"),
    ]
    assert sorted((h["contact"], h["id"], h["status"]) for h in hooks) == sorted(
        (contact, alert_id, state)
        for (contact, _, state), alert_id in zip(queued, queued.values(), strict=True)
    )
    assert after == {}


def pending_webhooks(path: Path) -> dict[tuple[str, str, str], str]:
    """The webhook deliveries still in the outbox: (contact, incident, state) -> alert id."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT contact, alert FROM outbox WHERE channel = 'webhook' AND dead_at IS NULL"
        ).fetchall()
    finally:
        conn.close()
    found: dict[tuple[str, str, str], str] = {}
    for contact, text in rows:
        alert = json.loads(text)
        incident = alert["id"].rsplit(":", 1)[0]
        found[(contact, incident, alert["state"])] = alert["id"]
    return found


def test_a_commune_still_dead_when_its_district_line_returns_is_announced_once_after_a_recheck(
    tmp_path: Path,
) -> None:
    with province(tmp_path) as p:
        p.cut(*behind("ninh-kieu"))
        p.wait_hooks(lambda hooks: len(hooks) >= 1, timeout=30)
        time.sleep(5)
        # The district line comes back; one commune behind it stays dead (its own failure).
        p.restore(*[a for a in behind("ninh-kieu") if a not in behind("an-cu")])
        hooks = p.wait_hooks(lambda hooks: len(hooks) >= 3, timeout=40)
        time.sleep(12)  # longer than the hold and several polls: nothing else comes
        hooks = p.hooks()
        seen = statuses_seen(p, hooks[1]["received_at"])

    assert summary(hooks) == [
        ("it-ninh-kieu", "down", "firing", "nk-rtr"),
        ("it-ninh-kieu", "down", "resolved", "nk-rtr"),
        ("xa-an-cu", "down", "firing", "ac-rtr"),
    ]
    assert hooks[2]["affected_sites"] == ["an-cu"]
    assert "up" not in seen["site:an-cu"]  # never shown up in between
    assert "down" not in seen["site:an-binh"]  # back, after its re-check


def test_an_outage_spanning_a_restart_is_announced_once_and_resolved_once(
    tmp_path: Path,
) -> None:
    with province(tmp_path, scrape=False) as p:
        p.cut(*behind("an-binh"))
        p.wait_hooks(lambda hooks: len(hooks) >= 1, timeout=30)
        assert p.daemon is not None
        assert p.daemon.proc is not None
        p.daemon.proc.kill()
        p.daemon.proc.wait(10)
        p.daemon.__exit__(None, None, None)
        daemon = p.start_daemon()
        daemon.wait_for_log("device ab-rtr own status unknown -> down", timeout=30)
        time.sleep(12)  # past the hold: a new alert would have been sent by now
        p.restore(*behind("an-binh"))
        p.wait_hooks(lambda hooks: any(h["status"] == "resolved" for h in hooks), 30)
        time.sleep(3)
        hooks = p.hooks()

    assert summary(hooks) == [
        ("xa-an-binh", "down", "firing", "ab-rtr"),
        ("xa-an-binh", "down", "resolved", "ab-rtr"),
    ]
    assert hooks[0]["id"] == hooks[1]["id"]


def test_acknowledgements_silences_and_windows_set_over_the_api_survive_a_kill_9(
    tmp_path: Path,
) -> None:
    with province(tmp_path, scrape=False) as p:
        p.cut(*behind("an-binh"))
        alert_id = p.wait_hooks(lambda hooks: len(hooks) >= 1, timeout=30)[0]["id"]
        assert p.api("POST", f"/api/v1/alerts/{alert_id}/ack", {"by": "Lan"})[0] == 200
        status, silence = p.api(
            "POST", "/api/v1/silences", {"sites": ["le-binh"], "duration": "2h", "by": "Lan"}
        )
        assert status == 201, silence
        start = (datetime.now(ZoneInfo(TZ)) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
        status, window = p.api(
            "POST", "/api/v1/maintenance",
            {"target": "hung-phu", "start": start, "duration": "1h", "reason": "Thay UPS"},
        )  # fmt: skip
        assert status == 201, window
        time.sleep(2)  # saved within a tick (1 s) of the change
        assert p.daemon is not None
        assert p.daemon.proc is not None
        p.daemon.proc.kill()  # SIGKILL: no graceful stop, nothing flushed
        p.daemon.proc.wait(10)
        p.daemon.__exit__(None, None, None)

        daemon = p.start_daemon()
        for did in ("lb-rtr", "hp-rtr"):
            daemon.wait_for_log(f"device {did} own status unknown -> up", timeout=30)
        alerts = {a["id"]: a for a in p.api("GET", "/api/v1/alerts")[1]["alerts"]}
        silences = p.api("GET", "/api/v1/silences")[1]["silences"]
        windows = p.api("GET", "/api/v1/maintenance")[1]["windows"]
        # Still in force: a cut under the silence and one under the window send nothing.
        p.cut(*behind("le-binh"), *behind("hung-phu"))
        for did in ("lb-rtr", "hp-rtr"):
            daemon.wait_for_log(f"device {did} own status up -> down", timeout=30)
        time.sleep(12)  # past the hold (8 s): an alert would have been sent by now
        hooks = p.hooks()
        log = daemon.log

    assert alerts[alert_id]["acknowledged_by"] == "Lan"
    assert [(s["id"], s["sites"], s["by"]) for s in silences] == [
        (silence["id"], ["le-binh"], "Lan")
    ]
    assert [(w["id"], w["target"], w["reason"]) for w in windows] == [
        (window["id"], "hung-phu", "Thay UPS")
    ]
    assert summary(hooks) == [("xa-an-binh", "down", "firing", "ab-rtr")]
    assert "on lb-rtr not sent: silenced" in log
    assert "on hp-rtr not sent: maintenance" in log
