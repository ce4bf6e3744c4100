"""SNMP datagrams that answer no pending request are counted, in this process and the workers,
and exported as ``netwatch_snmp_datagrams_dropped_total`` in the agent shard.

A real snmpd sits behind a relay (two UDP sockets on 127.0.0.1) that can hold one of its
replies past the poll's per-try timeout: netwatch's retry is answered first, and the held reply
then arrives late. The relay also shows which socket netwatch polls from, so a stranger can
send it a datagram of its own.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from netwatch.models import Secret, SnmpSettings
from netwatch.probes import snmp_v2c as v2c
from netwatch.probes.snmp import SnmpPoller
from netwatch.probes.snmp_workers import SnmpWorkers
from tests.daemon import RunningDaemon, free_port, metric_value, write_config
from tests.snmpd import COMMUNITY, SnmpAgent, snmpd

__all__ = ["snmpd"]  # the fixture, imported for pytest

pytestmark = pytest.mark.peer

PER_TRY = 0.5  # seconds: the relay holds a reply for HOLD, so the retry is answered first
HOLD = 1.2
METRIC = "netwatch_snmp_datagrams_dropped_total"


class _Side(asyncio.DatagramProtocol):
    def __init__(self, received: Callable[[bytes, Any], None]) -> None:
        self.received = received

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received(data, addr)


class Relay:
    """Forwards netwatch's requests to ``agent`` and its replies back; after ``hold()`` the
    next reply is held for :data:`HOLD` seconds. ``client``: where netwatch polls from."""

    def __init__(self, agent: SnmpAgent) -> None:
        self.agent = agent
        self.client: tuple[str, int] | None = None
        self.held: asyncio.Event | None = None  # set once the held reply is sent
        self._holding = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.front, _ = await loop.create_datagram_endpoint(
            lambda: _Side(self._from_client), local_addr=("127.0.0.1", 0)
        )
        self.back, _ = await loop.create_datagram_endpoint(
            lambda: _Side(self._from_agent), remote_addr=(self.agent.host, self.agent.port)
        )
        self.port: int = self.front.get_extra_info("sockname")[1]

    def close(self) -> None:
        self.front.close()
        self.back.close()

    def hold(self) -> asyncio.Event:
        self._holding, self.held = True, asyncio.Event()
        return self.held

    def _from_client(self, data: bytes, addr: Any) -> None:
        self.client = (addr[0], addr[1])
        self.back.sendto(data)

    def _from_agent(self, data: bytes, _addr: Any) -> None:
        if self.client is None:
            return
        if self._holding:
            self._holding = False
            asyncio.get_running_loop().call_later(HOLD, self._release, data, self.client)
        else:
            self.front.sendto(data, self.client)

    def _release(self, data: bytes, client: tuple[str, int]) -> None:
        self.front.sendto(data, client)
        assert self.held is not None
        self.held.set()


@pytest.fixture
async def relay(snmpd: SnmpAgent) -> AsyncIterator[Relay]:
    r = Relay(snmpd)
    await r.start()
    try:
        yield r
    finally:
        r.close()


def settings(port: int) -> SnmpSettings:
    return SnmpSettings(
        community=Secret("test", COMMUNITY), port=port, timeout=PER_TRY, retries=1,
        collect=("system",),
    )  # fmt: skip


def foreign_datagram() -> bytes:
    """A well-formed SNMPv2c response to a request id netwatch never sent."""
    return v2c.encode_request(0x7FFFFFF0, COMMUNITY.encode(), v2c.RESPONSE, [(1, 3, 6, 1)])


def send_as_stranger(to: tuple[str, int]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.sendto(foreign_datagram(), to)


async def until(check: Callable[[], object], what: str) -> None:
    """Wait (at most 5 s) until ``check()`` is true."""
    deadline = time.monotonic() + 5.0
    while not check():
        assert time.monotonic() < deadline, f"not within 5 s: {what}"
        await asyncio.sleep(0.02)


async def test_late_reply_and_foreign_datagram_are_counted_in_process(relay: Relay) -> None:
    """A reply held past the retry is counted once when it arrives; so is a stranger's
    well-formed response to no request; the polls themselves succeed."""
    poller = await SnmpPoller.create()
    try:
        sample = await poller.poll("r1", "127.0.0.1", settings(relay.port))
        assert sample.ok, sample.failure
        assert poller.datagrams_dropped == 0

        held = relay.hold()
        sample = await poller.poll("r1", "127.0.0.1", settings(relay.port))
        assert sample.ok, sample.failure  # the retry's reply
        assert poller.datagrams_dropped == 0  # the first reply is still held
        await asyncio.wait_for(held.wait(), HOLD * 3)
        await until(lambda: poller.datagrams_dropped == 1, "the late reply counted")

        assert relay.client is not None
        send_as_stranger(relay.client)
        await until(lambda: poller.datagrams_dropped == 2, "the foreign datagram counted")
    finally:
        poller.close()


async def test_workers_bring_their_count_back_and_keep_it_across_a_crash(relay: Relay) -> None:
    """The worker's dropped datagrams reach the parent with its next answer; after the worker
    is killed and started again the total does not go back, and the new worker's add to it."""
    workers = SnmpWorkers(1)
    try:
        sample = await workers.poll("r1", "127.0.0.1", settings(relay.port))
        assert sample.ok, sample.failure
        assert workers.datagrams_dropped == 0

        held = relay.hold()
        sample = await workers.poll("r1", "127.0.0.1", settings(relay.port))
        assert sample.ok, sample.failure
        await asyncio.wait_for(held.wait(), HOLD * 3)
        assert relay.client is not None
        send_as_stranger(relay.client)
        await asyncio.sleep(0.2)  # both are in the worker's socket, read at once
        assert workers.datagrams_dropped == 0  # not answered since: not known yet
        sample = await workers.poll("r1", "127.0.0.1", settings(relay.port))
        assert sample.ok, sample.failure
        assert workers.datagrams_dropped == 2

        pid = workers.pids[0]
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await until(lambda: workers.pids[0] is None, "the worker's exit seen")
        assert workers.datagrams_dropped == 2
        sample = await workers.poll("r1", "127.0.0.1", settings(relay.port))  # a new worker
        assert sample.ok, sample.failure
        assert workers.datagrams_dropped == 2
        send_as_stranger(relay.client)  # the new worker's socket
        await asyncio.sleep(0.2)
        sample = await workers.poll("r1", "127.0.0.1", settings(relay.port))
        assert sample.ok, sample.failure
        assert workers.datagrams_dropped == 3
    finally:
        await workers.close()


# --------------------------------------------------------------------------- the daemon

CONFIG = """
agent: {{listen: "127.0.0.1:{port}", data_dir: {data}, snmp_workers: {workers}}}
defaults:
  snmp: {{interval: 1s, timeout: 300ms, retries: 0, community: {{env: NW_TEST_COMMUNITY}}}}
sites:
  - id: p
    level: province
    devices: [{{id: r1, address: 127.0.0.1, role: router, icmp: false,
                snmp: {{port: {snmp_port}}}}}]
"""


@pytest.fixture
def silent_agent() -> Iterator[socket.socket]:
    """A UDP socket on 127.0.0.1 that receives netwatch's requests and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(20)
    try:
        yield sock
    finally:
        sock.close()


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "worker"])
def test_daemon_exports_the_count_in_the_agent_shard(
    tmp_path: Path, silent_agent: socket.socket, workers: int
) -> None:
    """A stranger's datagram to the socket netwatch polls from shows as 1 in the agent shard's
    netwatch_snmp_datagrams_dropped_total (no device label), in process and from a worker."""
    port = free_port()
    text = CONFIG.format(
        port=port, data=tmp_path / "data", workers=workers,
        snmp_port=silent_agent.getsockname()[1],
    )  # fmt: skip
    config = write_config(tmp_path, text)
    with RunningDaemon(config, port, env={"NW_TEST_COMMUNITY": COMMUNITY}) as daemon:
        daemon.wait_ready()
        assert metric_value(daemon.get("/metrics?shard=_agent"), METRIC) == 0
        _request, source = silent_agent.recvfrom(65536)
        send_as_stranger(source)
        deadline = time.monotonic() + 15
        while (value := metric_value(daemon.get("/metrics?shard=_agent"), METRIC)) != 1:
            assert value == 0, value
            assert time.monotonic() < deadline, daemon.log[-3000:]
            time.sleep(0.2)
        everything = daemon.get("/metrics")
        lines = [line for line in everything.splitlines() if line.startswith(METRIC)]
        assert lines == [f"{METRIC} 1.0"]
