"""SNMPv1 polling against a net-snmp agent that answers its community over v1 only."""

from __future__ import annotations

import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from netwatch.models import FailureKind, Secret, SnmpSettings
from netwatch.probes.snmp import SnmpPoller
from netwatch.probes.snmp_workers import SnmpWorkers
from tests.snmpd import SnmpAgent, start_snmpd, stop_snmpd, tool_env

pytestmark = pytest.mark.peer

V1_COMMUNITY = "oldgear"
# VACM: the community maps to a group with the v1 security model only, so net-snmp drops the
# same community over v2c (snmpd.conf(5): com2sec, group, view, access).
V1_ONLY = [
    f"com2sec v1only 127.0.0.1 {V1_COMMUNITY}",
    "group v1group v1 v1only",
    "view everything included .1",
    "view everything excluded .1.3.6.1.6.3.10",  # no snmpEngineTime: a GET of it is noSuchName
    'access v1group "" any noauth exact everything none none',
]
SYSTEM = "1.3.6.1.2.1.1"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"
IF_IN_OCTETS = "1.3.6.1.2.1.2.2.1.10"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
HR_STORAGE_DESCR = "1.3.6.1.2.1.25.2.3.1.3"


@pytest.fixture(scope="module")
def agent() -> Iterator[SnmpAgent]:
    with tempfile.TemporaryDirectory(prefix="netwatch-snmpd-v1-") as tmp:
        a = start_snmpd(Path(tmp), users=[], directives=V1_ONLY)
        try:
            yield a
        finally:
            stop_snmpd(a)


@pytest.fixture
async def poller() -> AsyncIterator[SnmpPoller]:
    p = await SnmpPoller.create()
    try:
        yield p
    finally:
        p.close()


def walk(agent: SnmpAgent, version: str, oid: str) -> dict[str, str]:
    """``snmpwalk -v VERSION -c oldgear -On -Oe -Ot -Oq -Ov``: index (after ``oid``) -> value."""
    out = subprocess.run(
        ["snmpwalk", "-v", version, "-c", V1_COMMUNITY, "-On", "-Oe", "-Ot", "-Oq", "-r", "1",
         "-t", "2", agent.target, oid],
        env=tool_env(agent.workdir), capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    values: dict[str, str] = {}
    for line in out.stdout.splitlines():
        name, _, value = line.partition(" ")
        if name.startswith(f".{oid}."):
            values[name[len(oid) + 2 :]] = value.strip().strip('"')
    return values


def settings(agent: SnmpAgent, version: str) -> SnmpSettings:
    return SnmpSettings(
        version=version,  # type: ignore[arg-type]
        community=Secret("test", V1_COMMUNITY),
        port=agent.port,
        timeout=1.0,
        retries=0,
    )


def test_the_agent_is_v1_only(agent: SnmpAgent) -> None:
    """The premise: snmpwalk reads the system group over v1, nothing over v2c."""
    assert walk(agent, "1", SYSTEM)
    assert walk(agent, "2c", SYSTEM) == {}


async def test_a_v1_poll_reads_what_snmpwalk_v1_reads(agent: SnmpAgent, poller: SnmpPoller) -> None:
    """System values, interfaces (names, status, 32-bit counters: v1 has no Counter64) and
    storage equal ``snmpwalk -v1``; the walks are GETNEXT (no GETBULK in v1)."""
    sample = await poller.poll("old-sw", "127.0.0.1", settings(agent, "1"))
    assert sample.ok, sample.failure
    data = sample.data
    assert data is not None
    assert data.table_failures == {}
    system = walk(agent, "1", SYSTEM)
    assert data.system is not None
    assert data.system.sys_name == system["5.0"]
    assert data.system.sys_descr == system["1.0"]
    assert data.system.sys_object_id == system["2.0"].lstrip(".")
    assert data.system.sys_uptime_seconds is not None
    assert abs(data.system.sys_uptime_seconds * 100 - int(system["3.0"])) < 500
    assert data.system.engine_time_seconds is None  # asked, refused (noSuchName), asked without

    names, oper = walk(agent, "1", IF_NAME), walk(agent, "1", IF_OPER)
    assert data.interfaces is not None
    assert names
    assert {str(i.index): i.name for i in data.interfaces} == names
    assert {str(i.index): i.oper_up for i in data.interfaces} == {
        k: v in ("1", "up") for k, v in oper.items()
    }
    octets = walk(agent, "1", IF_IN_OCTETS)
    for row in data.interfaces:
        assert not row.hc  # SNMPv1 cannot carry the 64-bit ifHC* counters
        assert row.in_octets is not None
        assert 0 <= int(octets[str(row.index)]) - row.in_octets < 10_000_000
    assert data.host is not None
    assert sorted(s.description for s in data.host.storage) == sorted(
        walk(agent, "1", HR_STORAGE_DESCR).values()
    )
    for table in ("interfaces", "host"):
        plan = poller.table_plan("old-sw", table)
        assert plan is not None
        assert not plan.bulk


async def test_a_v2c_poll_of_a_v1_only_agent_says_to_use_version_1(
    agent: SnmpAgent, poller: SnmpPoller
) -> None:
    """Not "timeout (wrong community or agent down?)": the agent answered a v1 GET."""
    sample = await poller.poll("old-sw", "127.0.0.1", settings(agent, "2c"))
    assert sample.failure is not None
    assert sample.failure.kind is FailureKind.PROTOCOL
    assert "set snmp.version: 1" in sample.failure.detail
    again = await poller.poll("old-sw", "127.0.0.1", settings(agent, "2c"))
    assert again.failure == sample.failure  # remembered: no second v1 probe


async def test_a_dead_v2c_agent_is_still_a_timeout(agent: SnmpAgent, poller: SnmpPoller) -> None:
    """The v1 probe does not turn a plain timeout into anything else (the test can fail)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        dead = SnmpSettings(community=Secret("t", V1_COMMUNITY), port=port, timeout=0.3, retries=0)
        sample = await poller.poll("gone", "127.0.0.1", dead)
    assert sample.failure is not None
    assert sample.failure.kind is FailureKind.TIMEOUT
    assert "wrong community or agent down?" in sample.failure.detail


async def test_a_v1_poll_through_a_worker_process(agent: SnmpAgent) -> None:
    """The daemon polls SNMP in worker processes by default: v1 works there too."""
    workers = SnmpWorkers(1)
    try:
        sample = await workers.poll("old-sw", "127.0.0.1", settings(agent, "1"))
    finally:
        await workers.close()
    assert sample.ok, sample.failure
    assert sample.data is not None
    assert sample.data.interfaces
