"""ICMP echo on one shared socket per address family: packets, sending, and reply matching.

Why not icmplib's sockets: ``ICMPSocket.send`` resolves the destination with a blocking
``getaddrinfo`` and sets TTL and traffic class (three syscalls) on every request, its
``receive`` blocks, and its packet builder and parser are private methods of a socket that opens
itself in ``__init__``. So the 8-byte echo header is built and parsed here with ``struct``; the
layout is the one in RFC 792 / RFC 4443.

An :class:`EchoSocket` is registered with the event loop; one reader callback drains every
datagram that is waiting, timestamps each when it is read, and resolves the future of the request
it answers (matched by identifier and sequence). Timeouts come from a heap of deadlines
checked by one timer per socket.

>>> pkt = build_echo(socket.AF_INET, 0x1234, 7, b"netwatch")
>>> parse_reply(socket.AF_INET, pkt, ip_header=False) is None  # a request, not a reply
True
"""

from __future__ import annotations

import asyncio
import errno
import heapq
import logging
import math
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from netwatch.models import Failure, FailureKind

log = logging.getLogger(__name__)

Mode = Literal["raw", "dgram"]

ECHO_REQUEST: dict[int, int] = {socket.AF_INET: 8, socket.AF_INET6: 128}
ECHO_REPLY: dict[int, int] = {socket.AF_INET: 0, socket.AF_INET6: 129}
# ICMP errors that quote our request: destination unreachable and time exceeded.
ERROR_TYPES: dict[int, dict[int, str]] = {
    socket.AF_INET: {3: "destination unreachable", 11: "time exceeded"},
    socket.AF_INET6: {1: "destination unreachable", 3: "time exceeded"},
}

_HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence
_ID_SEQ = struct.Struct("!HH")
_RCVBUF = 8 * 1024 * 1024
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
_SOL_RAW = 255
_ICMP_FILTER = 1  # linux/icmp.h: bitmask of ICMPv4 types the raw socket does NOT receive
_ICMP6_FILTER = 1  # linux/icmpv6.h: 256-bit mask of ICMPv6 types to block
# Timeouts are detected on this grid (a late reply is still refused by its exact deadline).
REAP_STEP = 0.05
_DRAIN_MAX = 4096
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # also the cmsg type (SCM_TIMESTAMPNS)
_TIMESPEC = struct.Struct("@qq")
_ANCBUF = socket.CMSG_SPACE(
    _TIMESPEC.size
)  # datagrams read per wake-up, so one busy socket cannot starve the loop


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
    header = _HEADER.pack(kind, 0, 0, ident, seq)
    csum = checksum(header + payload) if family == socket.AF_INET else 0
    return _HEADER.pack(kind, 0, csum, ident, seq) + payload


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
    kind, code, _csum, ident, seq = _HEADER.unpack_from(packet)
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


# What a request's future resolves to: an RTT in seconds, a Failure, or None (timed out).
Outcome = float | Failure | None


class _Pending:
    __slots__ = ("deadline", "future", "sent_at", "sent_wall")

    def __init__(self, future: asyncio.Future[Outcome], deadline: float) -> None:
        self.future = future
        self.sent_at = 0.0  # injected clock
        self.sent_wall = 0.0  # time.time(), to compare with the kernel's receive timestamp
        self.deadline = deadline  # loop time


def tick(when: float, step: float) -> float:
    """``when`` rounded up to the next multiple of ``step``: timers of many requests then share
    one wake-up of the event loop (each wake-up costs about 60 µs of CPU on a small VM)."""
    return math.ceil(when / step) * step


def send_failure(exc: OSError, address: str) -> Failure:
    """Map a ``sendto`` error to a Failure that says what to check."""
    if exc.errno in (errno.EPERM, errno.EACCES):
        return Failure(
            FailureKind.PERMISSION,
            f"sending ICMP to {address} was refused on this machine ({exc.strerror}); "
            "check the local firewall (nftables/iptables output rules)",
        )
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.EINVAL):
        return Failure(
            FailureKind.UNREACHABLE, f"no route to {address} ({exc.strerror}); check routing"
        )
    return Failure(FailureKind.ERROR, f"sending ICMP to {address} failed: {exc}")


class EchoSocket:
    """One ICMP socket of one address family, shared by every ping of the process.

    >>> async def once():  # doctest: +SKIP
    ...     s = EchoSocket(socket.AF_INET, "raw", ident=0x4E57, payload=b"netwatch")
    ...     seq, fut = s.send(("127.0.0.1", 0), "127.0.0.1", timeout=1.0)
    ...     rtt = await fut  # seconds, a Failure, or None on timeout
    ...     s.close()
    """

    def __init__(
        self,
        family: int,
        mode: Mode,
        *,
        ident: int,
        payload: bytes,
        clock: Callable[[], float],
        loop: asyncio.AbstractEventLoop | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        self.family = family
        self.mode = mode
        self.ident = ident
        self.payload = payload
        self._clock = clock
        self._loop = loop or asyncio.get_running_loop()
        self._pending: dict[int, _Pending] = {}
        # Deadlines of requests in flight; answered ones are skipped when popped. One reaper
        # timer for the socket instead of a timer per request (created and cancelled each time).
        self._deadlines: list[tuple[float, int, asyncio.Future[Outcome]]] = []
        self._reaper: asyncio.TimerHandle | None = None
        self._next_seq = 0
        proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
        kind = socket.SOCK_RAW if mode == "raw" else socket.SOCK_DGRAM
        # ``sock`` is for tests (a fake); normally the socket is opened here.
        self._sock = sock if sock is not None else socket.socket(family, kind, proto)
        try:
            self._sock.setblocking(False)
            self._tune()
            self._loop.add_reader(self._sock.fileno(), self._on_readable)
        except BaseException:
            self._sock.close()
            raise
        # Raw IPv4 delivers the IP header; raw IPv6 and every dgram socket deliver ICMP only.
        self._ip_header = family == socket.AF_INET and mode == "raw"
        # The kernel rewrites the identifier of dgram sockets to the socket's port (and only
        # delivers replies carrying it), so there we match by sequence only.
        self._check_ident = mode == "raw"

    def _tune(self) -> None:
        # Bursts of replies must not overflow the default ~208 KiB buffer (DESIGN.md, pitfalls).
        for force, plain in (
            (_SO_RCVBUFFORCE, socket.SO_RCVBUF),
            (_SO_SNDBUFFORCE, socket.SO_SNDBUF),
        ):
            try:
                self._sock.setsockopt(socket.SOL_SOCKET, force, _RCVBUF)
            except OSError:
                try:
                    self._sock.setsockopt(socket.SOL_SOCKET, plain, _RCVBUF)
                except OSError as exc:
                    log.debug("cannot raise ICMP socket buffer: %s", exc)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        except OSError as exc:  # then RTTs are measured when replies are read
            log.debug("cannot enable receive timestamps: %s", exc)
        if self.mode != "raw":
            return
        # A raw socket gets every ICMP message of the host, including the echo requests we send
        # to loopback; let the kernel drop all but replies and the errors that quote requests.
        try:
            if self.family == socket.AF_INET:
                wanted = (1 << 0) | (1 << 3) | (1 << 11)
                self._sock.setsockopt(
                    _SOL_RAW, _ICMP_FILTER, struct.pack("I", ~wanted & 0xFFFFFFFF)
                )
            else:
                words = [0xFFFFFFFF] * 8
                for t in (1, 3, 129):
                    words[t >> 5] &= ~(1 << (t & 31))
                self._sock.setsockopt(
                    socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("8I", *words)
                )
        except OSError as exc:  # only a speed-up; the parser filters anyway
            log.debug("cannot set ICMP type filter: %s", exc)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def _allocate_seq(self) -> int:
        # Unique among requests in flight on this socket; wraps at 2**16.
        for _ in range(65536):
            seq = self._next_seq
            self._next_seq = (seq + 1) & 0xFFFF
            if seq not in self._pending:
                return seq
        raise RuntimeError("65536 ICMP requests in flight on one socket")

    def send(
        self, sockaddr: tuple[object, ...], address: str, timeout: float
    ) -> tuple[int, asyncio.Future[Outcome]]:
        """Send one echo request now; returns its sequence number and a future that resolves
        to the RTT, a Failure, or ``None`` after ``timeout`` seconds without a reply.

        Never raises for network errors (they resolve the future at once, sequence -1).
        """
        future: asyncio.Future[Outcome] = self._loop.create_future()
        if self._sock.fileno() < 0:
            future.set_result(Failure(FailureKind.ERROR, "the ICMP prober is closed"))
            return -1, future
        seq = self._allocate_seq()
        packet = build_echo(self.family, self.ident, seq, self.payload)
        deadline = self._loop.time() + timeout
        pending = _Pending(future, deadline)
        self._pending[seq] = pending
        try:
            # The send time is taken right before sendto; the reply time is the kernel's
            # receive timestamp, else the time it was read.
            pending.sent_wall = time.time()
            pending.sent_at = self._clock()
            self._sock.sendto(packet, sockaddr)
        except BlockingIOError:
            # The send buffer is full (8 MiB of requests queued): count it as lost, not as an
            # error of the device.
            del self._pending[seq]
            future.set_result(None)
            return -1, future
        except OSError as exc:
            del self._pending[seq]
            future.set_result(send_failure(exc, address))
            return -1, future
        heapq.heappush(self._deadlines, (deadline, seq, future))
        if self._reaper is None or self._reaper.when() > tick(deadline, REAP_STEP):
            self._arm(deadline)
        return seq, future

    def forget(self, seq: int, future: asyncio.Future[Outcome]) -> None:
        """Drop a request whose caller stopped waiting (e.g. it was cancelled)."""
        pending = self._pending.get(seq)
        if pending is not None and pending.future is future:
            self._drop(seq)

    def _drop(self, seq: int) -> None:
        self._pending.pop(seq, None)

    def _arm(self, deadline: float) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        self._reaper = self._loop.call_at(tick(deadline, REAP_STEP), self._reap)

    def _reap(self) -> None:
        self._reaper = None
        now = self._loop.time()
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            _, seq, future = heapq.heappop(heap)
            pending = self._pending.get(seq)
            if pending is not None and pending.future is future:
                del self._pending[seq]
                if not future.done():
                    future.set_result(None)
        if heap:
            self._arm(heap[0][0])

    def _on_readable(self) -> None:
        recvmsg = self._sock.recvmsg
        clock = self._clock
        loop_now = self._loop.time()
        for _ in range(_DRAIN_MAX):
            try:
                packet, ancdata, _flags, source = recvmsg(4096, _ANCBUF)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # A dgram socket reports a queued ICMP error once, without saying which
                # request it concerns; that request then times out.
                log.debug("ICMP socket error: %s", exc)
                continue
            now = clock()
            reply = parse_reply(self.family, packet, ip_header=self._ip_header)
            if reply is None or (self._check_ident and reply.ident != self.ident):
                continue
            pending = self._pending.get(reply.seq)
            if pending is None or loop_now > pending.deadline:
                continue  # late (timed out, maybe not reaped yet) or another process's
            if reply.error is not None:
                outcome: Outcome = Failure(
                    FailureKind.UNREACHABLE, f"{reply.error} reported by {source[0]}"
                )
            elif reply.payload != self.payload:
                continue  # same id and seq, but not our request (another pinger)
            else:
                outcome = now - pending.sent_at
                # Replies are read in batches (one wake-up serves many); the kernel's stamp says
                # when each arrived. A wall-clock step would make it negative or too long.
                for level, kind, data in ancdata:
                    if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= 16:
                        sec, nsec = _TIMESPEC.unpack_from(data)
                        rtt = sec + nsec * 1e-9 - pending.sent_wall
                        if 0.0 <= rtt <= outcome:
                            outcome = rtt
            self._drop(reply.seq)
            if not pending.future.done():
                pending.future.set_result(outcome)

    def close(self) -> None:
        """Stop reading and resolve every waiting request as failed."""
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        self._deadlines.clear()
        for seq, pending in list(self._pending.items()):
            self._drop(seq)
            if not pending.future.done():
                pending.future.set_result(Failure(FailureKind.ERROR, "the ICMP prober was closed"))
