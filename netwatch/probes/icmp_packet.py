"""The ICMP echo codec: building echo requests and parsing what an ICMP socket reads.

icmplib's packet builder and parser are private methods of a socket that opens itself in
``__init__``, so the 8-byte echo header is built and parsed here with ``struct``; the layout is
the one in RFC 792 / RFC 4443. Nothing here touches a socket or a clock: the shared socket
(:mod:`netwatch.probes.icmp_socket`) sends what :class:`EchoRequests` packs and matches the
common reply itself, without a :class:`Reply`; :func:`parse_reply` is for the rest.

>>> pkt = build_echo(socket.AF_INET, 0x1234, 7, b"netwatch")
>>> parse_reply(socket.AF_INET, pkt, ip_header=False) is None  # a request, not a reply
True
>>> EchoRequests(socket.AF_INET, 0x1234, b"netwatch", checksummed=True).packet(7) == pkt
True
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

ECHO_REQUEST: dict[int, int] = {socket.AF_INET: 8, socket.AF_INET6: 128}
ECHO_REPLY: dict[int, int] = {socket.AF_INET: 0, socket.AF_INET6: 129}
# ICMP errors that quote our request: destination unreachable and time exceeded.
ERROR_TYPES: dict[int, dict[int, str]] = {
    socket.AF_INET: {3: "destination unreachable", 11: "time exceeded"},
    socket.AF_INET6: {1: "destination unreachable", 3: "time exceeded"},
}

HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence
_ID_SEQ = struct.Struct("!HH")


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def build_echo(family: int, ident: int, seq: int, payload: bytes) -> bytes:
    """An echo request. The checksum matters only for raw IPv4; Linux fills it in for ICMPv6
    and for unprivileged (dgram) sockets."""
    kind = ECHO_REQUEST[family]
    header = HEADER.pack(kind, 0, 0, ident, seq)
    csum = checksum(header + payload) if family == socket.AF_INET else 0
    return HEADER.pack(kind, 0, csum, ident, seq) + payload


class EchoRequests:
    """The echo requests of one socket, which differ only in their sequence number.

    With ``checksummed`` (raw IPv4, the only kind the kernel does not sum for us) the checksum
    of the rest is kept, so a request costs one pack (RFC 1624 incremental update).
    """

    __slots__ = ("_ident", "_kind", "_partial_sum", "_payload")

    def __init__(self, family: int, ident: int, payload: bytes, *, checksummed: bool) -> None:
        self._kind = ECHO_REQUEST[family]
        self._ident = ident
        self._payload = payload
        self._partial_sum = -1
        if checksummed:
            unsummed = HEADER.pack(self._kind, 0, 0, ident, 0) + payload
            self._partial_sum = ~checksum(unsummed) & 0xFFFF  # the one's-complement sum

    def packet(self, seq: int) -> bytes:
        """The request with sequence number ``seq``."""
        if self._partial_sum < 0:
            return HEADER.pack(self._kind, 0, 0, self._ident, seq) + self._payload
        total = self._partial_sum + seq
        total = (total & 0xFFFF) + (total >> 16)
        csum = ~total & 0xFFFF
        return HEADER.pack(self._kind, 0, csum, self._ident, seq) + self._payload


@dataclass(frozen=True, slots=True)
class Reply:
    """A parsed ICMP message that concerns an echo request: a reply, or an error quoting one."""

    ident: int
    seq: int
    payload: bytes  # the echo payload; empty for errors
    error: str | None = None  # e.g. "destination unreachable (code 1)"


def parse_reply(family: int, packet: bytes, *, ip_header: bool) -> Reply | None:
    """Parse what a socket read; ``None`` for anything that is not about an echo request.

    ``ip_header`` is true for raw IPv4 sockets, which deliver the IP header too.
    """
    if ip_header:
        if len(packet) < 20:
            return None
        packet = packet[(packet[0] & 0x0F) * 4 :]
    if len(packet) < 8:
        return None
    kind, code, _csum, ident, seq = HEADER.unpack_from(packet)
    if kind == ECHO_REPLY[family]:
        return Reply(ident, seq, packet[8:])
    name = ERROR_TYPES[family].get(kind)
    if name is None:
        return None
    # The error quotes the original IP header and at least 8 bytes of our request.
    inner = packet[8:]
    if family == socket.AF_INET:
        if len(inner) < 20:
            return None
        inner = inner[(inner[0] & 0x0F) * 4 :]
    else:
        inner = inner[40:]  # fixed IPv6 header; we never send extension headers
    if len(inner) < 8 or inner[0] != ECHO_REQUEST[family]:
        return None
    ident, seq = _ID_SEQ.unpack_from(inner, 4)
    return Reply(ident, seq, b"", f"{name} (code {code})")
