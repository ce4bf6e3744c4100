"""SNMP polls in worker processes against snmpd: same answers, crashes survived."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from netwatch.models import FailureKind, Secret, SnmpSettings
from netwatch.probes.snmp import SnmpPoller
from netwatch.probes.snmp_workers import SnmpWorkers
from tests.snmpd import AUTH_PASSWORD, COMMUNITY, PRIV_PASSWORD, SnmpAgent, snmpd

__all__ = ["snmpd"]  # the fixture, imported for pytest

pytestmark = pytest.mark.peer


@pytest.fixture
async def workers() -> AsyncIterator[SnmpWorkers]:
    pool = SnmpWorkers(2)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A UDP port on 127.0.0.1 that receives requests and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def v2c(port: int, **kw: object) -> SnmpSettings:
    return SnmpSettings(community=Secret("test", COMMUNITY), port=port, **kw)  # type: ignore[arg-type]


def v3(port: int) -> SnmpSettings:
    return SnmpSettings(
        version="3",
        user="sha256_aes",
        auth_protocol="sha256",
        auth_password=Secret("test", AUTH_PASSWORD),
        priv_protocol="aes",
        priv_password=Secret("test", PRIV_PASSWORD),
        port=port,
    )


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


async def test_a_worker_poll_equals_an_in_process_poll(
    snmpd: SnmpAgent, workers: SnmpWorkers
) -> None:
    poller = await SnmpPoller.create()
    try:
        here = await poller.poll("agent", snmpd.host, v2c(snmpd.port))
    finally:
        poller.close()
    there = await workers.poll("agent", snmpd.host, v2c(snmpd.port))
    assert here.ok, here.failure
    assert there.ok, there.failure
    assert here.data is not None
    assert there.data is not None
    assert there.data.system is not None
    assert here.data.system is not None
    assert there.data.system.sys_name == here.data.system.sys_name
    assert there.data.system.sys_descr == here.data.system.sys_descr
    assert there.data.interfaces is not None
    assert here.data.interfaces is not None
    assert [i.name for i in there.data.interfaces] == [i.name for i in here.data.interfaces]
    assert there.data.host is not None
    assert here.data.host is not None
    assert [s.description for s in there.data.host.storage] == [
        s.description for s in here.data.host.storage
    ]
    assert (there.device, there.check) == ("agent", "snmp")


async def test_v3_secrets_reach_the_worker(snmpd: SnmpAgent, workers: SnmpWorkers) -> None:
    settings = v3(snmpd.port)
    sample = await workers.poll("v3-agent", snmpd.host, settings)
    assert sample.ok, sample.failure
    wrong = dataclasses.replace(settings, auth_password=Secret("test", "wrong-pass-1"))
    sample = await workers.poll("v3-agent", snmpd.host, wrong)
    assert sample.failure is not None
    assert sample.failure.kind is FailureKind.AUTH


async def test_a_device_always_goes_to_the_same_worker(
    snmpd: SnmpAgent, workers: SnmpWorkers
) -> None:
    devices = [f"dev-{i}" for i in range(20)]
    assert len({workers.worker_of(d) for d in devices}) == 2  # both are used
    # Polls of devices that belong to worker 0 start worker 0 and never worker 1.
    for device in [d for d in devices if workers.worker_of(d) == 0][:4]:
        assert (await workers.poll(device, snmpd.host, v2c(snmpd.port))).ok
    first, second = workers.pids
    assert first is not None
    assert second is None
    for device in [d for d in devices if workers.worker_of(d) == 0][:4]:
        assert (await workers.poll(device, snmpd.host, v2c(snmpd.port))).ok
    assert workers.pids == [first, None]


async def test_a_killed_worker_fails_its_polls_and_comes_back(
    snmpd: SnmpAgent, workers: SnmpWorkers, silent_port: int
) -> None:
    """kill -9 during a poll: that poll fails at once (not after its timeout), the next works."""
    assert (await workers.poll("dev", snmpd.host, v2c(snmpd.port))).ok
    number = workers.worker_of("dev")
    pid = workers.pids[number]
    assert pid is not None
    slow = asyncio.create_task(
        workers.poll("dev", "127.0.0.1", v2c(silent_port, timeout=20.0, retries=0))
    )
    await asyncio.sleep(0.3)  # the request is in the worker, waiting for the silent port
    started = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    lost = await asyncio.wait_for(slow, 10)
    assert time.monotonic() - started < 5
    assert lost.failure is not None
    assert lost.failure.kind is FailureKind.ERROR
    assert "worker process exited" in lost.failure.detail
    again = await workers.poll("dev", snmpd.host, v2c(snmpd.port))
    assert again.ok, again.failure
    assert workers.pids[number] not in (None, pid)


async def test_close_stops_every_worker(snmpd: SnmpAgent) -> None:
    pool = SnmpWorkers(2)
    for device in ("a", "b", "c", "d", "e", "f"):
        await pool.poll(device, snmpd.host, v2c(snmpd.port))
    pids = [pid for pid in pool.pids if pid is not None]
    assert len(pids) == 2
    await pool.close()
    assert not any(alive(pid) for pid in pids)
    with pytest.raises(RuntimeError):
        await pool.poll("a", snmpd.host, v2c(snmpd.port))


async def test_a_worker_exits_when_netwatch_dies(snmpd: SnmpAgent) -> None:
    """The parent killed with -9 cannot close anything: the worker sees its stdin end and goes."""
    script = (
        "import asyncio, os, sys\n"
        "from netwatch.models import Secret, SnmpSettings\n"
        "from netwatch.probes.snmp_workers import SnmpWorkers\n"
        "async def main():\n"
        "    pool = SnmpWorkers(1)\n"
        f"    s = SnmpSettings(community=Secret('t', {COMMUNITY!r}), port={snmpd.port})\n"
        f"    sample = await pool.poll('x', {snmpd.host!r}, s)\n"
        "    print(pool.pids[0], sample.ok, flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    parent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert parent.stdout is not None
        line = await asyncio.wait_for(parent.stdout.readline(), 30)
        pid_text, ok = line.decode().split()
        assert ok == "True"
        worker = int(pid_text)
        assert alive(worker)
        parent.kill()
        await parent.wait()
        assert await asyncio.to_thread(gone_within, worker, 10)
    finally:
        if parent.returncode is None:
            parent.kill()
            await parent.wait()


async def test_devices_registered_ahead_poll_as_usual(snmpd: SnmpAgent) -> None:
    """``prepare`` (what the daemon calls at start; a no-op since v3 left pysnmp's engine)
    accepts every kind of target, and every device then polls as usual."""
    no_community = SnmpSettings(port=snmpd.port)
    targets = [
        ("v3-agent", snmpd.host, v3(snmpd.port)),
        ("agent", snmpd.host, v2c(snmpd.port)),
        ("named", "localhost", v2c(snmpd.port)),  # a hostname: left to its first poll
        ("broken", "127.0.0.1", no_community),  # no community: the poll reports it
    ]
    poller = await SnmpPoller.create()
    try:
        await poller.prepare(targets)
        assert (await poller.poll("v3-agent", snmpd.host, v3(snmpd.port))).ok
        assert (await poller.poll("agent", snmpd.host, v2c(snmpd.port))).ok
        broken = await poller.poll("broken", "127.0.0.1", no_community)
        assert broken.failure is not None
    finally:
        poller.close()
    pool = SnmpWorkers(2)
    try:
        await pool.prepare(targets)
        for device, address, settings in targets[:3]:
            sample = await pool.poll(device, address, settings)
            assert sample.ok, sample.failure
    finally:
        await pool.close()
