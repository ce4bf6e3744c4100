"""What the kernel is asked to do for the shared ICMP socket: open it, size its buffers, stamp
each datagram when it arrives, and drop in the kernel what the prober would only read to discard.

What a flood costs. Every raw ICMP socket of the host receives every ICMP message, including
the echo requests we send to loopback and every other pinger's echo replies. A type filter
keeps only replies and the errors that quote requests, and a BPF filter (:func:`ident_filter`)
drops echo replies with another identifier (other pingers of the host, most floods): no
wake-up, no read. Dgram sockets need neither: the kernel delivers them only replies carrying
their own identifier. Each filter is only a speed-up: the reader matches every reply anyway
(:mod:`netwatch.probes.icmp_socket`), so a kernel that refuses one is logged at debug level.

>>> len(ident_filter(socket.AF_INET, 0x4E57)) // 8  # instructions of a struct sock_filter[]
7
"""

from __future__ import annotations

import ctypes
import logging
import socket
import struct
from typing import Literal

from netwatch.probes.icmp_packet import ECHO_REPLY

log = logging.getLogger(__name__)

Mode = Literal["raw", "dgram"]

_BUFFER = 8 * 1024 * 1024
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
SOL_SOCKET = socket.SOL_SOCKET
_SOL_RAW = 255
_ICMP_FILTER = 1  # linux/icmp.h: bitmask of ICMPv4 types the raw socket does NOT receive
_ICMP6_FILTER = 1  # linux/icmpv6.h: 256-bit mask of ICMPv6 types to block
_SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # also the cmsg type (SCM_TIMESTAMPNS)
TIMESPEC = struct.Struct("@qq")  # the receive timestamp's payload: seconds, nanoseconds
ANCBUF = socket.CMSG_SPACE(TIMESPEC.size)  # room for that timestamp in recvmsg


def open_socket(family: int, mode: Mode) -> socket.socket:
    """A new ICMP socket of ``family``: raw (needs CAP_NET_RAW) or dgram (needs
    ``net.ipv4.ping_group_range``)."""
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    kind = socket.SOCK_RAW if mode == "raw" else socket.SOCK_DGRAM
    return socket.socket(family, kind, proto)


def tune(sock: socket.socket, family: int, mode: Mode, ident: int) -> None:
    """Large buffers and receive timestamps; on raw sockets, the type and identifier filters."""
    # Bursts of replies must not overflow the default ~208 KiB buffer (DESIGN.md, pitfalls).
    for force, plain in (
        (_SO_RCVBUFFORCE, socket.SO_RCVBUF),
        (_SO_SNDBUFFORCE, socket.SO_SNDBUF),
    ):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, _BUFFER)
        except OSError:
            try:
                sock.setsockopt(socket.SOL_SOCKET, plain, _BUFFER)
            except OSError as exc:
                log.debug("cannot raise ICMP socket buffer: %s", exc)
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError as exc:  # then RTTs are measured when replies are read
        log.debug("cannot enable receive timestamps: %s", exc)
    if mode == "raw":
        _filter_types(sock, family)
        _filter_ident(sock, family, ident)


def _filter_types(sock: socket.socket, family: int) -> None:
    # A raw socket gets every ICMP message of the host, including the echo requests we send
    # to loopback; let the kernel drop all but replies and the errors that quote requests.
    try:
        if family == socket.AF_INET:
            wanted = (1 << 0) | (1 << 3) | (1 << 11)
            sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("I", ~wanted & 0xFFFFFFFF))
        else:
            words = [0xFFFFFFFF] * 8
            for t in (1, 3, 129):
                words[t >> 5] &= ~(1 << (t & 31))
            sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("8I", *words))
    except OSError as exc:  # only a speed-up; the parser filters anyway
        log.debug("cannot set ICMP type filter: %s", exc)


def _filter_ident(sock: socket.socket, family: int, ident: int) -> None:
    # Drop other pingers' echo replies in the kernel too.
    program = ident_filter(family, ident)
    code = ctypes.create_string_buffer(program, len(program))  # the kernel copies it
    fprog = struct.pack("HP", len(program) // 8, ctypes.addressof(code))  # sock_fprog
    try:
        sock.setsockopt(SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
    except OSError as exc:  # only a speed-up; replies are matched by identifier anyway
        log.debug("cannot attach the ICMP identifier filter: %s", exc)


def ident_filter(family: int, ident: int) -> bytes:
    """A classic BPF program (``struct sock_filter[]``) for a raw ICMP socket: drop echo
    replies whose identifier is not ``ident``, pass everything else.

    Every raw ICMP socket of the host receives every echo reply (another pinger's, a flood):
    dropped in the kernel, they cost this process no wake-up and no read. Raw IPv4 sockets see
    the IP header first (its length is in its first byte), raw IPv6 sockets the ICMPv6 header.
    """
    program = [
        # X = where ICMP starts: ldxb 4*([0]&0xf) (IPv4), ldx #0 (IPv6)
        (0xB1, 0, 0, 0) if family == socket.AF_INET else (0x01, 0, 0, 0),
        (0x50, 0, 0, 0),  # ldb [x+0]: the type
        (0x15, 0, 2, ECHO_REPLY[family]),  # an echo reply? else accept
        (0x48, 0, 0, 4),  # ldh [x+4]: the identifier
        (0x15, 0, 1, ident),  # ours? accept : drop
        (0x06, 0, 0, 0xFFFFFFFF),  # accept the whole packet
        (0x06, 0, 0, 0),  # drop
    ]
    return b"".join(struct.pack("HBBI", *insn) for insn in program)
