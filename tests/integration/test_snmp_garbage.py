"""The SNMP probe against a UDP responder on 127.0.0.1 that answers with garbage.

Every poll must end as a PROTOCOL or TIMEOUT failure: no exception escapes ``poll()``, and
after many polls no task and no file descriptor is left behind.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import typing
from collections.abc import AsyncIterator
from typing import Any

import pytest

from netwatch.models import FailureKind, Secret, SnmpSettings
from netwatch.probes.snmp import SnmpPoller
from tests.snmpd import COMMUNITY, SnmpAgent, snmpd

P, T = FailureKind.PROTOCOL, FailureKind.TIMEOUT
# What each kind of garbage must give: undecodable data is PROTOCOL; a reflected request is
# not a response (PROTOCOL; for v3 a reflected discovery names no engine: PROTOCOL too); a
# corrupted reply may be either.
EXPECTED = {
    "random": {P}, "truncated": {P}, "oversized": {P}, "wrong-length": {P},
    "echo": {P, T}, "flipped": {P, T},
}  # fmt: skip
MODES = list(EXPECTED)

__all__ = ["snmpd"]  # the fixture, imported for pytest
POLLS = 50


@pytest.fixture
async def poller() -> AsyncIterator[SnmpPoller]:
    p = await SnmpPoller.create()
    try:
        yield p
    finally:
        p.close()


class Garbage(asyncio.DatagramProtocol):
    """Answers every request with one kind of bad datagram (seeded, so runs repeat)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.transport: asyncio.DatagramTransport | None = None
        self.rng = random.Random(42)
        self.requests = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport is not an asyncio.DatagramTransport subclass
        # on 3.11 (isinstance is False), hence the cast.
        self.transport = typing.cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        assert self.transport is not None
        self.requests += 1
        self.transport.sendto(self.reply(data), addr)

    def reply(self, request: bytes) -> bytes:
        rng = self.rng
        if self.mode == "random":
            return rng.randbytes(rng.randint(1, 300))
        if self.mode == "truncated":  # a real SNMP message cut short
            return request[: rng.randint(1, len(request) - 1)]
        if self.mode == "oversized":  # a SEQUENCE claiming 2 GiB, in the largest UDP datagram
            return b"\x30\x84\x7f\xff\xff\xff" + rng.randbytes(65_000)
        if self.mode == "echo":  # the request itself: a GetBulk PDU arriving at the manager
            return request
        if self.mode == "flipped":  # the request with a few bytes changed
            out = bytearray(request)
            for _ in range(3):
                out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
            return bytes(out)
        # "wrong-length": the outer SEQUENCE length does not match the datagram
        return b"\x30\x05" + request[2:]


async def serve(mode: str) -> tuple[asyncio.DatagramTransport, Garbage, int]:
    """A garbage responder on 127.0.0.1:<free port>: (transport, protocol, port)."""
    responder = Garbage(mode)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: responder, local_addr=("127.0.0.1", 0), family=socket.AF_INET
    )
    return transport, responder, int(transport.get_extra_info("sockname")[1])


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def other_tasks() -> set[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not current}


def garbage_settings(version: str, port: int) -> SnmpSettings:
    if version == "3":
        return SnmpSettings(
            version="3", user="u", auth_protocol="sha256",
            auth_password=Secret("t", "garbage-test-community"), priv_protocol="aes",
            priv_password=Secret("t", "garbage-test-community"), port=port, timeout=0.1,
            retries=0,
        )  # fmt: skip
    return SnmpSettings(
        community=Secret("t", "garbage-test-community"), port=port, timeout=0.1, retries=0
    )


@pytest.mark.parametrize("version", ["2c", "3"])
@pytest.mark.parametrize("mode", MODES)
async def test_garbage_replies_are_failures_and_leak_nothing(
    poller: SnmpPoller, mode: str, version: str, caplog: pytest.LogCaptureFixture
) -> None:
    """50 polls (10 x 5 concurrent) fail as expected; no task, fd or loop error is left."""
    transport, responder, port = await serve(mode)
    try:
        settings = garbage_settings(version, port)
        first = await poller.poll("junk", "127.0.0.1", settings)  # opens the engine's socket
        assert first.failure is not None
        assert first.failure.kind in (FailureKind.PROTOCOL, FailureKind.TIMEOUT)
        await asyncio.sleep(0.2)
        tasks, fds = other_tasks(), open_fds()
        kinds: set[FailureKind] = set()
        for batch in range(POLLS // 5):
            samples = await asyncio.gather(
                *(poller.poll(f"junk{batch}-{i}", "127.0.0.1", settings) for i in range(5))
            )
            for s in samples:
                assert s.failure is not None
                assert s.failure.kind in EXPECTED[mode], s.failure
                assert "garbage-test-community" not in s.failure.detail
                kinds.add(s.failure.kind)
        # Let pysnmp's timers and callbacks run out (bounded: a slow, busy machine needs more).
        for _ in range(50):
            if other_tasks() <= tasks:
                break
            await asyncio.sleep(0.1)
        assert other_tasks() <= tasks
        assert open_fds() <= fds
        assert responder.requests >= POLLS
        assert kinds
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == []  # e.g. asyncio's "Exception in callback" from the decoder
    finally:
        transport.close()


@pytest.mark.peer
async def test_poller_still_works_after_garbage(poller: SnmpPoller, snmpd: SnmpAgent) -> None:
    """Garbage from one agent does not poison the shared engine: a real snmpd still answers."""
    for mode in MODES:
        transport, _responder, port = await serve(mode)
        try:
            settings = SnmpSettings(community=Secret("t", "x"), port=port, timeout=0.1, retries=0)
            sample = await poller.poll("junk", "127.0.0.1", settings)
            assert sample.failure is not None
        finally:
            transport.close()
    real = SnmpSettings(community=Secret("t", COMMUNITY), port=snmpd.port, collect=("system",))
    sample = await poller.poll("agent", snmpd.host, real)
    assert sample.ok, sample.failure
    assert sample.data is not None
    assert sample.data.system is not None
    assert sample.data.system.sys_name
