"""ICMP packets, reply matching and the prober's failure mapping, with fakes (no network)."""

from __future__ import annotations

import asyncio
import collections
import errno
import logging
import math
import socket
import struct
from typing import Any

import pytest

from netwatch.errors import ProbeSetupError
from netwatch.models import ICMP_GRID, Failure, FailureKind, IcmpSettings, IcmpStats, longest_ping
from netwatch.probes import icmp as icmp_module
from netwatch.probes import icmp_socket
from netwatch.probes.icmp import IcmpProber, detect_icmp_mode
from netwatch.probes.icmp_packet import build_echo, checksum, parse_reply
from netwatch.probes.icmp_socket import REJECT_LOG_INTERVAL, EchoSocket

V4, V6 = socket.AF_INET, socket.AF_INET6
PAYLOAD = b"netwatch-test-01"


def ipv4_header(proto: int = 1, length: int = 20) -> bytes:
    """A minimal IPv4 header (IHL 5) as a raw socket delivers it."""
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, length, 0, 0, 64, proto, 0,
                       b"\x7f\0\0\1", b"\x7f\0\0\1")  # fmt: skip


def echo_reply(family: int, ident: int, seq: int, payload: bytes = PAYLOAD) -> bytes:
    kind = 0 if family == V4 else 129
    return struct.pack("!BBHHH", kind, 0, 0, ident, seq) + payload


def error_quoting(family: int, ident: int, seq: int, code: int = 1) -> bytes:
    """Destination unreachable quoting our echo request (IP header + the request)."""
    request = build_echo(family, ident, seq, PAYLOAD)
    if family == V4:
        return struct.pack("!BBHI", 3, code, 0, 0) + ipv4_header() + request
    return struct.pack("!BBHI", 1, code, 0, 0) + bytes(40) + request


# --------------------------------------------------------------------------- packets


def test_echo_request_v4_has_a_valid_checksum_and_fields() -> None:
    packet = build_echo(V4, 0xBEEF, 65535, PAYLOAD)
    assert checksum(packet) == 0
    assert struct.unpack_from("!BBHHH", packet)[0:2] == (8, 0)
    assert struct.unpack_from("!HH", packet, 4) == (0xBEEF, 65535)
    assert packet[8:] == PAYLOAD


def test_checksum_of_odd_length_data_pads_with_zero() -> None:
    assert checksum(b"\x01") == checksum(b"\x01\x00") == 0xFEFF


def test_echo_request_v6_uses_type_128_and_leaves_checksum_to_kernel() -> None:
    packet = build_echo(V6, 1, 2, b"")
    assert packet == struct.pack("!BBHHH", 128, 0, 0, 1, 2)


@pytest.mark.parametrize(
    ("family", "packet", "ip_header"),
    [
        (V4, ipv4_header() + echo_reply(V4, 7, 9), True),  # raw v4: IP header first
        (V4, echo_reply(V4, 7, 9), False),  # dgram v4: ICMP only
        (V6, echo_reply(V6, 7, 9), False),  # raw or dgram v6: ICMP only
    ],
)
def test_echo_reply_is_parsed(family: int, packet: bytes, ip_header: bool) -> None:
    reply = parse_reply(family, packet, ip_header=ip_header)
    assert reply is not None
    assert (reply.ident, reply.seq, reply.payload, reply.error) == (7, 9, PAYLOAD, None)


def test_ipv4_header_with_options_is_skipped_by_its_ihl() -> None:
    header = bytes([0x46]) + ipv4_header()[1:] + b"\x01\x01\x01\x00"  # IHL 6: 4 bytes options
    reply = parse_reply(V4, header + echo_reply(V4, 1, 2), ip_header=True)
    assert reply is not None
    assert (reply.ident, reply.seq) == (1, 2)


@pytest.mark.parametrize("family", [V4, V6])
def test_echo_requests_and_other_types_are_ignored(family: int) -> None:
    assert parse_reply(family, build_echo(family, 1, 1, PAYLOAD), ip_header=False) is None
    other = struct.pack("!BBHI", 5 if family == V4 else 135, 0, 0, 0) + bytes(40)
    assert parse_reply(family, other, ip_header=False) is None


@pytest.mark.parametrize("family", [V4, V6])
def test_unreachable_quoting_our_request_is_matched_to_it(family: int) -> None:
    reply = parse_reply(family, error_quoting(family, 0x1234, 77, code=1), ip_header=False)
    assert reply is not None
    assert (reply.ident, reply.seq) == (0x1234, 77)
    assert reply.error == "destination unreachable (code 1)"


def test_error_quoting_a_udp_packet_is_ignored() -> None:
    udp = struct.pack("!HHHH", 5000, 161, 8, 0)
    packet = struct.pack("!BBHI", 3, 3, 0, 0) + ipv4_header(proto=17) + udp
    assert parse_reply(V4, packet, ip_header=False) is None


@pytest.mark.parametrize("size", [0, 4, 7, 19])
def test_truncated_packets_are_ignored(size: int) -> None:
    data = (ipv4_header() + echo_reply(V4, 1, 1))[:size]
    assert parse_reply(V4, data, ip_header=True) is None
    assert parse_reply(V4, data, ip_header=False) is None


# --------------------------------------------------------------------------- matching


class FakeSock:
    """Stands in for the ICMP socket: records sends; replies are written to a socketpair, each
    with the source address ``recvmsg`` reports (by default, where the last request went)."""

    def __init__(self) -> None:
        self.reader, self.writer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.reader.setblocking(False)
        self.sent: list[tuple[bytes, Any]] = []
        self.send_error: OSError | None = None
        self.sent_event = asyncio.Event()  # set on every send
        self.sources: collections.deque[tuple[Any, ...]] = collections.deque()

    def fileno(self) -> int:
        return self.reader.fileno()

    def setblocking(self, flag: bool) -> None:
        pass

    def setsockopt(self, *args: Any) -> None:
        pass

    def sendto(self, packet: bytes, address: Any) -> int:
        if self.send_error is not None:
            raise self.send_error
        self.sent.append((packet, address))
        self.sent_event.set()
        return len(packet)

    def recvmsg(self, size: int, ancsize: int) -> tuple[bytes, list[Any], int, tuple[str, int]]:
        packet = self.reader.recv(size)  # raises BlockingIOError when empty, as a socket does
        return packet, [], 0, self.sources.popleft()

    def close(self) -> None:
        self.reader.close()
        self.writer.close()

    def reply(self, packet: bytes, source: tuple[Any, ...] | None = None) -> None:
        self.sources.append(source if source is not None else self.sent[-1][1])
        self.writer.send(packet)

    def last_seq(self) -> int:
        return int(struct.unpack_from("!H", self.sent[-1][0], 6)[0])


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_socket(mode: str = "raw", family: int = V4) -> tuple[EchoSocket, FakeSock, FakeClock]:
    fake, clock = FakeSock(), FakeClock()
    sock = EchoSocket(family, mode, ident=0x4E57, payload=PAYLOAD, clock=clock,  # type: ignore[arg-type]
                      sock=fake)  # type: ignore[arg-type]  # fmt: skip
    return sock, fake, clock


V4_ADDR = ("127.0.0.1", 0)


async def sent(fake: FakeSock, n: int = 1) -> None:
    """Wait until the fake socket has seen ``n`` requests in all."""
    async with asyncio.timeout(2):
        while len(fake.sent) < n:
            fake.sent_event.clear()
            await fake.sent_event.wait()


async def test_reply_is_matched_by_identifier_and_sequence_and_timed_when_read() -> None:
    sock, fake, clock = make_socket("raw")
    fut_a = sock.ping(V4_ADDR, "127.0.0.1", 1, spacing=0.0, timeout=1.0)
    fut_b = sock.ping(("127.0.0.2", 0), "127.0.0.2", 1, spacing=0.0, timeout=1.0)
    seq_b = fake.last_seq()
    assert fake.sent[0][0] != fake.sent[1][0]  # two sequence numbers
    clock.now += 0.004
    fake.reply(ipv4_header() + echo_reply(V4, 0x4E58, seq_b))  # another process's identifier
    fake.reply(ipv4_header() + echo_reply(V4, 0x4E57, seq_b))
    assert tuple(await asyncio.wait_for(fut_b, 1)) == (1, [pytest.approx(0.004)])
    assert not fut_a.done()
    sock.close()
    echoes = await fut_a  # closing ends the ping with a failure
    assert echoes.sent == 1
    assert isinstance(echoes.outcomes[0], Failure)
    assert echoes.outcomes[0].kind is FailureKind.ERROR


async def test_requests_are_valid_echoes_with_the_incremental_checksum() -> None:
    sock, fake, _ = make_socket("raw")
    for next_seq in (0, 1, 0x7FFF, 0xFFFE, 0xFFFF):
        sock._next_seq = next_seq
        sock.ping(V4_ADDR, "127.0.0.1", 1, spacing=0.0, timeout=1.0)
        assert fake.sent[-1][0] == build_echo(V4, 0x4E57, next_seq, PAYLOAD)
    sock.close()


async def test_dgram_matches_by_sequence_only_because_the_kernel_rewrites_the_id() -> None:
    sock, fake, _ = make_socket("dgram")
    fut = sock.ping(V4_ADDR, "127.0.0.1", 1, spacing=0.0, timeout=1.0)
    fake.reply(echo_reply(V4, 40000, fake.last_seq()))  # the id is the socket's port
    echoes = await asyncio.wait_for(fut, 1)
    assert isinstance(echoes.outcomes[0], float)
    sock.close()


async def test_reply_with_a_foreign_payload_is_not_ours() -> None:
    sock, fake, _ = make_socket("raw", V6)
    fut = sock.ping(("::1", 0, 0, 0), "::1", 1, spacing=0.0, timeout=0.05)
    fake.reply(echo_reply(V6, 0x4E57, fake.last_seq(), payload=b"somebody-elses!"))
    assert await fut == (1, [None])  # timed out: the stray reply did not count
    assert sock.in_flight == 0
    sock.close()


@pytest.mark.parametrize(
    ("mode", "family", "target", "forger", "header"),
    [
        ("raw", V4, ("127.0.0.5", 0), ("127.0.0.9", 0), True),
        ("dgram", V4, ("127.0.0.5", 0), ("127.0.0.1", 0), False),  # the kernel gives it too
        ("raw", V6, ("fd00::5", 0, 0, 0), ("fd00::9", 0, 0, 0), False),
        ("dgram", V6, ("::1", 0, 0, 0), ("fd00::9", 0, 0, 0), False),
    ],
)
async def test_a_matching_reply_from_another_address_is_rejected_and_counted(
    mode: str, family: int, target: tuple[Any, ...], forger: tuple[Any, ...], header: bool
) -> None:
    # Right identifier, sequence and token: only its source tells it from the target's reply.
    sock, fake, _ = make_socket(mode, family)
    fut = sock.ping(target, str(target[0]), 1, spacing=0.0, timeout=0.05)
    forged = (ipv4_header() if header else b"") + echo_reply(family, 0x4E57, fake.last_seq())
    for _ in range(3):
        fake.reply(forged, forger)
    assert await asyncio.wait_for(fut, 1) == (1, [None])  # lost, not answered
    assert sock.rejected == 3
    assert sock.in_flight == 0
    sock.close()


async def test_the_targets_reply_still_counts_after_a_forged_one() -> None:
    sock, fake, _ = make_socket("raw")
    fut = sock.ping(("127.0.0.5", 0), "127.0.0.5", 1, spacing=0.0, timeout=1.0)
    reply = ipv4_header() + echo_reply(V4, 0x4E57, fake.last_seq())
    fake.reply(reply, ("127.0.0.9", 0))
    fake.reply(reply)  # from 127.0.0.5
    echoes = await asyncio.wait_for(fut, 1)
    assert echoes.sent == 1
    assert isinstance(echoes.outcomes[0], float)
    assert sock.rejected == 1
    sock.close()


async def test_rejected_replies_are_logged_at_most_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sock, fake, clock = make_socket("raw")
    caplog.set_level(logging.WARNING, logger=icmp_socket.__name__)
    fut = sock.ping(("127.0.0.5", 0), "127.0.0.5", 1, spacing=0.0, timeout=5.0)
    seq = fake.last_seq()
    forged = ipv4_header() + echo_reply(V4, 0x4E57, seq)
    for _ in range(100):
        fake.reply(forged, ("127.0.0.9", 0))
    sock._on_readable()
    clock.now += REJECT_LOG_INTERVAL - 1
    fake.reply(forged, ("127.0.0.9", 0))
    sock._on_readable()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1  # 101 rejected, one line: at the first
    assert "ignored 1 ICMP echo replies" in lines[0]
    assert "from 127.0.0.9 for a request to 127.0.0.5" in lines[0]
    clock.now += 1
    for _ in range(5):
        fake.reply(forged, ("127.0.0.9", 0))
    sock._on_readable()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2  # the interval is over: the next rejection is logged
    assert "ignored 101 ICMP echo replies" in lines[1]  # every one since the last line
    assert "(102 in all;" in lines[1]
    assert sock.rejected == 106
    assert not fut.done()
    sock.close()


async def test_echo_replies_of_another_size_are_dropped_before_parsing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Another pinger's replies (or a flood) must cost a read and a compare, not a parse.
    def no_parse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("parse_reply called for an echo reply")

    sock, fake, _ = make_socket("raw")
    monkeypatch.setattr(icmp_socket, "parse_reply", no_parse)
    sock.ping(V4_ADDR, "127.0.0.1", 1, spacing=0.0, timeout=5.0)
    fake.reply(ipv4_header() + echo_reply(V4, 0x4E57, fake.last_seq(), payload=bytes(56)))
    fake.reply(ipv4_header())  # nothing after the IP header
    fake.reply(b"")
    sock._on_readable()
    assert sock.in_flight == 1
    assert sock.rejected == 0  # not ours at all: not counted as rejected
    sock.close()


async def test_timeout_resolves_none_and_a_late_reply_is_dropped() -> None:
    sock, fake, _ = make_socket("raw")
    fut = sock.ping(V4_ADDR, "127.0.0.1", 1, spacing=0.0, timeout=0.02)
    seq = fake.last_seq()
    assert await fut == (1, [None])
    fake.reply(ipv4_header() + echo_reply(V4, 0x4E57, seq))
    await asyncio.sleep(0.01)  # the reader runs and must ignore it without error
    assert sock.in_flight == 0
    sock.close()


async def test_a_reply_queued_but_unread_when_time_is_up_still_counts() -> None:
    # The loop may not have told the reader yet; what counts is the RTT, not when it was read.
    sock, fake, clock = make_socket("raw")
    asyncio.get_running_loop().remove_reader(fake.fileno())  # the reader never runs
    fut = sock.ping(V4_ADDR, "127.0.0.1", 1, spacing=0.0, timeout=0.02)
    clock.now += 0.01  # the reply arrived 10 ms after the request
    fake.reply(ipv4_header() + echo_reply(V4, 0x4E57, fake.last_seq()))
    assert tuple(await asyncio.wait_for(fut, 1)) == (1, [pytest.approx(0.01)])
    sock.close()


async def test_a_reply_with_an_rtt_over_the_timeout_is_lost() -> None:
    sock, fake, clock = make_socket("raw")
    fut = sock.ping(V4_ADDR, "127.0.0.1", 1, spacing=0.0, timeout=0.5)
    clock.now += 0.6
    fake.reply(ipv4_header() + echo_reply(V4, 0x4E57, fake.last_seq()))
    assert await asyncio.wait_for(fut, 2) == (1, [None])
    sock.close()


async def test_unreachable_error_resolves_the_request_as_unreachable() -> None:
    sock, fake, _ = make_socket("raw")
    fut = sock.ping(V4_ADDR, "127.0.0.1", 1, spacing=0.0, timeout=1.0)
    # From a router on the way, not from the target: errors are not checked by source.
    fake.reply(ipv4_header() + error_quoting(V4, 0x4E57, fake.last_seq()), ("192.0.2.1", 0))
    outcome = (await asyncio.wait_for(fut, 1)).outcomes[0]
    assert isinstance(outcome, Failure)
    assert outcome.kind is FailureKind.UNREACHABLE
    assert "192.0.2.1" in outcome.detail
    sock.close()


@pytest.mark.parametrize(
    ("err", "kind"),
    [
        (errno.EPERM, FailureKind.PERMISSION),
        (errno.ENETUNREACH, FailureKind.UNREACHABLE),
        (errno.EHOSTUNREACH, FailureKind.UNREACHABLE),
        (errno.EIO, FailureKind.ERROR),
    ],
)
async def test_send_errors_become_failures(err: int, kind: FailureKind) -> None:
    sock, fake, _ = make_socket("raw")
    fake.send_error = OSError(err, "boom")
    fut = sock.ping(V4_ADDR, "127.0.0.1", 1, spacing=0.0, timeout=1.0)
    echoes = fut.result()  # resolved at once: nothing to wait for
    assert echoes.sent == 0
    outcome = echoes.outcomes[0]
    assert isinstance(outcome, Failure)
    assert outcome.kind is kind
    assert sock.in_flight == 0
    assert sock.wakeups_planned == 0
    sock.close()


async def test_a_full_send_buffer_counts_the_request_as_lost_not_sent() -> None:
    sock, fake, _ = make_socket("raw")
    fake.send_error = BlockingIOError(errno.EAGAIN, "full")
    echoes = sock.ping(V4_ADDR, "127.0.0.1", 1, spacing=0.0, timeout=1.0).result()
    assert echoes == (0, [None])
    assert sock.in_flight == 0
    sock.close()


async def test_sequence_wraps_at_65536_and_skips_numbers_in_flight() -> None:
    sock, fake, _ = make_socket("raw")
    sock._next_seq = 65535
    sock.ping(V4_ADDR, "x", 1, spacing=0.0, timeout=5.0)
    sock.ping(V4_ADDR, "x", 1, spacing=0.0, timeout=5.0)
    sock._next_seq = 65535  # 65535 is still in flight: it must be skipped
    sock.ping(V4_ADDR, "x", 1, spacing=0.0, timeout=5.0)
    assert [struct.unpack_from("!H", p, 6)[0] for p, _ in fake.sent] == [65535, 0, 1]
    assert sock.in_flight == 3
    sock.close()


async def test_requests_of_a_ping_are_spaced_on_the_grid_and_share_wakeups() -> None:
    sock, fake, _ = make_socket("raw")
    loop = asyncio.get_running_loop()
    futures = [sock.ping(V4_ADDR, "x", 3, spacing=0.15, timeout=0.3) for _ in range(50)]
    times = [loop.time()] * len(fake.sent)
    while len(fake.sent) < 150:
        count = len(fake.sent)
        await sent(fake, count + 1)
        times.extend([loop.time()] * (len(fake.sent) - count))
    # 150 requests, but the 100 later ones went out on at most two ticks of the wheel.
    assert len(set(times[50:])) <= 2
    first, second, third = times[0], times[50], times[100]
    assert second - first >= 0.15 - ICMP_GRID / 2 - 1e-3  # on the tick nearest its due time
    assert third - first >= 0.30 - ICMP_GRID / 2 - 1e-3
    assert third - first <= 0.30 + ICMP_GRID  # due times on the grid, not added up
    results = await asyncio.gather(*futures)
    assert all(r == (3, [None, None, None]) for r in results)
    assert sock.wakeups_planned == 0
    sock.close()


async def test_a_ping_started_on_a_tick_sends_its_later_requests_on_that_ticks_multiples() -> None:
    # The scheduler starts pings on its ticks; rounded up, their later requests each fell one
    # tick late, on a tick of their own: a wake-up more per tick of the scheduler.
    sock, fake, _ = make_socket("raw")
    loop = asyncio.get_running_loop()
    for _ in range(20):  # bounded: start in the first half of a tick, as the scheduler does
        await asyncio.sleep(
            (math.floor(loop.time() / ICMP_GRID) + 1) * ICMP_GRID + 0.002 - loop.time()
        )
        start = loop.time()
        if start - math.floor(start / ICMP_GRID) * ICMP_GRID < ICMP_GRID / 2:
            break
    started_on = math.floor(start / ICMP_GRID)
    future = sock.ping(V4_ADDR, "x", 3, spacing=2 * ICMP_GRID, timeout=0.3)
    times = [start]
    for n in (2, 3):
        await sent(fake, n)
        times.append(loop.time())
    assert [math.floor(t / ICMP_GRID + 1e-6) - started_on for t in times] == [0, 2, 4]
    assert (await future).sent == 3
    sock.close()


@pytest.mark.parametrize(("count", "spacing"), [(5, 0.0), (4, 0.05), (3, 0.15), (3, 0.2)])
async def test_a_ping_without_replies_ends_within_longest_ping(count: int, spacing: float) -> None:
    # The config check refuses an interval shorter than longest_ping; with spacing under a tick
    # the requests go one tick apart, which (count - 1) * spacing left out.
    sock, _fake, _ = make_socket("raw")
    loop = asyncio.get_running_loop()
    start = loop.time()
    echoes = await sock.ping(V4_ADDR, "x", count, spacing=spacing, timeout=0.3)
    duration = loop.time() - start
    assert echoes.sent == count
    # Each request within half a tick of its due time; the last one's full timeout waited.
    earliest = max(0.0, (count - 1) * spacing - ICMP_GRID / 2) + 0.3
    assert earliest - 1e-3 <= duration <= longest_ping(count, spacing, 0.3)
    sock.close()


async def test_an_answered_ping_leaves_no_timer_behind() -> None:
    # A wake-up for nothing costs more CPU than an echo: answered pings cancel their end tick.
    sock, fake, _ = make_socket("raw")
    fut = sock.ping(V4_ADDR, "x", 1, spacing=0.0, timeout=5.0)
    assert sock.wakeups_planned == 1  # the tick on which it would time out
    fake.reply(ipv4_header() + echo_reply(V4, 0x4E57, fake.last_seq()))
    await asyncio.wait_for(fut, 1)
    assert sock.wakeups_planned == 0
    assert sock.in_flight == 0
    sock.close()


async def test_a_cancelled_ping_stops_sending_and_frees_its_sequence_numbers() -> None:
    sock, fake, _ = make_socket("raw")
    fut = sock.ping(V4_ADDR, "x", 3, spacing=0.05, timeout=5.0)
    fut.cancel()
    await asyncio.sleep(3 * ICMP_GRID)
    assert len(fake.sent) == 1  # the later requests were not sent
    assert sock.in_flight == 0
    assert sock.wakeups_planned == 0
    sock.close()


async def test_close_ends_pings_that_have_requests_still_to_send() -> None:
    sock, _fake, _ = make_socket("raw")
    fut = sock.ping(V4_ADDR, "x", 3, spacing=1.0, timeout=1.0)
    sock.close()
    echoes = fut.result()
    assert echoes.sent == 1
    assert all(isinstance(o, Failure) for o in echoes.outcomes)
    assert sock.wakeups_planned == 0
    closed = sock.ping(V4_ADDR, "x", 2, spacing=1.0, timeout=1.0).result()
    assert closed.sent == 0
    assert all(isinstance(o, Failure) for o in closed.outcomes)


# --------------------------------------------------------------------------- prober


async def test_prober_reports_rtts_in_send_order_and_partial_loss(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, clock = FakeSock(), FakeClock()

    def fake_socket(family: int, mode: Any, **kw: Any) -> EchoSocket:
        return EchoSocket(family, mode, sock=fake, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(icmp_module, "EchoSocket", fake_socket)
    prober = IcmpProber("raw", clock=clock, wall=lambda: 1000.0)
    prober._payload = PAYLOAD
    settings = IcmpSettings(count=3, timeout=0.2, spacing=0.01)
    task = asyncio.create_task(prober.ping("r1", "127.0.0.9", settings))
    for rtt in (0.002, None, 0.001):  # reply, lose, reply
        await asyncio.wait_for(fake.sent_event.wait(), 1)
        fake.sent_event.clear()
        if rtt is not None:
            clock.now += rtt
            ident = prober._ident
            fake.reply(ipv4_header() + echo_reply(V4, ident, fake.last_seq()))
    sample = await asyncio.wait_for(task, 2)
    assert sample.ok
    assert sample.at == 1000.0
    assert sample.check == "icmp"
    assert sample.data == IcmpStats(3, pytest.approx((0.002, 0.001)))  # type: ignore[arg-type]
    assert fake.sent[0][1] == ("127.0.0.9", 0)
    await prober.close()


async def test_prober_without_any_reply_reports_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSock()
    monkeypatch.setattr(
        icmp_module,
        "EchoSocket",
        lambda f, m, **kw: EchoSocket(f, m, sock=fake, **kw),  # type: ignore[arg-type]
    )
    prober = IcmpProber("raw")
    sample = await prober.ping("r1", "::1", IcmpSettings(count=2, timeout=0.02, spacing=0.01))
    assert sample.failure is not None
    assert sample.failure.kind is FailureKind.TIMEOUT
    assert sample.data == IcmpStats(2, ())
    assert fake.sent[0][1] == ("::1", 0, 0, 0)
    await prober.close()


async def test_dns_failure_is_data_and_names_are_cached_for_the_ttl(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    async def getaddrinfo(host: str, *args: Any, **kw: Any) -> list[Any]:
        calls.append(host)
        if host == "gone.example":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(V4, socket.SOCK_DGRAM, 17, "", ("127.0.0.3", 0))]

    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    clock = FakeClock()
    prober = IcmpProber("raw", resolver_ttl=60.0, clock=clock)
    sample = await prober.ping("srv", "gone.example", IcmpSettings())
    assert sample.failure is not None
    assert sample.failure.kind is FailureKind.DNS
    assert "gone.example" in sample.failure.detail
    assert sample.data == IcmpStats(0, ())

    assert await prober._resolve("srv.example") == (V4, ("127.0.0.3", 0), "127.0.0.3")
    clock.now += 59
    await prober._resolve("srv.example")
    assert calls.count("srv.example") == 1  # served from the cache within the TTL
    clock.now += 2
    await prober._resolve("srv.example")
    assert calls.count("srv.example") == 2
    await prober._resolve("10.0.0.1")
    assert "10.0.0.1" not in calls  # literals never reach the resolver
    await prober.close()


@pytest.mark.parametrize(
    ("address", "target"),
    [
        ("::ffff:10.0.0.1", (V4, ("10.0.0.1", 0), "10.0.0.1")),
        ("::FFFF:a00:1", (V4, ("10.0.0.1", 0), "10.0.0.1")),
        ("::ffff:0:10.0.0.1", (V6, ("::ffff:0:a00:1", 0, 0, 0), "::ffff:0:a00:1")),  # not mapped
        ("2001:DB8::0001", (V6, ("2001:db8::1", 0, 0, 0), "2001:db8::1")),
    ],
)
async def test_literals_are_canonical_and_ipv4_mapped_ones_are_pinged_over_ipv4(
    address: str, target: tuple[Any, ...]
) -> None:
    # The reply's source is compared as text with the target: both must be in canonical form,
    # and the reply to an IPv4-mapped target comes from the IPv4 address.
    prober = IcmpProber("raw")
    assert await prober._resolve(address) == target
    await prober.close()


async def test_a_name_resolving_to_an_ipv4_mapped_address_is_pinged_over_ipv4(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def getaddrinfo(host: str, *args: Any, **kw: Any) -> list[Any]:
        return [(V6, socket.SOCK_DGRAM, 17, "", ("::ffff:127.0.0.3", 0, 0, 0))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    prober = IcmpProber("raw")
    assert await prober._resolve("mapped.example") == (V4, ("127.0.0.3", 0), "127.0.0.3")
    await prober.close()


async def test_prober_counts_rejected_replies_across_close(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSock()
    monkeypatch.setattr(
        icmp_module,
        "EchoSocket",
        lambda f, m, **kw: EchoSocket(f, m, sock=fake, **kw),  # type: ignore[arg-type]
    )
    prober = IcmpProber("raw")
    task = asyncio.create_task(
        prober.ping("r1", "127.0.0.5", IcmpSettings(count=1, timeout=0.05, spacing=0.01))
    )
    await sent(fake)
    forged = ipv4_header() + echo_reply(V4, prober._ident, fake.last_seq(), prober._payload)
    fake.reply(forged, ("127.0.0.9", 0))
    sample = await asyncio.wait_for(task, 1)
    assert sample.failure is not None
    assert sample.failure.kind is FailureKind.TIMEOUT
    assert prober.rejected == 1
    await prober.close()
    assert prober.rejected == 1  # kept after the socket is gone


def test_detect_without_permission_names_both_fixes(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> socket.socket:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(socket, "socket", refuse)
    with pytest.raises(ProbeSetupError, match=r"CAP_NET_RAW.*ping_group_range"):
        detect_icmp_mode()


# --------------------------------------------------------------------------- IcmpStats


def test_icmp_stats_edge_cases() -> None:
    nothing = IcmpStats(0, ())
    assert nothing.loss == 1.0
    assert nothing.received == 0
    assert math.isnan(nothing.rtt_avg)
    lost = IcmpStats(3, ())
    assert lost.loss == 1.0
    assert lost.jitter == 0.0
    assert math.isnan(lost.rtt_min)
    one = IcmpStats(3, (0.01,))
    assert one.loss == pytest.approx(2 / 3)
    assert one.jitter == 0.0
    assert one.rtt_max == 0.01
    three = IcmpStats(3, (0.01, 0.03, 0.02))
    assert three.loss == 0.0
    assert three.jitter == pytest.approx(0.015)
    assert (three.rtt_min, three.rtt_avg, three.rtt_max) == pytest.approx((0.01, 0.02, 0.03))
