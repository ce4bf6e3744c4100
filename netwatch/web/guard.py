"""Keeps slow and idle HTTP clients from using up the agent's open files.

aiohttp waits for a request header as long as its keep-alive timeout (an hour) and accepts every
connection it is offered: 1,100 connections that each sent half a header (slowloris) took all
1,024 files systemd allowed, and the probes, the outbox and state saves then failed with "Too
many open files". The guard sits between the listening socket and aiohttp:

- a connection must complete a request header within ``header_timeout`` of opening or of its
  previous response, so half-sent headers and idle keep-alive connections are closed after it;
- at most ``max_connections`` are open. One more closes the open connection idle the longest
  (idle: no request being answered; a half-sent header is idle), or is itself closed when every
  one is busy. A client that sends its request at once therefore gets through even while the
  slots are full of half-sent headers.

asyncio calls the protocol's ``connection_made`` only once a TLS handshake is done: handshakes
under way are bounded apart, by ``header_timeout`` and in number by ``max_connections`` (one
more cancels the oldest).

>>> guard = ConnectionGuard(max_connections=512, header_timeout=10.0)
>>> runner = await serve(app, guard, "0.0.0.0", 9430)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
import ssl

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 512
HEADER_TIMEOUT = 10.0  # seconds
# Never more connections than this share of the open-file limit: the rest is for the probes'
# sockets, the outbox, the history database and state saves.
SHARE_OF_OPEN_FILES = 4
MIN_CONNECTIONS = 16


def connection_limit(configured: int, open_files: int | None = None) -> int:
    """``configured``, but at most a quarter of the soft open-file limit (at least 16)."""
    if open_files is None:
        open_files, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if open_files == resource.RLIM_INFINITY:
        return configured
    return min(configured, max(MIN_CONNECTIONS, open_files // SHARE_OF_OPEN_FILES))


class ConnectionGuard:
    """Counts, times out and evicts the server's connections (see the module docstring).

    >>> guard = ConnectionGuard(max_connections=64, header_timeout=5.0)
    >>> guard.open
    0
    """

    def __init__(
        self, max_connections: int = MAX_CONNECTIONS, header_timeout: float = HEADER_TIMEOUT
    ) -> None:
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        # Open connections, the one idle the longest first (a response moves it to the end).
        self._open: dict[_Guarded, None] = {}
        self.timed_out = 0  # closed: no complete request header in time
        self.evicted = 0  # closed to make room for a new connection
        self.refused = 0  # new connections closed because every open one was busy

    @property
    def open(self) -> int:
        return len(self._open)

    def protocol_factory(self, server: web.Server) -> _Factory:
        """The protocol for each accepted connection: aiohttp's, wrapped."""
        return _Factory(self, server)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Marks the connection busy while its request is answered (busy ones are not evicted
        nor timed out)."""
        transport = request.transport
        guarded = transport.get_protocol() if transport is not None else None
        if not isinstance(guarded, _Guarded):
            return await handler(request)
        guarded.busy += 1
        try:
            return await handler(request)
        finally:
            guarded.busy -= 1
            if guarded.busy == 0:
                self._open.pop(guarded, None)
                if not guarded.closed:
                    self._open[guarded] = None
                    guarded.arm()

    def _admit(self, new: _Guarded) -> bool:
        if len(self._open) >= self.max_connections:
            victim = next((c for c in self._open if c.idle), None)
            if victim is None:
                self.refused += 1
                log.warning(
                    "HTTP: %d connections open, all busy: refusing a new one"
                    " (agent.web_max_connections)",
                    len(self._open),
                )
                return False
            self.evicted += 1
            log.warning(
                "HTTP: %d connections open: closing the one idle the longest to admit a new one"
                " (agent.web_max_connections)",
                len(self._open),
            )
            del self._open[victim]
            victim.close()
        self._open[new] = None
        return True

    def _closed(self, conn: _Guarded) -> None:
        self._open.pop(conn, None)


class _Factory:
    def __init__(self, guard: ConnectionGuard, server: web.Server) -> None:
        self._guard = guard
        self._server = server

    def __call__(self) -> _Guarded:
        return _Guarded(self._guard, self._server())


class _Guarded(asyncio.Protocol):
    """One connection: forwards everything to aiohttp's handler, and owns its header timer."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._admitted = False
        self._unsent = 0  # the write buffer when the timer last fired
        self.busy = 0
        self.closed = False

    @property
    def idle(self) -> bool:
        return (
            not self.busy
            and self._transport is not None
            and not self._transport.get_write_buffer_size()
        )

    def close(self) -> None:
        if self._transport is not None and not self.closed:
            self.closed = True
            self._transport.abort()  # a response it does not read is not kept either

    def arm(self, unsent: int = 0) -> None:
        """(Re)start the header timer; ``unsent``: the response bytes still to send."""
        self._unsent = unsent
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._guard.header_timeout, self._expired)

    def _expired(self) -> None:
        self._timer = None
        if self.busy or self.closed or self._transport is None:
            return  # the end of the request re-arms it
        unsent = self._transport.get_write_buffer_size()
        if unsent and (not self._unsent or unsent < self._unsent):
            # Still sending the last response, and the client is reading it.
            self.arm(unsent)
            return
        self._guard.timed_out += 1
        log.debug("HTTP: closing a connection with no complete request in time")
        self.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if not self._guard._admit(self):
            self.closed = True
            transport.abort()
            return
        self._admitted = True
        self._inner.connection_made(transport)
        self.arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._guard._closed(self)
        if self._admitted:
            self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self.closed:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._admitted else None

    def pause_writing(self) -> None:
        if self._admitted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self._inner.resume_writing()


async def serve(
    app: web.Application,
    guard: ConnectionGuard,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[web.AppRunner, GuardedSite]:
    """Start ``app`` on ``host:port`` behind ``guard``; ``runner.cleanup()`` stops it.

    Raises ``OSError`` when the address cannot be bound (the runner is cleaned up first)."""
    app.middlewares.insert(0, guard.middleware)
    # aiohttp's own keep-alive timer, as a second line: it closes a connection waiting for a
    # request header after this long too.
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=guard.header_timeout)
    await runner.setup()
    site = GuardedSite(runner, guard, host, port, ssl_context=ssl_context)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    return runner, site


class GuardedSite(web.BaseSite):
    """A TCP site like ``web.TCPSite`` whose connections pass through a :class:`ConnectionGuard`.

    It accepts connections itself, a quarter of ``max_connections`` per turn of the event loop
    (4 to 64): asyncio's own server accepts up to its backlog per turn and runs ``connection_made``
    two turns later, so a flood took hundreds of files before the guard could close any.
    """

    ACCEPT_BURST = (4, 64)  # connections accepted per turn of the loop: at least, at most
    # The kernel's queue of connections not yet accepted: they take no file of ours, and a
    # longer queue drops fewer SYNs (each drop costs the client a 1 s retry) during a flood.
    BACKLOG = 1024
    PAUSE_AFTER_EMFILE = 0.25  # seconds without accepting once the process is out of files

    def __init__(
        self,
        runner: web.BaseRunner,
        guard: ConnectionGuard,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = BACKLOG,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._guard = guard
        self._host = host
        self._port = port
        self._listening: list[socket.socket] = []
        # Accepted, not yet handed to the guard (TLS: the handshake), the oldest first.
        self._handshakes: dict[asyncio.Task[object], None] = {}
        self._factory: _Factory | None = None

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    @property
    def ports(self) -> list[int]:
        """The ports listened on (useful with port 0)."""
        return [int(sock.getsockname()[1]) for sock in self._listening]

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self._factory = self._guard.protocol_factory(server)
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            self._host or None,
            self._port,
            type=socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE,
        )
        try:
            for family, kind, proto, _, address in dict.fromkeys(infos):
                sock = socket.socket(family, kind, proto)
                self._listening.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:  # one socket per family, as asyncio does
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
                sock.listen(self._backlog)
                sock.setblocking(False)
        except OSError:
            self._close_listening()
            raise
        for sock in self._listening:
            loop.add_reader(sock.fileno(), self._accept, sock)

    async def stop(self) -> None:
        self._close_listening()
        for task in list(self._handshakes):
            task.cancel()
        await super().stop()

    def _close_listening(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in self._listening:
            if sock.fileno() >= 0:
                loop.remove_reader(sock.fileno())
                sock.close()

    def _accept(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        low, high = self.ACCEPT_BURST
        for _ in range(min(high, max(low, self._guard.max_connections // 4))):
            try:
                conn, _ = listening.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    raise
                # Out of files: the guard's limit is too high for what else runs. Wait a
                # little rather than spin; the connections already open will time out.
                log.warning("HTTP: cannot accept a connection: %s", exc.strerror)
                loop.remove_reader(listening.fileno())
                loop.call_later(self.PAUSE_AFTER_EMFILE, self._resume, listening)
                return
            conn.setblocking(False)
            if len(self._handshakes) >= self._guard.max_connections:
                oldest = next(iter(self._handshakes))
                del self._handshakes[oldest]
                oldest.cancel()  # asyncio closes its socket
            task = loop.create_task(self._connect(conn))
            self._handshakes[task] = None
            task.add_done_callback(self._handshake_done)

    def _handshake_done(self, task: asyncio.Task[object]) -> None:
        self._handshakes.pop(task, None)

    def _resume(self, listening: socket.socket) -> None:
        if listening.fileno() >= 0:
            asyncio.get_running_loop().add_reader(listening.fileno(), self._accept, listening)

    async def _connect(self, conn: socket.socket) -> object:
        assert self._factory is not None
        loop = asyncio.get_running_loop()
        tls = self._ssl_context
        try:
            return await loop.connect_accepted_socket(
                self._factory,
                conn,
                ssl=tls,
                ssl_handshake_timeout=self._guard.header_timeout if tls else None,
            )
        except OSError as exc:  # ssl.SSLError and TimeoutError among them
            # A failed TLS handshake or a client gone at once: nothing to serve.
            log.debug("HTTP: connection dropped before its first request: %s", exc)
            conn.close()
            return None
