"""The SNMPv2c codec's bounds: numbers within their type's range, RFC 2578's OID limits,
header-only decoding, and decoding time linear in the datagram's size."""

from __future__ import annotations

import asyncio
import collections
import socket
import sys
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import TraceFunction

import pytest

from netwatch.probes import snmp_udp
from netwatch.probes import snmp_v2c as v2c
from netwatch.probes.snmp_clients import raise_rcvbuf

NAME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
# tag, lowest, highest
TYPES = [(tag, low, high) for tag, (_name, low, high) in v2c.INT_RANGES.items()]


def ber_int(value: int) -> bytes:
    """Minimal two's-complement content octets of ``value`` (as BER wants them)."""
    return value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True)


def raw_oid(arcs: list[int]) -> bytes:
    """Content octets of an OID whose already-combined sub-identifiers are ``arcs``."""
    body = bytearray()
    for arc in arcs:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return bytes(body)


def response(varbinds: bytes, request_id: bytes = b"\x05", community: bytes = b"c") -> bytes:
    """A GetResponse around already-encoded varbind TLVs."""
    tlv = v2c._tlv
    head = tlv(0x02, request_id) + tlv(0x02, b"\x00") + tlv(0x02, b"\x00")
    pdu = tlv(v2c.RESPONSE, head + tlv(0x30, varbinds))
    return tlv(0x30, tlv(0x02, b"\x01") + tlv(0x04, community) + pdu)


def varbind(value_tag: int, value: bytes, name: bytes | None = None) -> bytes:
    oid = v2c._oid(NAME) if name is None else v2c._tlv(0x06, name)
    return v2c._tlv(0x30, oid + v2c._tlv(value_tag, value))


def value_of(value_tag: int, value: bytes) -> object:
    return v2c.decode_message(response(varbind(value_tag, value))).varbinds[0][1]


@pytest.mark.parametrize(("tag", "low", "high"), TYPES, ids=lambda x: f"{x:#x}")
def test_every_integer_type_accepts_its_range_edges(tag: int, low: int, high: int) -> None:
    """The lowest and highest value of each type, and their neighbours inside, decode."""
    for value in (low, low + 1, high - 1, high):
        assert value_of(tag, ber_int(value)) == value


@pytest.mark.parametrize(("tag", "low", "high"), TYPES, ids=lambda x: f"{x:#x}")
def test_every_integer_type_refuses_one_past_its_edges(tag: int, low: int, high: int) -> None:
    """low-1 and high+1 (two's complement, as BER has them) are a malformed message."""
    for value in (low - 1, high + 1):
        with pytest.raises(v2c.MalformedMessage, match="out of range"):
            value_of(tag, ber_int(value))


@pytest.mark.parametrize("tag", list(v2c.INT_RANGES), ids=lambda x: f"{x:#x}")
def test_huge_and_empty_numbers_are_refused(tag: int) -> None:
    """2^16000, 10^400 (the attacker's values), ten padded bytes and no byte at all."""
    for raw in (ber_int(2**16000), ber_int(10**400), ber_int(-(10**400)), b"\x00" * 9 + b"\x01"):
        with pytest.raises(v2c.MalformedMessage, match="out of range"):
            value_of(tag, raw)
    with pytest.raises(v2c.MalformedMessage, match="empty"):
        value_of(tag, b"")


def test_padding_within_nine_bytes_is_tolerated() -> None:
    """A non-minimal but small encoding (leading zero bytes) still decodes to its value."""
    assert value_of(0x41, b"\x00" * 8 + b"\x07") == 7
    assert value_of(0x02, b"\xff" * 9) == -1


@pytest.mark.parametrize("where", ["name", "value"])
def test_oid_length_limit_is_128_arcs(where: str) -> None:
    """128 sub-identifiers decode; 129 are a malformed message (RFC 2578 section 3.5)."""
    ok = raw_oid([43, *([1] * 126)])  # 1.3 plus 126 arcs: 128 in all
    too_long = raw_oid([43, *([1] * 127)])

    def decode(raw: bytes) -> object:
        if where == "name":
            return v2c.decode_message(response(varbind(0x05, b"", name=raw))).varbinds[0][0]
        return value_of(0x06, raw)

    assert decode(ok) == (1, 3, *([1] * 126))
    with pytest.raises(v2c.MalformedMessage, match="more than 128"):
        decode(too_long)


@pytest.mark.parametrize("where", ["name", "value"])
def test_oid_arcs_are_at_most_2_to_the_32_minus_1(where: str) -> None:
    """Arcs of 2^32-1 decode, 2^32 does not; the first two arcs share one sub-identifier,
    which obeys the same bound (2.x: x <= 2^32-81)."""

    def decode(arcs: list[int]) -> object:
        raw = raw_oid(arcs)
        if where == "name":
            return v2c.decode_message(response(varbind(0x05, b"", name=raw))).varbinds[0][0]
        return value_of(0x06, raw)

    assert decode([43, 2**32 - 1, 0]) == (1, 3, 2**32 - 1, 0)
    assert decode([2**32 - 1]) == (2, 2**32 - 81)
    for arcs in ([43, 2**32], [2**32], [43, 2**200], [43, 1, 2**35 - 1]):
        with pytest.raises(v2c.MalformedMessage, match="2\\^32-1"):
            decode(arcs)


def test_oid_encoding_quirks_are_refused() -> None:
    """A padded sub-identifier (leading 0x80), a cut one and an empty OID are malformed."""
    for raw in (b"\x2b\x80\x01", b"\x2b\x81", b"", b"\x2b" + b"\x81" * 700 + b"\x01"):
        with pytest.raises(v2c.MalformedMessage, match="bad OID"):
            value_of(0x06, raw)


@pytest.mark.parametrize("request_id", [ber_int(2**31), ber_int(-(2**31) - 1), b"\x01" * 2000])
def test_header_integers_are_bounded(request_id: bytes) -> None:
    """A request-id outside Integer32 is malformed, read from the header alone."""
    with pytest.raises(v2c.MalformedMessage, match="out of range"):
        v2c.decode_header(response(varbind(0x02, b"\x01"), request_id=request_id))


def test_the_header_decodes_without_the_varbinds() -> None:
    """Garbage varbinds do not stop the header from decoding; the varbinds then refuse them."""
    wire = response(varbind(0x46, ber_int(2**16000)), request_id=ber_int(70000), community=b"pub")
    header = v2c.decode_header(wire)
    assert (header.request_id, header.community, header.pdu_type) == (70000, b"pub", v2c.RESPONSE)
    with pytest.raises(v2c.MalformedMessage):
        v2c.decode_varbinds(wire, header)


# --------------------------------------------------------------------------- linear time

SIZES = (8_000, 64_000)  # bytes of varbinds, 8x apart


def hostile(shape: str, size: int) -> bytes:
    """A datagram of about ``size`` bytes whose decoding goes as far as it can."""
    if shape == "long-oid-value":  # one OID value of continuation bytes (the 274 ms case)
        return response(varbind(0x06, b"\x2b" + b"\x81" * size + b"\x01"))
    if shape == "huge-counter":  # one Counter64 as wide as the datagram
        return response(varbind(0x46, b"\x01" + b"\x00" * size))
    if shape == "long-request-id":
        return response(b"", request_id=b"\x01" * size)
    # Many legal, maximal OIDs (128 arcs of 2^32-1, 640 bytes each); the last one is broken.
    one = varbind(0x06, raw_oid([2**32 - 1] * 127))
    count = size // len(one)
    return response(one * count + varbind(0x06, raw_oid([2**32] * 2)))


def lines_run(work: Callable[[], object]) -> int:
    """How many lines of Python ``work`` ran: a count of work that no other process disturbs.

    With every arc bounded (5 bytes at most) each line is O(1), so the count is the cost; the
    old decoder's 274 ms came from big-integer lines growing with the OID (each line O(n)).
    """
    count = 0

    def tracer(frame: FrameType, event: str, arg: object) -> TraceFunction:
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        work()
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize("shape", ["long-oid-value", "huge-counter", "long-request-id", "many"])
def test_decoding_work_grows_at_most_linearly_with_size(shape: str) -> None:
    """8x the bytes runs at most 8x the lines, each of bounded cost; a hostile value is refused
    within its first bytes, whatever its length (the same work at 8 kB and at 64 kB)."""

    def decode(wire: bytes) -> Callable[[], object]:
        def run() -> object:
            try:
                return v2c.decode_message(wire)
            except v2c.MalformedMessage as exc:
                return exc

        return run

    small, large = (hostile(shape, n) for n in SIZES)
    assert isinstance(decode(large)(), v2c.MalformedMessage)
    work_small, work_large = lines_run(decode(small)), lines_run(decode(large))
    if shape == "many":
        assert work_large <= 9 * work_small, (work_small, work_large)
    else:
        assert work_large == work_small, (work_small, work_large)


# --------------------------------------------------------------------------- client


def client_socket(family: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    raise_rcvbuf(sock)  # room for every datagram the tests queue
    sock.setblocking(False)
    sock.bind(("127.0.0.1", 0))
    return sock


async def test_one_wake_up_reads_at_most_the_budget() -> None:
    """600 queued datagrams: one _drain call reads READ_BUDGET of them, and drops each after
    its header (they answer no request)."""
    client = v2c.V2cClient(client_socket, collections.Counter(), set())
    sock = client._socket(socket.AF_INET)
    try:
        wire = response(varbind(0x02, b"\x01"))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for _ in range(600):
                sender.sendto(wire, sock.getsockname())
        client._drain(sock)
        assert client.dropped == snmp_udp.READ_BUDGET
        client._drain(sock)
        client._drain(sock)
        assert client.dropped == 600
    finally:
        client.close()
        sock.close()


async def test_replies_are_matched_by_id_and_source_before_their_varbinds_decode() -> None:
    """A datagram with the right request-id from another port is dropped (its bad varbinds
    never decoded); the same from the agent's port fails the request as malformed at once."""
    peers: set[tuple[str, int]] = set()
    made: list[socket.socket] = []

    def make(family: int) -> socket.socket:
        made.append(client_socket(family))
        return made[-1]

    client = v2c.V2cClient(make, collections.Counter(), peers)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as agent,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger,
    ):
        agent.bind(("127.0.0.1", 0))
        stranger.bind(("127.0.0.1", 0))
        address = agent.getsockname()
        peers.add(address)
        asking = asyncio.create_task(
            client.request(
                address,
                socket.AF_INET,
                b"c",
                v2c.GET,
                [NAME],
                repetitions=0,
                per_try=5.0,
                retries=0,
            )
        )
        request, manager = await asyncio.wait_for(asyncio.to_thread(agent.recvfrom, 2048), 5)
        rid = ber_int(v2c.decode_message(request).request_id)
        bad = response(varbind(0x46, ber_int(2**16000)), request_id=rid)
        stranger.sendto(bad, manager)
        for _ in range(50):  # until the client has read it
            await asyncio.sleep(0.01)
            if client.dropped:
                break
        assert client.dropped == 1
        assert not asking.done()
        agent.sendto(bad, manager)
        with pytest.raises(v2c.MalformedMessage, match="Counter64 out of range"):
            await asyncio.wait_for(asking, 5)
    client.close()
    for sock in made:
        sock.close()


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"\x80\x00\x00\x00", -(2**31)),  # the short form, read without the range check
        (b"\x00\x00\x00\x00\x07", 7),
        (b"\x00\x80\x00\x00\x00", None),
        (b"", None),
    ],
)
def test_request_ids_are_integers_in_range(raw: bytes, value: int | None) -> None:
    """A request-id of 1-4 bytes is read as is, a longer one only within INTEGER's range."""
    tlv = v2c._tlv
    pdu = tlv(v2c.RESPONSE, tlv(0x02, raw) + b"\x02\x01\x00\x02\x01\x00" + tlv(0x30, b""))
    wire = tlv(0x30, b"\x02\x01\x01" + tlv(0x04, b"public") + pdu)
    if value is None:
        with pytest.raises(v2c.MalformedMessage, match="INTEGER"):
            v2c.decode_header(wire)
    else:
        assert v2c.decode_header(wire).request_id == value
