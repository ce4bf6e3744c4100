"""The SNMP probe against a real net-snmp agent, a closed port and a garbage responder."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from netwatch.models import FailureKind, InterfaceFilter, Secret, SnmpSettings
from netwatch.probes.snmp import SnmpPoller
from tests.snmpd import (
    AUTH_PASSWORD,
    COMMUNITY,
    PRIV_PASSWORD,
    SnmpAgent,
    free_udp_port,
    snmpd,
    v3_users,
)

__all__ = ["snmpd"]  # the fixture, imported for pytest

pytestmark = pytest.mark.peer

IF_ENTRY = "1.3.6.1.2.1.2.2.1"
IFX_ENTRY = "1.3.6.1.2.1.31.1.1.1"


@pytest.fixture
async def poller() -> AsyncIterator[SnmpPoller]:
    p = await SnmpPoller.create()
    try:
        yield p
    finally:
        p.close()


def v2c(agent: SnmpAgent, **kw: object) -> SnmpSettings:
    return SnmpSettings(community=Secret("test", COMMUNITY), port=agent.port, **kw)  # type: ignore[arg-type]


def v3(
    agent: SnmpAgent, user: str, auth: str | None, priv: str | None, **kw: object
) -> SnmpSettings:
    return SnmpSettings(
        version="3",
        user=user,
        auth_protocol=auth,  # type: ignore[arg-type]
        auth_password=Secret("test", AUTH_PASSWORD) if auth else None,
        priv_protocol=priv,  # type: ignore[arg-type]
        priv_password=Secret("test", PRIV_PASSWORD) if priv else None,
        port=agent.port,
        **kw,  # type: ignore[arg-type]
    )


async def test_v2c_poll_matches_net_snmp_tools(snmpd: SnmpAgent, poller: SnmpPoller) -> None:
    """System, interfaces and host resources equal what snmpget/snmpbulkwalk read."""
    before = snmpd.values("snmpbulkwalk", IFX_ENTRY)
    sample = await poller.poll("agent", snmpd.host, v2c(snmpd))
    after = snmpd.values("snmpbulkwalk", IFX_ENTRY)
    assert sample.ok, sample.failure
    data = sample.data
    assert data is not None
    assert data.system is not None
    assert data.interfaces is not None
    assert data.table_failures == {}

    scalars = snmpd.values("snmpget", "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.5.0")
    assert data.system.sys_descr == scalars["1.3.6.1.2.1.1.1.0"]
    assert data.system.sys_object_id == scalars["1.3.6.1.2.1.1.2.0"].lstrip(".")
    assert data.system.sys_name == scalars["1.3.6.1.2.1.1.5.0"]
    assert data.system.sys_uptime_seconds is not None
    assert data.system.sys_uptime_seconds >= 0

    table = snmpd.values("snmpbulkwalk", IF_ENTRY)
    names = {i.name for i in data.interfaces}
    assert "lo" in names
    for iface in data.interfaces:
        ix = iface.index
        assert iface.name == before[f"{IFX_ENTRY}.1.{ix}"]
        assert iface.hc
        assert iface.admin_up == (table[f"{IF_ENTRY}.7.{ix}"] == "1")
        assert iface.speed_bps == int(before[f"{IFX_ENTRY}.15.{ix}"]) * 1_000_000 or (
            before[f"{IFX_ENTRY}.15.{ix}"] == "0"
        )
        for col, value in ((6, iface.in_octets), (10, iface.out_octets), (7, iface.in_ucast_pkts)):
            lo, hi = int(before[f"{IFX_ENTRY}.{col}.{ix}"]), int(after[f"{IFX_ENTRY}.{col}.{ix}"])
            assert value is not None
            assert lo <= value <= hi, (iface.name, col)
        assert iface.in_errors == int(table[f"{IF_ENTRY}.14.{ix}"])

    host = data.host
    assert host is not None
    storage = snmpd.values("snmpbulkwalk", "1.3.6.1.2.1.25.2.3.1.3")
    assert {s.description for s in host.storage} == set(storage.values())
    assert any(s.type == "ram" and s.size_bytes > 0 for s in host.storage)
    loads = snmpd.values("snmpbulkwalk", "1.3.6.1.2.1.25.3.3.1.2")
    expected_cpus = sum(1 for v in loads.values() if v.isdigit())
    assert len(host.cpu_loads) == expected_cpus  # net-snmp fills hrProcessorLoad after ~1 min
    assert all(0.0 <= v <= 1.0 for v in host.cpu_loads)
    assert host.processes is not None
    assert host.processes > 0
    assert host.load_average is not None


@pytest.mark.parametrize("user", [u for u in v3_users()], ids=lambda u: u.name)
async def test_v3_every_auth_priv_combination(
    snmpd: SnmpAgent, poller: SnmpPoller, user: object
) -> None:
    """Every auth x priv protocol net-snmp offers works, including Blumenthal AES-192/256."""
    u = user  # V3User
    settings = v3(snmpd, u.name, u.auth, u.priv, collect=("system",))  # type: ignore[attr-defined]
    sample = await poller.poll("agent", snmpd.host, settings)
    assert sample.ok, sample.failure
    assert sample.data is not None
    assert sample.data.system is not None
    assert sample.data.system.sys_name


async def test_wrong_community_is_a_timeout_that_says_so(
    snmpd: SnmpAgent, poller: SnmpPoller
) -> None:
    """net-snmp drops a wrong community silently; the failure says what to check."""
    settings = SnmpSettings(
        community=Secret("test", "not-public"), port=snmpd.port, timeout=0.3, retries=0
    )
    sample = await poller.poll("agent-x", snmpd.host, settings)
    assert sample.failure is not None
    assert sample.failure.kind is FailureKind.TIMEOUT
    assert "wrong community" in sample.failure.detail
    assert "agent-x" in sample.failure.detail
    assert "not-public" not in sample.failure.detail


async def test_wrong_v3_password_is_auth_failure(snmpd: SnmpAgent, poller: SnmpPoller) -> None:
    """A wrong auth password gives AUTH with a hint, and never the password."""
    settings = SnmpSettings(
        version="3", user="sha_aes", auth_protocol="sha",
        auth_password=Secret("t", "wrong-password-1"), priv_protocol="aes",
        priv_password=Secret("t", PRIV_PASSWORD), port=snmpd.port, timeout=0.5, retries=0,
    )  # fmt: skip
    sample = await poller.poll("agent-y", snmpd.host, settings)
    assert sample.failure is not None
    assert sample.failure.kind is FailureKind.AUTH
    assert "wrong auth password" in sample.failure.detail
    assert "wrong-password-1" not in sample.failure.detail
    assert "agent-y" in sample.failure.detail


async def test_unknown_v3_user_is_auth_failure_naming_the_user(
    snmpd: SnmpAgent, poller: SnmpPoller
) -> None:
    """An unknown user is AUTH too, with a detail distinct from a wrong password."""
    settings = v3(snmpd, "nobody", "sha", "aes", timeout=0.5, retries=0)
    sample = await poller.poll("agent", snmpd.host, settings)
    assert sample.failure is not None
    assert sample.failure.kind is FailureKind.AUTH
    assert "unknown user nobody" in sample.failure.detail


async def test_unsupported_security_level(snmpd: SnmpAgent, poller: SnmpPoller) -> None:
    """authPriv towards a user that has no privacy key is refused as AUTH."""
    settings = v3(snmpd, "sha_none", "sha", "aes", timeout=0.5, retries=0)
    sample = await poller.poll("agent", snmpd.host, settings)
    assert sample.failure is not None
    assert sample.failure.kind is FailureKind.AUTH


async def test_30_concurrent_v3_polls_all_succeed(snmpd: SnmpAgent, poller: SnmpPoller) -> None:
    """Concurrent first polls of one agent share its engine id/time: no 'not in time window'."""
    users = [u for u in v3_users() if u.priv is not None]
    settings = [v3(snmpd, u.name, u.auth, u.priv, collect=("system", "interfaces")) for u in users]
    settings = (settings * 2)[:30]
    samples = await asyncio.gather(
        *(poller.poll(f"d{i}", snmpd.host, s) for i, s in enumerate(settings))
    )
    assert [s.failure for s in samples] == [None] * 30


async def test_closed_port_is_a_timeout(poller: SnmpPoller) -> None:
    """Nothing listens: no reply, TIMEOUT."""
    settings = SnmpSettings(
        community=Secret("t", "public"), port=free_udp_port(), timeout=0.3, retries=0
    )
    sample = await poller.poll("agent", "127.0.0.1", settings)
    assert sample.failure is not None
    assert sample.failure.kind is FailureKind.TIMEOUT


async def test_collect_system_only(snmpd: SnmpAgent, poller: SnmpPoller) -> None:
    """collect=('system',) collects nothing else."""
    sample = await poller.poll("agent", snmpd.host, v2c(snmpd, collect=("system",)))
    assert sample.ok
    assert sample.data is not None
    assert sample.data.system is not None
    assert sample.data.interfaces is None
    assert sample.data.host is None


async def test_interface_filter(snmpd: SnmpAgent, poller: SnmpPoller) -> None:
    """include/exclude regexes and admin_up_only select interfaces by name and state."""
    only_lo = InterfaceFilter(include=("^lo$",))
    sample = await poller.poll(
        "agent", snmpd.host, v2c(snmpd, collect=("interfaces",), interfaces=only_lo)
    )
    assert sample.data is not None
    assert [i.name for i in sample.data.interfaces or ()] == ["lo"]
    no_lo = InterfaceFilter(exclude=("^lo$",), admin_up_only=True)
    sample = await poller.poll(
        "agent", snmpd.host, v2c(snmpd, collect=("interfaces",), interfaces=no_lo)
    )
    assert sample.data is not None
    assert sample.data.interfaces is not None
    assert all(i.name != "lo" and i.admin_up for i in sample.data.interfaces)


async def test_receive_buffer_is_raised(snmpd: SnmpAgent, poller: SnmpPoller) -> None:
    """The engine's UDP socket gets at least 8 MiB of receive buffer (root: SO_RCVBUFFORCE)."""
    await poller.poll("agent", snmpd.host, v2c(snmpd, collect=("system",)))
    assert poller.receive_buffer_bytes >= 8 * 1024 * 1024 or os.geteuid() != 0
