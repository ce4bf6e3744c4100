"""ICMP echo on one shared socket per address family: packets, pacing, and reply matching.

Why not icmplib's sockets: ``ICMPSocket.send`` resolves the destination with a blocking
``getaddrinfo`` and sets TTL and traffic class (three syscalls) on every request, and its
``receive`` blocks. So this module keeps one non-blocking socket per address family, opened and
tuned by :mod:`netwatch.probes.icmp_kernel`, with packets from :mod:`netwatch.probes.icmp_packet`.

Where the CPU goes, measured (``bench/icmp.py``): on a small VM every wake-up of an idle event
loop costs 50-250 µs of CPU (cold caches), several times the work of one echo. So the design
counts wake-ups, not instructions:

* A whole ping (``count`` echoes) is one :class:`_Ping` and one future, not a task or a future
  per echo.
* Everything timed (the second and later echoes of every ping, and the end of every ping that
  still waits for a reply) sits in a timer wheel on one grid,
  :data:`~netwatch.models.ICMP_GRID`: one loop timer per grid tick that has work, whatever the
  number of targets. A tick whose work went away (every ping due to end in it was answered) is
  cancelled, so an idle prober never wakes.
* Later echoes go out on the tick *nearest* their due time: a ping the scheduler started on one
  of its ticks (every 0.2 s, see :mod:`netwatch.scheduler`) then sends them on that scheduler's
  ticks too (with the default spacing of 0.2 s), in the wake-ups that start other pings.
  Rounded up, they were one tick late and woke the process on ticks of their own: twice the
  wake-ups at 1,000 targets.
* Replies are read by one reader callback, ``recvmsg`` in a loop until ``EAGAIN``; the kernel
  stamps each datagram when it arrives (``SO_TIMESTAMPNS``), so reading them in batches does not
  inflate RTTs, and a reply counts when its RTT is within the timeout, however late it was read.

Which replies count. Every raw ICMP socket of the host receives every echo reply, and anyone who
sees one of our requests (on the path, or on this host) learns its identifier, sequence number
and payload token. So an echo reply counts only if it matches a request in flight on all three
*and* comes from the address that request was sent to (``recvmsg`` gives the source for raw and
dgram sockets alike). Otherwise a host that saw the requests to a dead device could answer them
from its own address and make the device look up with 0 % loss. Such replies are counted
(:attr:`EchoSocket.rejected`) and logged at most once a minute. What this cannot catch: a
forger that also spoofs the target's source address (possible on any raw socket) sends replies
indistinguishable from the target's; against that, only the random payload token helps, and only
against forgers that never see the requests. Errors (destination unreachable, time exceeded) are
not checked against the target: routers on the way send them.

What a flood costs. Echo replies with another identifier are dropped in the kernel
(:mod:`netwatch.probes.icmp_kernel`): no wake-up, no read. Those that carry ours cost a read and
a few comparisons each (about 3 µs of CPU per packet, nearly all of it the ``recvmsg`` call),
checked cheapest first; only a match from the right address reads the clock.

Replies from loopback come from the address pinged (a request to 127.1.2.3 is answered by
127.1.2.3), and the prober pings IPv4-mapped IPv6 addresses (``::ffff:10.0.0.1``) over IPv4,
so the source of a genuine reply is always the address the request went to.

>>> tick(2.5, 1.0)  # the first grid tick at or after a time
3.0
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import socket
import time
from collections.abc import Callable
from typing import NamedTuple

from netwatch.models import ICMP_GRID, Failure, FailureKind
from netwatch.probes.icmp_kernel import (
    ANCBUF,
    SO_TIMESTAMPNS,
    SOL_SOCKET,
    TIMESPEC,
    Mode,
    open_socket,
    tune,
)
from netwatch.probes.icmp_packet import (
    ECHO_REPLY,
    ERROR_TYPES,
    HEADER,
    EchoRequests,
    parse_reply,
)

log = logging.getLogger(__name__)

_DRAIN_MAX = 4096  # datagrams read per wake-up, so one busy socket cannot starve the loop
REJECT_LOG_INTERVAL = 60.0  # seconds between log lines about replies from the wrong address


# What became of one echo request: an RTT in seconds, a Failure, or None (no reply in time).
Outcome = float | Failure | None


class Echoes(NamedTuple):
    """The result of one ping: how many requests the kernel took, and one outcome per request
    in send order (a request that could not be sent has its Failure, or None if dropped).
    A NamedTuple: one is made per ping, and a frozen dataclass costs three times as much."""

    sent: int
    outcomes: list[Outcome]


def tick(when: float, step: float) -> float:
    """``when`` rounded up to the next multiple of ``step``."""
    return math.ceil(when / step) * step


def _tick_index(when: float) -> int:
    # The first tick at or after ``when``; the tolerance keeps an exact multiple from rounding
    # up to the tick after it through floating-point error.
    return math.ceil(when / ICMP_GRID - 1e-6)


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


class _Ping:
    """One ping in progress: ``count`` echoes to one address, about ``spacing`` apart."""

    __slots__ = (
        "address",
        "count",
        "first",
        "future",
        "next",
        "outcomes",
        "sent",
        "seqs",
        "sockaddr",
        "spacing",
        "timeout",
        "waiting",
        "wheel_end",
    )

    def __init__(
        self,
        sockaddr: tuple[object, ...],
        address: str,
        count: int,
        spacing: float,
        timeout: float,
        future: asyncio.Future[Echoes],
    ) -> None:
        self.sockaddr = sockaddr
        self.address = address
        self.count = count
        self.spacing = spacing
        self.timeout = timeout
        self.future = future
        self.first = 0.0  # loop time of the first request; request i is due at first + i*spacing
        self.outcomes: list[Outcome] = [None] * count
        self.seqs: list[int] = []  # sequence numbers of the requests sent, for clean-up
        self.next = 0  # index of the next request to send
        self.sent = 0
        self.waiting = 0  # requests sent and not yet answered
        self.wheel_end = -1  # the tick on which the ping ends unless every reply came first


class _Tick:
    """The work of one grid tick, and the loop timer that runs it."""

    __slots__ = ("ends", "sends", "timer")

    def __init__(self, timer: asyncio.TimerHandle) -> None:
        self.timer = timer
        self.sends: list[_Ping] = []  # pings whose next request is due
        self.ends: dict[_Ping, None] = {}  # pings whose last request times out (an ordered set)


class EchoSocket:
    """One ICMP socket of one address family, shared by every ping of the process.

    >>> async def once():  # doctest: +SKIP
    ...     s = EchoSocket(socket.AF_INET, "raw", ident=0x4E57, payload=b"netwatch")
    ...     echoes = await s.ping(("127.0.0.1", 0), "127.0.0.1", 3, spacing=0.2, timeout=1.0)
    ...     s.close()
    ...     return echoes.outcomes  # an RTT in seconds, a Failure, or None per request
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
        # sequence -> (ping, index of the request, time.time() and clock() when sent)
        self._pending: dict[int, tuple[_Ping, int, float, float]] = {}
        self._ticks: dict[int, _Tick] = {}  # the timer wheel: tick index -> its work
        self._next_seq = 0
        # Replies that matched a request but came from another address (see the module doc).
        self._rejected = 0
        self._rejected_logged = 0  # how many of them the last log line covered
        self._reject_log_at = -math.inf  # the clock() before which no further line is logged
        # ``sock`` is for tests (a fake); normally the socket is opened here.
        self._sock = sock if sock is not None else open_socket(family, mode)
        try:
            self._sock.setblocking(False)
            tune(self._sock, family, mode, ident)
            self._loop.add_reader(self._sock.fileno(), self._on_readable)
        except BaseException:
            self._sock.close()
            raise
        # Raw IPv4 delivers the IP header; raw IPv6 and every dgram socket deliver ICMP only.
        self._ip_header = family == socket.AF_INET and mode == "raw"
        # The kernel rewrites the identifier of dgram sockets to the socket's port (and only
        # delivers replies carrying it), so there we match by sequence only.
        self._check_ident = mode == "raw"
        self._packet = EchoRequests(family, ident, payload, checksummed=self._ip_header).packet
        self._reply_type = ECHO_REPLY[family]
        self._error_types = frozenset(ERROR_TYPES[family])
        self._reply_size = 8 + len(payload)

    @property
    def in_flight(self) -> int:
        """Requests sent and still waiting for their reply."""
        return len(self._pending)

    @property
    def rejected(self) -> int:
        """Echo replies that matched a request in flight (identifier, sequence and payload
        token) but came from another address than the one it was sent to, and were ignored."""
        return self._rejected

    @property
    def wakeups_planned(self) -> int:
        """Grid ticks with work, i.e. loop timers this socket holds."""
        return len(self._ticks)

    # ------------------------------------------------------------------ pinging

    def ping(
        self, sockaddr: tuple[object, ...], address: str, count: int, *, spacing: float,
        timeout: float,
    ) -> asyncio.Future[Echoes]:  # fmt: skip
        """Send ``count`` echo requests to ``sockaddr``: the first now, request i on the grid
        tick nearest ``first + i * spacing``. The future resolves when every request
        is answered or timed out (``timeout`` seconds each). Never raises for network errors:
        they are outcomes. Cancelling the future abandons the ping.

        A reply counts only if its source, as ``recvmsg`` reports it, equals ``sockaddr[0]``:
        give the address in that canonical text form, as
        :class:`~netwatch.probes.icmp.IcmpProber` resolves it."""
        future: asyncio.Future[Echoes] = self._loop.create_future()
        ping = _Ping(sockaddr, address, count, spacing, timeout, future)
        if count <= 0:
            future.set_result(Echoes(0, []))
        elif self._sock.fileno() < 0:
            failure = Failure(FailureKind.ERROR, "the ICMP prober is closed")
            future.set_result(Echoes(0, [failure] * count))
        else:
            ping.first = self._loop.time()
            self._send(ping, ping.first)
        return future

    def _send(self, ping: _Ping, now: float) -> None:
        """Send the next request of ``ping``, then book its next step on the wheel."""
        index = ping.next
        ping.next = index + 1
        seq = self._next_seq
        self._next_seq = (seq + 1) & 0xFFFF
        if seq in self._pending:  # rarely: only after 65,536 requests, if one is still waiting
            seq = self._allocate_seq()
        packet = self._packet(seq)
        try:
            # The send time is taken right before sendto; the reply time is the kernel's
            # receive timestamp, else the time it was read.
            sent_wall, sent_at = time.time(), self._clock()
            self._sock.sendto(packet, ping.sockaddr)
        except BlockingIOError:
            # The send buffer is full (8 MiB of requests queued): lost, not a device error.
            pass
        except OSError as exc:
            ping.outcomes[index] = send_failure(exc, ping.address)
        else:
            self._pending[seq] = (ping, index, sent_wall, sent_at)
            ping.seqs.append(seq)
            ping.sent += 1
            ping.waiting += 1
        if ping.next < ping.count:
            # On the tick nearest first + i * spacing: waiting for ticks does not add up over
            # the requests, and a ping started on a tick stays on its multiples of spacing
            # (rounding up would put each request on the tick after, a wake-up of its own).
            # Never on the tick running now, so one target never gets a burst.
            due = math.floor((ping.first + ping.next * ping.spacing) / ICMP_GRID + 0.5)
            self._book(max(due, math.floor(now / ICMP_GRID + 1e-6) + 1)).sends.append(ping)
        elif ping.waiting:
            ping.wheel_end = _tick_index(now + ping.timeout)
            self._book(ping.wheel_end).ends[ping] = None
        else:
            self._finish(ping)

    def _allocate_seq(self) -> int:
        # Unique among requests in flight on this socket; wraps at 2**16.
        for _ in range(65536):
            seq = self._next_seq
            self._next_seq = (seq + 1) & 0xFFFF
            if seq not in self._pending:
                return seq
        raise RuntimeError("65536 ICMP requests in flight on one socket")

    def _finish(self, ping: _Ping) -> None:
        """The ping is over: forget its requests, leave the wheel, resolve its future."""
        if ping.waiting:  # answered requests are forgotten already
            pending = self._pending
            for seq in ping.seqs:
                entry = pending.get(seq)
                if entry is not None and entry[0] is ping:
                    del pending[seq]
        if ping.wheel_end >= 0:
            slot = self._ticks.get(ping.wheel_end)
            if slot is not None:
                slot.ends.pop(ping, None)
                if not slot.ends and not slot.sends:  # nothing left to do then: don't wake
                    slot.timer.cancel()
                    del self._ticks[ping.wheel_end]
            ping.wheel_end = -1
        if not ping.future.done():  # a cancelled ping's future is done already
            ping.future.set_result(Echoes(ping.sent, ping.outcomes))

    # ------------------------------------------------------------------ the wheel

    def _book(self, index: int) -> _Tick:
        slot = self._ticks.get(index)
        if slot is None:
            timer = self._loop.call_at(index * ICMP_GRID, self._on_tick, index)
            slot = self._ticks[index] = _Tick(timer)
        return slot

    def _on_tick(self, index: int) -> None:
        slot = self._ticks.pop(index)
        if slot.ends:
            # A reply already queued (even if the loop has not told us yet) must count before
            # its request is judged lost.
            self._on_readable()
            for ping in list(slot.ends):
                ping.wheel_end = -1  # this tick is gone already
                self._finish(ping)
        now = self._loop.time()
        for ping in slot.sends:
            if ping.future.done():  # cancelled by its caller: stop sending
                self._finish(ping)
            else:
                self._send(ping, now)

    # ------------------------------------------------------------------ replies

    def _on_readable(self) -> None:
        # Locals, not attributes, in the loop: it runs once per reply. The checks go cheapest
        # first, so a flood of replies that are not ours (another pinger's, or forged) costs a
        # read and a few comparisons each: no clock, no timestamp, no parsing.
        recvmsg, clock, pending = self._sock.recvmsg, self._clock, self._pending
        ip_header, reply_size, reply_type = self._ip_header, self._reply_size, self._reply_type
        check_ident, ident, payload = self._check_ident, self.ident, self.payload
        error_types = self._error_types
        unpack_header, unpack_stamp = HEADER.unpack_from, TIMESPEC.unpack_from
        offset = 0
        for _ in range(_DRAIN_MAX):
            try:
                packet, ancdata, _flags, source = recvmsg(4096, ANCBUF)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # A dgram socket reports a queued ICMP error once, without saying which
                # request it concerns; that request then times out.
                log.debug("ICMP socket error: %s", exc)
                continue
            if ip_header:
                offset = (packet[0] & 0x0F) * 4 if packet else 0
            # The common case, an echo reply to us, is matched without building a Reply.
            if len(packet) - offset == reply_size and packet[offset] == reply_type:
                _kind, _code, _csum, their_ident, seq = unpack_header(packet, offset)
                if check_ident and their_ident != ident:
                    continue
                entry = pending.get(seq)
                if entry is None or not packet.endswith(payload):
                    continue  # a late reply (its ping is over), or another pinger's
                ping, index, sent_wall, sent_at = entry
                if source[0] != ping.sockaddr[0]:  # proves nothing about the target
                    self._reject(source[0], ping.address)
                    continue
                rtt = clock() - sent_at
                # Replies are read in batches; the kernel's stamp says when each arrived. A
                # wall-clock step would make it negative or too long: then the read time counts.
                if ancdata:
                    level, kind, data = ancdata[0]
                    if level == SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        sec, nsec = unpack_stamp(data)
                        stamped = sec + nsec * 1e-9 - sent_wall
                        if 0.0 <= stamped <= rtt:
                            rtt = stamped
                if rtt > ping.timeout:
                    continue  # too late: the request stays lost
                outcome: Outcome = rtt
            # Only errors that may quote a request are parsed, not other pingers' echo replies.
            elif len(packet) > offset and packet[offset] in error_types:
                matched = self._match_error(packet, source[0])
                if matched is None:
                    continue
                seq, ping, index, outcome = matched
            else:
                continue
            del pending[seq]
            ping.outcomes[index] = outcome
            ping.waiting -= 1
            if not ping.waiting and ping.next >= ping.count:
                self._finish(ping)

    def _match_error(self, packet: bytes, source: str) -> tuple[int, _Ping, int, Failure] | None:
        """The request in flight an ICMP error quotes (sequence, ping, index) and its failure;
        ``None`` if it quotes none of ours. Not checked against the target: errors come from
        routers on the way."""
        reply = parse_reply(self.family, packet, ip_header=self._ip_header)
        if reply is None or reply.error is None:
            return None
        if self._check_ident and reply.ident != self.ident:
            return None
        entry = self._pending.get(reply.seq)
        if entry is None:
            return None
        failure = Failure(FailureKind.UNREACHABLE, f"{reply.error} reported by {source}")
        return reply.seq, entry[0], entry[1], failure

    def _reject(self, source: str, target: str) -> None:
        """Count a reply to one of our requests that came from another address than the one
        the request went to; say so in the log at most once a minute (a flood of them must not
        become a flood of lines).

        Our identifier, sequence and token, from an address we did not ping: forged by someone
        who saw the request, or a device that answers from another of its addresses. Either way
        it proves nothing about the target."""
        self._rejected += 1
        now = self._clock()
        if now < self._reject_log_at:
            return
        log.warning(
            "ignored %d ICMP echo replies from an address other than the one pinged (%d in "
            "all; the latest from %s for a request to %s): forged replies, or a device that "
            "answers from another of its addresses",
            self._rejected - self._rejected_logged,
            self._rejected,
            source,
            target,
        )
        self._rejected_logged = self._rejected
        self._reject_log_at = now + REJECT_LOG_INTERVAL

    def close(self) -> None:
        """Stop reading and end every ping in progress; unanswered requests become ERROR
        failures."""
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
        pings = {entry[0]: None for entry in self._pending.values()}
        for slot in self._ticks.values():
            slot.timer.cancel()
            pings.update(slot.ends)
            pings.update(dict.fromkeys(slot.sends))
        self._ticks.clear()
        closed = Failure(FailureKind.ERROR, "the ICMP prober was closed")
        for ping in pings:
            for seq in ping.seqs:
                entry = self._pending.get(seq)
                if entry is not None and entry[0] is ping:
                    ping.outcomes[entry[1]] = closed
            for index in range(ping.next, ping.count):
                ping.outcomes[index] = closed
            ping.next = ping.count
            ping.wheel_end = -1
            self._finish(ping)
        self._pending.clear()
