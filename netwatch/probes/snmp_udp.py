"""The UDP side of the SNMP clients: what :class:`~netwatch.probes.snmp_v2c.V2cClient` and
:class:`~netwatch.probes.snmp_v3_client.V3Client` share.

One non-blocking socket per address family, read straight from the event loop's reader
callback in batches; each request in flight is keyed by an id (the v2c request-id, the v3
msgID), sent and resent until the subclass's ``_received`` sets its future or its tries run
out. What a datagram must be to answer a request is the subclass's business.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import random
import socket
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

# Datagrams read from one socket each time the event loop finds it readable. asyncio's own
# datagram transport reads one per loop iteration: a host spraying the socket then queues
# thousands of datagrams ahead of a good reply in the kernel's buffer, and the good reply is
# read only after its request has timed out. Reading a batch, and rejecting strangers from
# their header alone (a few microseconds each), keeps the queue short; the bound keeps one
# wake-up short (about a millisecond), so timers, pings and scrapes still run during a flood.
READ_BUDGET: Final = 256
_MAX_DATAGRAM: Final = 65_535

Address = tuple[str, int]
R = TypeVar("R")  # what a request's future resolves to
X = TypeVar("X")  # what else a subclass keeps about a request in flight


class UdpClient(Generic[R, X]):
    """The part the v2c and v3 clients share: one UDP socket per address family (made by
    ``make_socket``, read in batches of :data:`READ_BUDGET`), requests in flight keyed by an
    id, each sent and resent until :meth:`_received` (the subclass's) sets its future.

    ``junk`` and ``peers`` are shared with the poller: datagrams from a polled address that
    are not the protocol's are counted in ``junk``; ``dropped`` counts the others that
    answered no request in flight.
    """

    def __init__(
        self,
        make_socket: Callable[[int], socket.socket],
        junk: collections.Counter[Address],
        peers: set[Address],
    ) -> None:
        self._make_socket = make_socket
        self._sockets: dict[int, tuple[socket.socket, asyncio.AbstractEventLoop]] = {}
        self._pending: dict[int, tuple[Address, asyncio.Future[R], X]] = {}
        self._ids = itertools.count(random.randrange(1, 1 << 30))
        self._buffer = bytearray(_MAX_DATAGRAM)
        self.junk = junk
        self.peers = peers
        self.dropped = 0

    def _next_id(self) -> int:
        return next(self._ids) & 0x7FFFFFFF or 1

    async def _exchange(
        self,
        key: int,
        address: Address,
        family: int,
        extra: X,
        data: bytes,
        per_try: float,
        retries: int,
    ) -> R:
        """What :meth:`_received` sets for ``key``; ``TimeoutError`` after ``retries + 1``
        sends of ``data`` ``per_try`` s apart."""
        sock = self._socket(family)
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending[key] = (address, future, extra)
        dest = address if family == socket.AF_INET else (*address, 0, 0)
        try:
            for _try in range(retries + 1):
                # A full send buffer or a firewall's refusal: as if the datagram was lost.
                with contextlib.suppress(OSError):
                    sock.sendto(data, dest)
                try:
                    return await asyncio.wait_for(asyncio.shield(future), per_try)
                except TimeoutError:
                    continue
            raise TimeoutError
        finally:
            self._pending.pop(key, None)
            if not future.done():
                future.cancel()

    def _received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        raise NotImplementedError

    def _drain(self, sock: socket.socket) -> None:
        """Read up to :data:`READ_BUDGET` datagrams; the loop calls again while more wait."""
        view = memoryview(self._buffer)
        for _ in range(READ_BUDGET):
            try:
                size, addr = sock.recvfrom_into(self._buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error queued on the socket: nothing to read
                continue
            self._received(bytes(view[:size]), addr)

    def _socket(self, family: int) -> socket.socket:
        opened = self._sockets.get(family)
        if opened is not None:
            return opened[0]
        sock = self._make_socket(family)  # non-blocking, as the poller makes it
        loop = asyncio.get_running_loop()
        loop.add_reader(sock.fileno(), self._drain, sock)
        self._sockets[family] = (sock, loop)
        return sock

    def close(self) -> None:
        """Stop reading (the sockets belong to whoever made them); fail requests in flight."""
        for sock, loop in self._sockets.values():
            if not loop.is_closed() and sock.fileno() >= 0:
                loop.remove_reader(sock.fileno())
        self._sockets.clear()
        for _address, future, _extra in self._pending.values():
            if not future.done():
                future.cancel()
