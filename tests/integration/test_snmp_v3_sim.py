"""SNMPv3 through netwatch's codec against snmpsim (pysnmp's agent side): a second, unrelated
USM implementation, serving the 48-port core-router recording by context name.

snmpsim 1.2 here has one v3 user per engine. With privacy, snmpsim 1.2.2 answers every
encrypted request, net-snmp's ``snmpget``'s as well as ours, with a decryptionError report
(checked with DES and AES, SHA and SHA-256): values are compared at authNoPriv, and with
privacy the test is that netwatch says what ``snmpget`` says (and the snmpd tests cover
privacy values).
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator

import pytest

from netwatch.models import FailureKind, Secret, SnmpSettings
from netwatch.probes.snmp import SnmpPoller
from tests.snmpd import tool_env
from tests.snmpsim import DATA, Simulator, running

pytestmark = pytest.mark.peer

USER, AUTH_KEY = "simuser", "sim-auth-key-1"
V3_ARGS = (
    "--v3-engine-id=auto", f"--v3-user={USER}", f"--v3-auth-key={AUTH_KEY}",
    "--v3-auth-proto=SHA256", "--v3-priv-key=sim-priv-key-2", "--v3-priv-proto=NONE",
)  # fmt: skip
IFX_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IFX_HC_IN = "1.3.6.1.2.1.31.1.1.1.6"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    yield from running(DATA / "devices", V3_ARGS)


@pytest.fixture
async def poller() -> AsyncIterator[SnmpPoller]:
    p = await SnmpPoller.create()
    try:
        yield p
    finally:
        p.close()


def v3(sim: Simulator, context: str, password: str = AUTH_KEY, **kw: object) -> SnmpSettings:
    return SnmpSettings(
        version="3", user=USER, auth_protocol="sha256", auth_password=Secret("t", password),
        context=context, port=sim.port, **{"timeout": 5, **kw},  # type: ignore[arg-type]
    )  # fmt: skip


async def test_48_port_router_over_v3_reads_what_v2c_reads(
    sim: Simulator, poller: SnmpPoller
) -> None:
    """The core-router recording by v3 (context 'core-router') equals it by v2c, table for
    table: 48 interfaces, names and counters (counters grow: bounded by two v2c walks)."""
    before = sim.values("snmpbulkwalk", "core-router", IFX_HC_IN)
    sample = await poller.poll("core", sim.host, v3(sim, "core-router"))
    after = sim.values("snmpbulkwalk", "core-router", IFX_HC_IN)
    assert sample.ok, sample.failure
    assert sample.data is not None
    interfaces = sample.data.interfaces
    assert interfaces is not None
    assert len(interfaces) == 48
    names = sim.values("snmpbulkwalk", "core-router", IFX_NAME)
    assert {f"{IFX_NAME}.{i.index}": i.name for i in interfaces} == names
    for iface in interfaces:
        key = f"{IFX_HC_IN}.{iface.index}"
        assert iface.in_octets is not None
        assert int(before[key]) <= iface.in_octets <= int(after[key])
    system = sample.data.system
    assert system is not None
    assert system.sys_name == "can-tho-core"


async def test_wrong_password_against_pysnmp_agent(sim: Simulator, poller: SnmpPoller) -> None:
    """pysnmp's agent reports wrongDigest too: AUTH, naming what to check, not the key."""
    sample = await poller.poll("core", sim.host, v3(sim, "core-router", "not-the-key-9",
                                                   retries=0, timeout=1))  # fmt: skip
    assert sample.failure is not None
    assert sample.failure.kind is FailureKind.AUTH
    assert "auth_password" in sample.failure.detail
    assert "not-the-key-9" not in sample.failure.detail
    assert AUTH_KEY not in sample.failure.detail


PRIV_KEY = "sim-priv-key-3"


@pytest.fixture(scope="module")
def sim_priv() -> Iterator[Simulator]:
    yield from running(
        DATA / "devices",
        ("--v3-engine-id=auto", f"--v3-user={USER}", f"--v3-auth-key={AUTH_KEY}",
         "--v3-auth-proto=SHA", f"--v3-priv-key={PRIV_KEY}", "--v3-priv-proto=AES"),
    )  # fmt: skip


async def test_with_privacy_netwatch_says_what_snmpget_says(
    sim_priv: Simulator, poller: SnmpPoller
) -> None:
    """authPriv SHA/AES: if net-snmp's snmpget reads sysName, netwatch reads the same; if the
    agent answers snmpget with a decryption error, netwatch's failure says so (AUTH, naming
    the privacy settings, not the key)."""
    argv = [
        "snmpget", "-v3", "-u", USER, "-l", "authPriv", "-a", "SHA", "-A", AUTH_KEY,
        "-x", "AES", "-X", PRIV_KEY, "-n", "core-router", "-Oqv", "-r", "1", "-t", "3",
        f"udp:{sim_priv.host}:{sim_priv.port}", "1.3.6.1.2.1.1.5.0",
    ]  # fmt: skip
    tool = await asyncio.to_thread(
        subprocess.run,
        argv, env=tool_env(sim_priv.workdir), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    settings = SnmpSettings(
        version="3", user=USER, auth_protocol="sha", auth_password=Secret("t", AUTH_KEY),
        priv_protocol="aes", priv_password=Secret("t", PRIV_KEY), context="core-router",
        port=sim_priv.port, timeout=3, retries=1, collect=("system",),
    )  # fmt: skip
    sample = await poller.poll("core", sim_priv.host, settings)
    if tool.returncode == 0:
        assert sample.ok, sample.failure
        assert sample.data is not None
        assert sample.data.system is not None
        assert sample.data.system.sys_name == tool.stdout.strip().strip('"')
        return
    assert "Decryption error" in tool.stderr
    assert sample.failure is not None
    assert sample.failure.kind is FailureKind.AUTH
    assert "decryption failed" in sample.failure.detail
    assert "priv_password" in sample.failure.detail
    assert PRIV_KEY not in sample.failure.detail
