"""SNMPv3 through netwatch's own codec, differentially against net-snmp's agent and tools.

Every auth x priv combination net-snmp 5.9 offers (MD5, SHA, SHA-224..512 x none, DES, AES,
AES-192/256 Blumenthal and AES-192-C/256-C Reeder) reads the same values as ``snmpget`` /
``snmpbulkwalk -v3``; wrong passwords, a wrong protocol, an unknown user, a restarted agent,
two agents cloned with one engine id and a frozen (slow) agent behave as operators need; and
no secret appears in a failure or a log line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from netwatch.models import FailureKind, Secret, SnmpSettings
from netwatch.probes.snmp import SnmpPoller
from tests.snmpd import (
    AUTH_PASSWORD,
    PRIV_PASSWORD,
    SnmpAgent,
    V3User,
    snmpd,
    start_snmpd,
    stop_snmpd,
    v3_users,
)

__all__ = ["snmpd"]  # the fixture, imported for pytest

pytestmark = pytest.mark.peer

IFX_NAME = "1.3.6.1.2.1.31.1.1.1.1"
SYS = ("1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.5.0")
NOT_IN_TIME_WINDOWS = "1.3.6.1.6.3.15.1.1.2.0"
SECRETS = (AUTH_PASSWORD, PRIV_PASSWORD, "wrong-auth-pass", "wrong-priv-pass")


@pytest.fixture
async def poller() -> AsyncIterator[SnmpPoller]:
    p = await SnmpPoller.create()
    try:
        yield p
    finally:
        p.close()


def v3(port: int, user: str, auth: str | None, priv: str | None, **kw: object) -> SnmpSettings:
    return SnmpSettings(
        version="3", user=user,
        auth_protocol=auth,  # type: ignore[arg-type]
        auth_password=Secret("test", str(kw.pop("auth_password", AUTH_PASSWORD))) if auth else None,
        priv_protocol=priv,  # type: ignore[arg-type]
        priv_password=Secret("test", str(kw.pop("priv_password", PRIV_PASSWORD))) if priv else None,
        port=port, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.mark.parametrize("user", v3_users(), ids=lambda u: u.name)
async def test_every_combination_reads_what_net_snmp_reads(
    snmpd: SnmpAgent, poller: SnmpPoller, user: V3User
) -> None:
    """System scalars and interface names equal snmpget/snmpbulkwalk -v3 as the same user."""
    settings = v3(snmpd.port, user.name, user.auth, user.priv, collect=("system", "interfaces"))
    sample = await poller.poll("agent", snmpd.host, settings)
    assert sample.ok, sample.failure
    assert sample.data is not None
    system, interfaces = sample.data.system, sample.data.interfaces
    assert system is not None
    assert interfaces is not None
    scalars = snmpd.values("snmpget", *SYS, user=user)
    assert system.sys_descr == scalars[SYS[0]]
    assert system.sys_object_id == scalars[SYS[1]].lstrip(".")
    assert system.sys_name == scalars[SYS[2]]
    names = snmpd.values("snmpbulkwalk", IFX_NAME, user=user)
    assert {f"{IFX_NAME}.{i.index}": i.name for i in interfaces} == names


async def test_wrong_auth_password_names_what_to_check(
    snmpd: SnmpAgent, poller: SnmpPoller, caplog: pytest.LogCaptureFixture
) -> None:
    """The agent's wrongDigest report is AUTH, naming auth_password; no secret anywhere."""
    caplog.set_level(logging.DEBUG)
    settings = v3(snmpd.port, "sha256_aes", "sha256", "aes", auth_password="wrong-auth-pass",
                  timeout=0.5, retries=0)  # fmt: skip
    sample = await poller.poll("dev-a", snmpd.host, settings)
    assert sample.failure is not None
    assert sample.failure.kind is FailureKind.AUTH
    assert "wrong auth password" in sample.failure.detail
    assert "auth_password" in sample.failure.detail
    assert "dev-a" in sample.failure.detail
    no_secret(sample.failure.detail)
    no_secret(caplog.text)


async def test_wrong_auth_protocol_is_an_auth_failure(snmpd: SnmpAgent, poller: SnmpPoller) -> None:
    """SHA-512 towards a SHA-1 user: the agent cannot verify the digest: AUTH."""
    settings = v3(snmpd.port, "sha_aes", "sha512", "aes", timeout=0.5, retries=0)
    sample = await poller.poll("dev", snmpd.host, settings)
    assert sample.failure is not None
    assert sample.failure.kind is FailureKind.AUTH
    assert "auth_protocol" in sample.failure.detail


async def test_wrong_priv_password_is_a_timeout_pointing_at_privacy(
    snmpd: SnmpAgent, poller: SnmpPoller, caplog: pytest.LogCaptureFixture
) -> None:
    """net-snmp drops what it cannot decrypt; after a discovery that worked the failure
    says to check the privacy settings, and shows neither password."""
    caplog.set_level(logging.DEBUG)
    for priv, password in (("aes", "wrong-priv-pass"), ("des", PRIV_PASSWORD)):
        settings = v3(snmpd.port, "sha_aes", "sha", priv, priv_password=password,
                      timeout=0.3, retries=0)  # fmt: skip
        sample = await poller.poll("dev-p", snmpd.host, settings)
        assert sample.failure is not None
        assert sample.failure.kind is FailureKind.TIMEOUT
        assert "priv_password or priv_protocol" in sample.failure.detail
        no_secret(sample.failure.detail)
    no_secret(caplog.text)


async def test_unknown_user_and_unsupported_level(snmpd: SnmpAgent, poller: SnmpPoller) -> None:
    """usmStatsUnknownUserNames and usmStatsUnsupportedSecLevels reports become AUTH failures
    that name the user and what to check."""
    unknown = await poller.poll("dev", snmpd.host, v3(snmpd.port, "nobody", "sha", "aes"))
    assert unknown.failure is not None
    assert unknown.failure.kind is FailureKind.AUTH
    assert "unknown user nobody" in unknown.failure.detail
    level = await poller.poll("dev", snmpd.host, v3(snmpd.port, "sha_none", "sha", "aes"))
    assert level.failure is not None
    assert level.failure.kind is FailureKind.AUTH
    assert "unsupported security level authPriv for user sha_none" in level.failure.detail


@pytest.fixture
def workdirs() -> Iterator[list[Path]]:
    with tempfile.TemporaryDirectory(prefix="netwatch-v3-") as tmp:
        paths = [Path(tmp) / name for name in ("a", "b")]
        for path in paths:
            path.mkdir()
        yield paths


USERS = [V3User("sha256_aes", "sha256", "aes"), V3User("md5_des", "md5", "des")]


def restart(agent: SnmpAgent, directives: list[str]) -> SnmpAgent:
    """Stop ``agent`` and start it again on its port with the boots it saved (snmpd run with
    ``-C`` reads only the test's config, so its persisted boots are carried over here)."""
    stop_snmpd(agent)
    saved = (agent.workdir / "persist" / "snmpd.conf").read_text().splitlines()
    kept = [line for line in saved if line.startswith(("engineBoots", "oldEngineID"))]
    return start_snmpd(agent.workdir, USERS, [*directives, *kept], port=agent.port)


async def test_restarted_agent_is_resynchronised(poller: SnmpPoller, workdirs: list[Path]) -> None:
    """An agent restarted (boots + 1, time back to 0) answers our stale boots with
    notInTimeWindow; the poller resynchronises once and the poll succeeds."""
    fixed = ["engineID netwatch-restart"]
    agent = start_snmpd(workdirs[0], USERS, fixed)
    try:
        settings = v3(agent.port, "sha256_aes", "sha256", "aes", timeout=1, retries=1)
        assert (await poller.poll("dev", agent.host, settings)).ok
        before = poller._clients._v3.engine((agent.host, agent.port))
        assert before is not None
        boots = before.boots
        agent = restart(agent, fixed)
        sample = await poller.poll("dev", agent.host, settings)
        assert sample.ok, sample.failure
        after = poller._clients._v3.engine((agent.host, agent.port))
        assert after is not None
        assert after.boots == boots + 1
        reports = agent.values("snmpget", NOT_IN_TIME_WINDOWS)[NOT_IN_TIME_WINDOWS]
        assert int(reports) == 1  # exactly one resynchronisation
    finally:
        stop_snmpd(agent)


async def test_cloned_agents_with_one_engine_id_keep_their_own_clocks(
    poller: SnmpPoller, workdirs: list[Path]
) -> None:
    """Two agents with the same engine id but different boots, on two ports: each target
    keeps its own boots/time, so alternating polls never fall out of the time window."""
    clone = ["engineID netwatch-clone"]
    a = start_snmpd(workdirs[0], USERS, clone)
    b = start_snmpd(workdirs[1], USERS, clone)
    try:
        for _restart in range(2):  # b: boots 3 against a's 1
            b = restart(b, clone)
        for _round in range(3):
            for agent in (a, b):
                settings = v3(agent.port, "md5_des", "md5", "des", collect=("system",))
                sample = await poller.poll(f"dev{agent.port}", agent.host, settings)
                assert sample.ok, sample.failure
        ea = poller._clients._v3.engine((a.host, a.port))
        eb = poller._clients._v3.engine((b.host, b.port))
        assert ea is not None
        assert eb is not None
        assert ea.engine_id == eb.engine_id
        assert eb.boots == ea.boots + 2
        for agent in (a, b):
            reports = agent.values("snmpget", NOT_IN_TIME_WINDOWS)[NOT_IN_TIME_WINDOWS]
            assert int(reports) == 0
    finally:
        stop_snmpd(a)
        stop_snmpd(b)


async def test_slow_agent_answers_a_retry_and_late_replies_are_ignored(
    snmpd: SnmpAgent, poller: SnmpPoller
) -> None:
    """An agent frozen for longer than one try answers the retry (and the stale first try
    later); the poll succeeds, and the next poll is not confused by the late reply."""
    settings = v3(snmpd.port, "sha512_aes256", "sha512", "aes256", timeout=0.4, retries=3,
                  collect=("system",))  # fmt: skip
    assert (await poller.poll("slow", snmpd.host, settings)).ok  # discovered
    os.kill(snmpd.proc.pid, signal.SIGSTOP)
    try:
        task = asyncio.create_task(poller.poll("slow", snmpd.host, settings))
        await asyncio.sleep(0.6)
    finally:
        os.kill(snmpd.proc.pid, signal.SIGCONT)
    sample = await task
    assert sample.ok, sample.failure
    assert sample.duration > 0.5
    again = await poller.poll("slow", snmpd.host, settings)
    assert again.ok, again.failure
    assert sample.data is not None
    assert again.data is not None
    assert sample.data.system is not None
    assert again.data.system is not None
    assert again.data.system.sys_name == sample.data.system.sys_name


async def test_frozen_agent_is_a_timeout(snmpd: SnmpAgent, poller: SnmpPoller) -> None:
    """An agent that never answers within the tries is TIMEOUT, naming the wait."""
    settings = v3(snmpd.port, "sha_none", "sha", None, timeout=0.2, retries=1)
    assert (await poller.poll("frozen", snmpd.host, settings)).ok
    os.kill(snmpd.proc.pid, signal.SIGSTOP)
    try:
        sample = await poller.poll("frozen", snmpd.host, settings)
    finally:
        os.kill(snmpd.proc.pid, signal.SIGCONT)
    assert sample.failure is not None
    assert sample.failure.kind is FailureKind.TIMEOUT
    assert "no reply within 0.4s" in sample.failure.detail
