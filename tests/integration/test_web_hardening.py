"""The real daemon's HTTP server against slow, idle and malformed clients on loopback: half-sent
headers are closed after ``agent.web_header_timeout``, idle keep-alive connections too; a flood
of them larger than the open-file limit leaves ``/metrics`` answering; a bearer token that is not
UTF-8 is a 401, never a 500."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon import RunningDaemon, free_port, metric_value, write_config

TOKEN = "hardening-token-5c1a"
HEADER_TIMEOUT = 2.0
CONFIG = """
agent: {{listen: "127.0.0.1:{port}", data_dir: {data}, api_token: {{env: NW_TEST_TOKEN}},
         web_header_timeout: {timeout}s{extra}}}
defaults: {{icmp: {{interval: 1s, count: 1, timeout: 500ms}}}}
sites:
  - id: p
    level: province
    devices: [{{id: r1, address: 127.0.0.1, role: router}}]
"""
BASIC_AUTH = ", web_basic_auth: {user: xem, password: {env: NW_TEST_PW}}"
HALF_SENT = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow"


def daemon(tmp_path: Path, *, extra: str = "", prefix: list[str] | None = None) -> RunningDaemon:
    port = free_port()
    text = CONFIG.format(port=port, data=tmp_path / "data", timeout=HEADER_TIMEOUT, extra=extra)
    config = write_config(tmp_path, text)
    env = {"NW_TEST_TOKEN": TOKEN, "NW_TEST_PW": "mat-khau"}
    return RunningDaemon(config, port, prefix=prefix, env=env)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def exchange(port: int, raw: bytes, timeout: float = 5.0) -> bytes:
    """Send one raw request (with ``Connection: close``) and read the whole answer."""
    with connect(port) as s:
        s.settimeout(timeout)
        s.sendall(raw)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def closed_by_peer(s: socket.socket, wait: float) -> bool:
    """The server closed ``s`` (EOF or reset) within ``wait`` seconds."""
    s.settimeout(wait)
    try:
        return s.recv(65536) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def raw_request(method: str, path: str, authorization: bytes, body: bytes = b"") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".encode()
        + b"Authorization: "
        + authorization
        + f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    with daemon(tmp_path_factory.mktemp("hardening")) as d:
        d.wait_ready()
        yield d


def test_a_half_sent_header_is_closed_after_the_header_timeout(running: RunningDaemon) -> None:
    with connect(running.port) as s:
        s.sendall(HALF_SENT)
        started = time.monotonic()
        assert not closed_by_peer(s, HEADER_TIMEOUT * 0.7)  # not before its time
        assert closed_by_peer(s, HEADER_TIMEOUT + 2.0)
        assert time.monotonic() - started < HEADER_TIMEOUT + 2.0
    # ... and the operator can see it: the closes are counted on /metrics.
    text = running.get("/metrics")
    closed = metric_value(text, "netwatch_http_connections_closed_total", reason="timeout")
    assert closed is not None
    assert closed >= 1
    open_now = metric_value(text, "netwatch_http_connections")
    assert open_now is not None
    assert open_now >= 1  # this scrape's own
    assert metric_value(text, "netwatch_icmp_replies_rejected_total") == 0


def test_a_header_trickled_a_byte_at_a_time_is_closed_too(running: RunningDaemon) -> None:
    with connect(running.port) as s:
        started = time.monotonic()
        closed = False
        for byte in HALF_SENT * 4:  # more bytes than the timeout lets it send
            try:
                s.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if closed_by_peer(s, 0.25):
                closed = True
                break
            if time.monotonic() - started > HEADER_TIMEOUT + 3.0:
                break
        assert closed
        assert time.monotonic() - started < HEADER_TIMEOUT + 2.0


def test_a_connection_that_sends_nothing_is_closed(running: RunningDaemon) -> None:
    with connect(running.port) as s:
        assert closed_by_peer(s, HEADER_TIMEOUT + 2.0)


def test_an_idle_keep_alive_connection_is_closed_after_the_timeout(
    running: RunningDaemon,
) -> None:
    with connect(running.port) as s:
        s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = s.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        # Kept alive: a second request on it is answered...
        s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        # ...and once idle, it is closed after the timeout.
        assert not closed_by_peer(s, HEADER_TIMEOUT * 0.7)
        assert closed_by_peer(s, HEADER_TIMEOUT + 2.0)


NOT_UTF8 = b"Bearer \xff\xfe\xc3("


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/-/reload", b""),
        ("POST", "/api/v1/silences", b'{"matchers": {"device": "r1"}, "duration": "1h"}'),
        ("POST", "/api/v1/alerts/a-1/ack", b"{}"),
        ("DELETE", "/api/v1/silences/s-1", b""),
    ],
)
def test_a_bearer_token_that_is_not_utf8_is_refused_with_401(
    running: RunningDaemon, method: str, path: str, body: bytes
) -> None:
    answer = exchange(running.port, raw_request(method, path, NOT_UTF8, body))
    assert status_of(answer) == 401, answer
    assert TOKEN.encode() not in answer


def test_with_basic_auth_a_non_utf8_authorization_is_401_everywhere(tmp_path: Path) -> None:
    with daemon(tmp_path, extra=BASIC_AUTH) as d:
        d.wait_ready()
        for method, path in [
            ("GET", "/"),
            ("GET", "/api/v1/sites"),
            ("POST", "/api/v1/silences"),
            ("POST", "/-/reload"),
        ]:
            for authorization in (NOT_UTF8, b"Basic \xff\xfe==", b"\xff\xfe x"):
                answer = exchange(d.port, raw_request(method, path, authorization))
                assert status_of(answer) == 401, (method, path, authorization, answer)
        # The right password still passes, and the open paths stay open.
        ok = exchange(d.port, raw_request("GET", "/api/v1/sites", b"Basic eGVtOm1hdC1raGF1"))
        assert status_of(ok) == 200, ok
        assert status_of(exchange(d.port, raw_request("GET", "/-/healthy", NOT_UTF8))) == 200


OPEN_FILES = 256
FLOOD = 400  # half-sent connections: more than the daemon has files
FLOOD_PACE = 0.005  # seconds between two: the flood lasts about 2.5 s


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Flood(threading.Thread):
    """Opens ``FLOOD`` half-sent connections, one every ``FLOOD_PACE`` seconds, and keeps them."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.sockets: list[socket.socket] = []
        self.errors: list[OSError] = []
        self.halfway = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + 20.0
        for i in range(FLOOD):
            if time.monotonic() > deadline:
                break
            try:
                s = connect(self.port)
                self.sockets.append(s)
                s.sendall(HALF_SENT)
            except OSError as exc:  # reset by the guard before the header went out: fine
                self.errors.append(exc)
            if i == FLOOD // 4:
                self.halfway.set()
            time.sleep(FLOOD_PACE)
        self.halfway.set()


def test_a_flood_of_half_sent_headers_beyond_the_file_limit_leaves_metrics_answering(
    tmp_path: Path,
) -> None:
    prefix = ["prlimit", f"--nofile={OPEN_FILES}:{OPEN_FILES}", "--"]
    with daemon(tmp_path, prefix=prefix) as d:
        d.wait_ready()
        assert d.proc is not None
        d.wait_for_log("open-file limit: soft 256, hard 256", timeout=5)
        d.wait_for_log("HTTP: at most 64 connections", timeout=5)  # a quarter of 256
        flood = Flood(d.port)
        flood.start()
        try:
            assert flood.halfway.wait(10)
            most_files = 0
            # Fresh clients are answered at once while the flood goes on and fills every slot.
            while flood.is_alive():
                for path in ("/metrics", "/-/healthy"):
                    started = time.monotonic()
                    request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                    answer = exchange(d.port, request.encode(), 5.0)
                    assert status_of(answer) == 200, answer[:200]
                    assert time.monotonic() - started < 1.0
                    assert (b"netwatch_device_up" in answer) == (path == "/metrics")
                    most_files = max(most_files, open_files(d.proc.pid))
                time.sleep(0.1)
            flood.join(10)
            assert len(flood.sockets) > OPEN_FILES  # the flood did exceed the file limit
            # Every half-sent connection is closed by the header timeout at the latest.
            deadline = time.monotonic() + HEADER_TIMEOUT + 3.0
            still_open = [
                s
                for s in flood.sockets
                if not closed_by_peer(s, max(0.0, deadline - time.monotonic()))
            ]
            assert still_open == []
        finally:
            for s in flood.sockets:
                s.close()
        assert most_files < OPEN_FILES - 64, most_files  # files left for probes and saves
        assert "Too many open files" not in d.log
        assert "cannot accept" not in d.log
        assert "more are not logged" in d.log  # the guard's warnings were cut short
        # Still polling: ICMP keeps opening sockets and counting packets.
        sent = metric_value(d.get("/metrics"), "netwatch_icmp_packets_sent_total", device="r1")
        assert sent is not None
        time.sleep(2.5)
        later = metric_value(d.get("/metrics"), "netwatch_icmp_packets_sent_total", device="r1")
        assert later is not None
        assert later > sent
        code, _ = d.stop()
        assert code == 0
