"""Short GETBULK replies from a real net-snmp agent whose replies are capped.

net-snmp's ``maxGetbulkResponses N`` caps the values in a GETBULK reply; with fewer than the
columns asked it answers with no values at all. netwatch must still read every interface (the
same ones, with the same values, as snmpbulkwalk), remember the narrower request for the next
poll, and log once when an agent's view has no interface table. When the agent's cap changes
(snmpd restarted on the same port with another directive), a narrowed plan widens back after
an hour (on a fake clock), or falls back at once if the agent still caps.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from netwatch.exporters.snmp import SnmpRow, write_snmp
from netwatch.exporters.text import MetricsText, label_pairs
from netwatch.models import Device, Role, Secret, SnmpSettings, Status
from netwatch.probes.snmp import SnmpPoller
from netwatch.probes.snmp_data import Interface, SnmpData
from netwatch.probes.snmp_walk import REPROBE_AFTER, TablePlan, TableWalker
from netwatch.state import CheckState
from tests.snmpd import (
    AUTH_PASSWORD,
    COMMUNITY,
    PRIV_PASSWORD,
    SnmpAgent,
    V3User,
    start_snmpd,
    stop_snmpd,
)

pytestmark = pytest.mark.peer

IF_ENTRY = "1.3.6.1.2.1.2.2.1"
IFX_ENTRY = "1.3.6.1.2.1.31.1.1.1"
HR_STORAGE_DESCR = "1.3.6.1.2.1.25.2.3.1.3"
USER = V3User("sha_aes", "sha", "aes")
RESTRICTED = "restricted"  # a community whose view has the system group and no IF-MIB
NARROWED = "answered a"  # in the log line of a narrowed walk


def _agent(directives: list[str]) -> Iterator[SnmpAgent]:
    with tempfile.TemporaryDirectory(prefix="netwatch-snmpd-") as tmp:
        agent = start_snmpd(Path(tmp), [USER], directives)
        try:
            yield agent
        finally:
            stop_snmpd(agent)


@pytest.fixture(scope="module", params=[10, 3, 1], ids=lambda n: f"maxGetbulkResponses-{n}")
def capped(request: pytest.FixtureRequest) -> Iterator[SnmpAgent]:
    """An snmpd answering at most ``request.param`` values per GETBULK."""
    yield from _agent([f"maxGetbulkResponses {request.param}"])


@pytest.fixture(scope="module")
def few_repeats() -> Iterator[SnmpAgent]:
    """An snmpd answering at most 2 repetitions per GETBULK (whole rows, never short)."""
    yield from _agent(["maxGetbulkRepeats 2"])


@pytest.fixture(scope="module")
def restricted() -> Iterator[SnmpAgent]:
    """An snmpd whose ``restricted`` community sees the system group and no interface table."""
    yield from _agent(
        [
            "view sysonly included .1.3.6.1.2.1.1",
            "view sysonly included .1.3.6.1.2.1.25",
            f"rocommunity {RESTRICTED} 127.0.0.1 -V sysonly",
        ]
    )


@pytest.fixture
async def poller() -> AsyncIterator[SnmpPoller]:
    p = await SnmpPoller.create()
    try:
        yield p
    finally:
        p.close()


def v2c(agent: SnmpAgent, community: str = COMMUNITY) -> SnmpSettings:
    return SnmpSettings(community=Secret("test", community), port=agent.port)


def v3(agent: SnmpAgent) -> SnmpSettings:
    return SnmpSettings(
        version="3",
        user=USER.name,
        auth_protocol="sha",
        auth_password=Secret("test", AUTH_PASSWORD),
        priv_protocol="aes",
        priv_password=Secret("test", PRIV_PASSWORD),
        port=agent.port,
    )


def assert_same_as_walk(
    agent: SnmpAgent,
    interfaces: tuple[Interface, ...],
    before: dict[str, str],
    after: dict[str, str],
) -> None:
    """``interfaces`` are ifTable/ifXTable as snmpbulkwalk read them around the poll."""
    table = agent.values("snmpwalk", IF_ENTRY)
    indices = {int(oid.rsplit(".", 1)[1]) for oid in before if oid.startswith(f"{IFX_ENTRY}.1.")}
    assert indices, "the agent shows interfaces to snmpbulkwalk"
    assert {i.index for i in interfaces} == indices
    for iface in interfaces:
        ix = iface.index
        assert iface.name == before[f"{IFX_ENTRY}.1.{ix}"]
        assert iface.alias == before[f"{IFX_ENTRY}.18.{ix}"]
        assert iface.hc
        assert iface.admin_up == (table[f"{IF_ENTRY}.7.{ix}"] == "1")
        assert iface.oper_up == (table[f"{IF_ENTRY}.8.{ix}"] == "1")
        assert iface.in_errors == int(table[f"{IF_ENTRY}.14.{ix}"])
        assert iface.out_discards == int(table[f"{IF_ENTRY}.19.{ix}"])
        high = int(before[f"{IFX_ENTRY}.15.{ix}"])
        assert iface.speed_bps == high * 1_000_000 or high == 0
        for col, value in (
            (6, iface.in_octets),
            (7, iface.in_ucast_pkts),
            (10, iface.out_octets),
            (11, iface.out_ucast_pkts),
        ):
            lo, hi = int(before[f"{IFX_ENTRY}.{col}.{ix}"]), int(after[f"{IFX_ENTRY}.{col}.{ix}"])
            assert value is not None
            assert lo <= value <= hi, (iface.name, col)


async def poll_like_walk(
    poller: SnmpPoller, agent: SnmpAgent, device: str, settings: SnmpSettings
) -> SnmpData:
    """Poll ``device`` at ``agent``: it must succeed and read the interfaces snmpbulkwalk reads
    around the poll (``assert_same_as_walk``)."""
    before = agent.values("snmpbulkwalk", IFX_ENTRY)
    sample = await poller.poll(device, agent.host, settings)
    after = agent.values("snmpbulkwalk", IFX_ENTRY)
    assert sample.ok, sample.failure
    assert sample.data is not None
    assert sample.data.interfaces is not None
    assert_same_as_walk(agent, sample.data.interfaces, before, after)
    return sample.data


@pytest.mark.parametrize("version", ["2c", "3"])
async def test_capped_agent_gives_every_interface_and_value(
    capped: SnmpAgent, poller: SnmpPoller, version: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Against a capped agent a poll reads what snmpbulkwalk reads; the next one goes straight
    to the narrower request (no narrowing logged, fewer requests, same plan)."""
    settings = v2c(capped) if version == "2c" else v3(capped)
    caplog.set_level(logging.INFO, logger="netwatch.probes.snmp")
    data = await poll_like_walk(poller, capped, "capped", settings)
    assert data.table_failures == {}
    assert data.interfaces is not None
    assert data.interface_rows == len(data.interfaces)
    assert data.host is not None
    storage = capped.values("snmpbulkwalk", HR_STORAGE_DESCR)
    assert {s.description for s in data.host.storage} == set(storage.values())
    first = poller.table_plan("capped", "interfaces")
    assert first is not None
    assert first.columns < 13  # 13 columns never fit in 10 values or fewer
    narrowed = [r for r in caplog.records if NARROWED in r.getMessage()]
    assert narrowed
    assert all("capped" in r.getMessage() for r in narrowed)

    caplog.clear()
    await poll_like_walk(poller, capped, "capped", settings)
    second = poller.table_plan("capped", "interfaces")
    assert second is not None
    assert [r.getMessage() for r in caplog.records if NARROWED in r.getMessage()] == []
    assert (second.columns, second.bulk) == (first.columns, first.bulk)
    assert second.requests < first.requests  # no empty replies before the right size


async def test_capped_agent_is_exported_in_full(capped: SnmpAgent, poller: SnmpPoller) -> None:
    """/metrics of a capped agent's poll has one interface series per ifXTable row, and
    netwatch_snmp_interface_rows says how many rows there were (the bug: 0 series, up 1)."""
    settings = v2c(capped)
    sample = await poller.poll("capped", capped.host, settings)
    assert sample.ok, sample.failure
    state = CheckState(status=Status.UP, last=sample, last_ok=sample)
    dev = Device("capped", capped.host, Role.ROUTER, "site", snmp=settings)
    labels = label_pairs(["device", "site", "role"], ["capped", "site", "router"])
    out = MetricsText()
    write_snmp(out, [SnmpRow(dev, labels, state)], time.time())
    text = out.text()
    rows = len([o for o in capped.values("snmpbulkwalk", f"{IFX_ENTRY}.1") if o])
    assert rows > 0
    assert text.count("\nnetwatch_interface_up{") == rows
    assert f"netwatch_snmp_interface_rows{{{labels}}} {rows}" in text
    assert f"netwatch_snmp_up{{{labels}}} 1" in text


async def test_repetition_cap_needs_no_narrowing(
    few_repeats: SnmpAgent, poller: SnmpPoller, caplog: pytest.LogCaptureFixture
) -> None:
    """maxGetbulkRepeats gives whole rows: all 13 columns per request, every interface read."""
    caplog.set_level(logging.INFO, logger="netwatch.probes.snmp")
    data = await poll_like_walk(poller, few_repeats, "reps", v2c(few_repeats))
    plan = poller.table_plan("reps", "interfaces")
    assert plan is not None
    assert (plan.columns, plan.bulk) == (13, True)
    assert data.interfaces is not None
    assert plan.requests == len(data.interfaces) // 2 + 1  # 2 rows a reply, then the end
    assert [r for r in caplog.records if NARROWED in r.getMessage()] == []


async def test_uncapped_agent_keeps_one_request_of_all_columns(
    restricted: SnmpAgent, poller: SnmpPoller
) -> None:
    """An agent without a cap is still read with all 13 columns, in one request once known."""
    for _ in range(2):
        sample = await poller.poll("full", restricted.host, v2c(restricted))
        assert sample.ok, sample.failure
    plan = poller.table_plan("full", "interfaces")
    assert plan is not None
    assert (plan.columns, plan.bulk, plan.requests) == (13, True, 1)


@pytest.mark.parametrize("version", ["2c", "3"])
async def test_getnext_plan_reads_what_getbulk_reads(
    restricted: SnmpAgent, poller: SnmpPoller, version: str
) -> None:
    """The last resort (GETNEXT, one column per request) works on the wire, v2c and v3: the
    same interfaces and values as snmpbulkwalk, one request per value plus one per column."""
    settings = v2c(restricted) if version == "2c" else v3(restricted)
    poller._walker._plans[("slow", "interfaces")] = TablePlan(
        1, bulk=False
    )  # as learnt from an agent
    data = await poll_like_walk(poller, restricted, "slow", settings)
    plan = poller.table_plan("slow", "interfaces")
    assert plan is not None
    assert plan.bulk is False
    assert data.interfaces is not None
    assert plan.requests == 13 * (len(data.interfaces) + 1)


async def test_no_interface_table_in_view_is_logged_once(
    restricted: SnmpAgent, poller: SnmpPoller, caplog: pytest.LogCaptureFixture
) -> None:
    """A view without IF-MIB gives no interfaces, interface_rows 0, and one log line naming the
    device (not one per poll); the system group still makes the poll a success."""
    caplog.set_level(logging.INFO, logger="netwatch.probes.snmp")
    for _ in range(3):
        sample = await poller.poll("blind-sw", restricted.host, v2c(restricted, RESTRICTED))
        assert sample.ok, sample.failure
        assert sample.data is not None
        assert sample.data.system is not None
        assert sample.data.interfaces == ()
        assert sample.data.interface_rows == 0
    lines = [r for r in caplog.records if "no interface table" in r.getMessage()]
    assert len(lines) == 1
    assert "blind-sw" in lines[0].getMessage()
    assert lines[0].levelno == logging.WARNING


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_plan_widens_back_when_snmpd_lifts_its_cap_and_falls_back_when_it_caps_again(
    poller: SnmpPoller, caplog: pytest.LogCaptureFixture
) -> None:
    """snmpd capped at 3 values narrows the plan; restarted on the same port without the cap,
    the first poll an hour later reads all 13 columns in one request (logged at info) and the
    same values as snmpbulkwalk; restarted capped again, the next try an hour later costs one
    request and goes straight back to 3 columns, with every interface still read."""
    clock = FakeClock()
    poller._walker = TableWalker(poller._clients, clock=clock)
    caplog.set_level(logging.INFO, logger="netwatch.probes.snmp")
    with tempfile.TemporaryDirectory(prefix="netwatch-snmpd-") as tmp:
        workdir = Path(tmp)
        agent = start_snmpd(workdir, [USER], ["maxGetbulkResponses 3"])
        try:
            settings = v2c(agent)
            for _ in range(2):
                sample = await poller.poll("fw", agent.host, settings)
                assert sample.ok, sample.failure
            narrow = poller.table_plan("fw", "interfaces")
            assert narrow is not None
            assert (narrow.columns, narrow.bulk) == (3, True)

            stop_snmpd(agent)  # new firmware: no cap
            agent = start_snmpd(workdir, [USER], [], port=agent.port)
            clock.now += REPROBE_AFTER
            caplog.clear()
            await poll_like_walk(poller, agent, "fw", settings)
            wide = poller.table_plan("fw", "interfaces")
            assert wide is not None
            assert (wide.columns, wide.bulk, wide.requests) == (13, True, 1)
            widened = [r for r in caplog.records if "in full; using them again" in r.getMessage()]
            assert [r.levelno for r in widened if "interfaces table" in r.getMessage()] == [
                logging.INFO
            ]
            assert all(r.getMessage().startswith("snmp fw:") for r in widened)

            stop_snmpd(agent)  # capped again: the plan narrows again as on the first poll
            agent = start_snmpd(workdir, [USER], ["maxGetbulkResponses 3"], port=agent.port)
            sample = await poller.poll("fw", agent.host, settings)
            assert sample.ok, sample.failure
            again = poller.table_plan("fw", "interfaces")
            assert again is not None
            assert (again.columns, again.bulk) == (3, True)

            clock.now += REPROBE_AFTER
            caplog.clear()
            await poll_like_walk(poller, agent, "fw", settings)
            tried = poller.table_plan("fw", "interfaces")
            assert tried is not None
            assert (tried.columns, tried.bulk) == (3, True)
            assert tried.requests == narrow.requests + 1  # the one capped try of 13 columns
            assert [r for r in caplog.records if r.levelno >= logging.INFO] == []
        finally:
            stop_snmpd(agent)
