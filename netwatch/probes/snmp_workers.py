"""SNMP polls in worker processes, so that decoding replies does not hold up the event loop.

An SNMP poll of a 48-port router costs a few ms of CPU over SNMPv2c (our codec) and 1.2-1.25
times that over SNMPv3 authPriv (the same codec inside the USM); at 2,000 devices a minute
that is most of a third of a core, which should not sit on the thread that sends pings, runs
the scheduler and answers scrapes.
:class:`SnmpWorkers` has :class:`~netwatch.probes.snmp.SnmpPoller`'s ``poll()`` and hands each
poll to one of ``count`` child processes running this module (``python -m
netwatch.probes.snmp_workers``). Each child owns an ordinary ``SnmpPoller`` on its own event
loop: the whole poll (send, retries, decoding, tables) happens there, and the finished
``Sample`` comes back.

Messages are pickled frames (4-byte big-endian length, then the pickle) on the child's stdin
(``("poll", id, device, address, settings)`` or ``("prepare", [(device, address, settings),
...])``)
and stdout (``(id, sample, dropped)``: ``dropped`` is the worker's count of SNMP datagrams that
answered no pending request, piggy-backed on every answer, so the parent can export it without
a message of its own; a datagram dropped after a worker's last answer is counted with its next
one). Only netwatch's own
processes are at either end of these pipes, so unpickling is safe. The child writes its log to
stderr, which it shares with the parent (the journal under systemd).

A device always goes to the same worker: its SNMPv3 engine state and its table-size hints live
there. A worker that exits (a crash, ``kill -9``, the OOM killer) fails the polls it had in
flight with an ``error`` failure, and the next poll of one of its devices starts it again. A
worker exits by itself when its stdin closes, so it never outlives netwatch.

>>> workers = SnmpWorkers(2)  # doctest: +SKIP
>>> sample = await workers.poll("core-rtr", "10.10.0.1", settings)  # doctest: +SKIP
>>> await workers.close()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import os
import pickle
import signal
import struct
import sys
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from netwatch.configuration.profiles import ProfileSet
from netwatch.logs import current_setup, setup_logging
from netwatch.models import Failure, FailureKind, Sample, SnmpSettings
from netwatch.probes.snmp import SnmpPoller
from netwatch.probes.snmp_data import SnmpData

log = logging.getLogger(__name__)

_HEADER: Final = struct.Struct(">I")
_STREAM_LIMIT: Final = 1024 * 1024
STOP_GRACE: Final = 2.0  # seconds a worker has to exit after its stdin closes


def auto_workers() -> int:
    """Workers to start when the config says ``auto``: one when there is a second CPU.

    On this project's 2-core test machine one worker polls about 6,000 48-port routers a
    minute over SNMPv2c, about 800 over SNMPv3; more SNMPv3 devices need more workers (and
    cores), set with ``agent.snmp_workers``.
    """
    return 1 if len(os.sched_getaffinity(0)) >= 2 else 0


def _frame(message: object) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(payload)) + payload


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    """The next message; ``asyncio.IncompleteReadError`` at the end of the stream."""
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    return pickle.loads(await reader.readexactly(size))


# --------------------------------------------------------------------------- parent side


@dataclass(eq=False)
class _Link:
    """One running worker process and the polls waiting for its answers."""

    process: asyncio.subprocess.Process
    pending: dict[int, asyncio.Future[Sample[SnmpData] | None]] = field(default_factory=dict)
    alive: bool = True
    reader: asyncio.Task[None] | None = None
    dropped: int = 0  # the worker's SNMP datagrams dropped, as of its last answer


class SnmpWorkers:
    """``count`` SNMP worker processes behind one ``poll()``; close with ``await close()``."""

    def __init__(self, count: int, profiles: ProfileSet | None = None) -> None:
        if count < 1:
            raise ValueError("SnmpWorkers needs at least one worker")
        self.count = count
        self._argv = (sys.executable, "-m", __name__, *current_setup())  # log like the parent
        self._links: list[_Link | None] = [None] * count
        self._starting = [asyncio.Lock() for _ in range(count)]
        self._ids = itertools.count(1)
        self._closed = False
        self._profiles = profiles
        self._dropped_by_exited = 0  # datagrams dropped by workers that have exited

    @property
    def datagrams_dropped(self) -> int:
        """SNMP datagrams the workers dropped (late, foreign, from addresses not polled), as of
        their last answers; those of exited workers included, so it never goes back."""
        live = sum(link.dropped for link in self._links if link is not None)
        return self._dropped_by_exited + live

    def worker_of(self, device: str) -> int:
        """The worker that polls ``device``: the same one for the life of the process."""
        return zlib.crc32(device.encode()) % self.count

    @property
    def pids(self) -> list[int | None]:
        """The workers' process ids (``None`` for one not started or exited)."""
        return [link.process.pid if link and link.alive else None for link in self._links]

    async def poll(self, device: str, address: str, settings: SnmpSettings) -> Sample[SnmpData]:
        """Poll ``device`` in its worker; a failure is returned, not raised."""
        at, started = time.time(), time.monotonic()
        if self._closed:
            raise RuntimeError("SnmpWorkers is closed")
        number = self.worker_of(device)
        try:
            link = await self._link(number)
        except OSError as exc:
            return _lost(device, at, started, f"cannot start an SNMP worker: {exc.strerror}")
        request = next(self._ids)
        future: asyncio.Future[Sample[SnmpData] | None] = asyncio.get_running_loop().create_future()
        link.pending[request] = future
        try:
            stdin = link.process.stdin
            assert stdin is not None
            stdin.write(_frame(("poll", request, device, address, settings)))
            await stdin.drain()
            sample = await future
        except ConnectionError:  # the pipe closed under us: the worker died
            sample = None
        finally:
            link.pending.pop(request, None)
        if sample is None:
            return _lost(device, at, started, "the SNMP worker process exited during the poll")
        return sample

    async def prepare(self, targets: Iterable[tuple[str, str, SnmpSettings]]) -> None:
        """Hand each worker its devices (``(device, address, settings)``) to register at once:
        see :meth:`SnmpPoller.prepare <netwatch.probes.snmp.SnmpPoller.prepare>`."""
        shares: dict[int, list[tuple[str, str, SnmpSettings]]] = {}
        for target in targets:
            shares.setdefault(self.worker_of(target[0]), []).append(target)
        for number, share in shares.items():
            try:
                link = await self._link(number)
                stdin = link.process.stdin
                assert stdin is not None
                stdin.write(_frame(("prepare", share)))
                await stdin.drain()
            except (OSError, ConnectionError) as exc:  # the polls will say what is wrong
                log.warning("SNMP worker %d: devices not registered ahead: %s", number, exc)

    async def _link(self, number: int) -> _Link:
        link = self._links[number]
        if link is not None and link.alive:
            return link
        async with self._starting[number]:
            link = self._links[number]
            if link is not None and link.alive:
                return link
            process = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=_STREAM_LIMIT,
            )
            link = _Link(process)
            if self._profiles is not None and process.stdin is not None:
                process.stdin.write(_frame(("profiles", self._profiles)))
            name = f"snmp-worker-{number}"
            link.reader = asyncio.create_task(self._read(number, link), name=name)
            self._links[number] = link
            log.debug("SNMP worker %d started (pid %d)", number, process.pid)
            return link

    async def _read(self, number: int, link: _Link) -> None:
        """Hand each answer to the poll waiting for it; on the worker's exit, fail the rest."""
        stdout = link.process.stdout
        assert stdout is not None
        try:
            while True:
                request, sample, link.dropped = await _read_frame(stdout)
                future = link.pending.get(request)
                if future is not None and not future.done():
                    future.set_result(sample)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception:  # a frame we cannot read: treat the worker as broken
            log.exception("SNMP worker %d sent an unreadable answer; stopping it", number)
            link.process.kill()
        finally:
            link.alive = False
            self._dropped_by_exited += link.dropped
            link.dropped = 0
            for future in link.pending.values():
                if not future.done():
                    future.set_result(None)
        code = await link.process.wait()
        if not self._closed:
            log.error(
                "SNMP worker %d (pid %d) exited with code %s; its polls in flight failed, and "
                "the next poll starts it again",
                number, link.process.pid, code,
            )  # fmt: skip

    async def close(self) -> None:
        """Stop the workers: close their stdin, wait ``STOP_GRACE`` seconds, then kill."""
        self._closed = True
        links = [link for link in self._links if link is not None]
        for link in links:
            if link.process.stdin is not None:
                link.process.stdin.close()
        for link in links:
            try:
                await asyncio.wait_for(link.process.wait(), STOP_GRACE)
            except TimeoutError:
                link.process.kill()
                await link.process.wait()
            if link.reader is not None:
                await link.reader


def _lost(device: str, at: float, started: float, why: str) -> Sample[SnmpData]:
    failure = Failure(FailureKind.ERROR, f"SNMP {device}: {why}")
    return Sample(device, "snmp", at, time.monotonic() - started, failure, None)


# --------------------------------------------------------------------------- worker side


async def _serve(requests: asyncio.StreamReader, answers: asyncio.StreamWriter) -> None:
    poller = await SnmpPoller.create()
    gc.freeze()  # what start-up made lives as long as the process
    running: set[asyncio.Task[None]] = set()

    async def answer(request: int, device: str, address: str, settings: SnmpSettings) -> None:
        try:
            sample = await poller.poll(device, address, settings)
        except Exception:  # a bug in the poller: say so, and still answer
            log.exception("SNMP poll of %s failed", device)
            sample = _lost(device, time.time(), time.monotonic(), "internal error (see log)")
        answers.write(_frame((request, sample, poller.datagrams_dropped)))
        await answers.drain()

    try:
        while True:
            try:
                kind, *message = await _read_frame(requests)
            except asyncio.IncompleteReadError:  # netwatch closed our stdin, or exited
                return
            if kind == "profiles":
                poller.set_profiles(message[0])
                continue
            if kind == "prepare":
                await poller.prepare(message[0])
                continue
            task = asyncio.create_task(answer(*message))
            running.add(task)
            task.add_done_callback(running.discard)
    finally:
        for task in running:
            task.cancel()
        poller.close()


async def _main() -> None:
    # Our answers go to a private copy of stdout; fd 1 then points at stderr, so nothing a
    # library prints can corrupt the frames.
    answers_fd = os.dup(1)
    os.dup2(2, 1)
    loop = asyncio.get_running_loop()
    requests = asyncio.StreamReader(limit=_STREAM_LIMIT)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(requests), os.fdopen(0, "rb", buffering=0)
    )
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(answers_fd, "wb", buffering=0)
    )
    answers = asyncio.StreamWriter(transport, protocol, None, loop)
    await _serve(requests, answers)


def main(argv: list[str]) -> int:
    log_format, log_level = argv if len(argv) == 2 else ("text", "info")
    setup_logging(log_format, log_level)
    # Ctrl-C in a terminal and systemd's SIGTERM reach the whole process group: netwatch stops
    # its workers itself (by closing their stdin) once its own polls are done.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    asyncio.run(_main())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
