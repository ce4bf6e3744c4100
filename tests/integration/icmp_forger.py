"""Forges echo replies for a black-holed address; started by test_icmp.py inside a network
namespace, next to the prober it tries to fool.

    python icmp_forger.py TARGET SOURCE LIMIT SECONDS

It watches ``lo`` with an AF_PACKET socket, which sees a request before nftables' input hook
drops it, and answers every echo request to TARGET with an echo reply carrying the request's
identifier, sequence number and payload, sent from SOURCE (an address of this namespace) to the
request's source. Prints ``ready`` once it listens, then, when it has forged LIMIT replies or
SECONDS have passed, ``{"forged": N, "requests": M}`` and exits.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_HOST = 0  # sll_pkttype of a packet received by this host (not the outgoing copy)


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def request_of(packet: bytes, target: bytes) -> tuple[int, bytes, bytes] | None:
    """(family, request source, ICMP body after the type/code/checksum) of an echo request to
    ``target`` (packed), else None."""
    version = packet[0] >> 4 if packet else 0
    if version == 4 and len(packet) >= 28 and packet[9] == 1:
        ihl = (packet[0] & 0x0F) * 4
        if packet[16:20] == target and packet[ihl] == 8:
            return socket.AF_INET, packet[12:16], packet[ihl + 4 :]
    # ICMPv6 right after the fixed header: the prober sends no extension headers.
    is_request = len(packet) >= 48 and packet[6] == 58 and packet[40] == 128
    if version == 6 and is_request and packet[24:40] == target:
        return socket.AF_INET6, packet[8:24], packet[44:]
    return None


def main(target: str, source: str, limit: int, seconds: float) -> dict[str, int]:
    family = socket.AF_INET6 if ":" in target else socket.AF_INET
    packed_target = socket.inet_pton(family, target)
    sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    sniffer.bind(("lo", 0))
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    sender = socket.socket(family, socket.SOCK_RAW, proto)
    sender.bind((source, 0) if family == socket.AF_INET else (source, 0, 0, 0))
    print("ready", flush=True)
    forged = requests = 0
    deadline = time.monotonic() + seconds
    while forged < limit and (left := deadline - time.monotonic()) > 0:
        sniffer.settimeout(left)
        try:
            packet, address = sniffer.recvfrom(65535)
        except TimeoutError:
            break
        if address[2] != PACKET_HOST:
            continue
        request = request_of(packet, packed_target)
        if request is None:
            continue
        requests += 1
        fam, to, body = request  # body: identifier, sequence, payload, as the request had them
        if fam == socket.AF_INET:
            reply = struct.pack("!BBH", 0, 0, checksum(b"\x00\x00\x00\x00" + body)) + body
            sender.sendto(reply, (socket.inet_ntop(fam, to), 0))
        else:  # the kernel computes ICMPv6 checksums of raw sockets
            reply = struct.pack("!BBH", 129, 0, 0) + body
            sender.sendto(reply, (socket.inet_ntop(fam, to), 0, 0, 0))
        forged += 1
    return {"forged": forged, "requests": requests}


if __name__ == "__main__":
    target, source, limit, seconds = sys.argv[1:5]
    print(json.dumps(main(target, source, int(limit), float(seconds))), flush=True)
