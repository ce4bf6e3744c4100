"""The table walker's answer to short GETBULK replies, against a fake SNMPv2c transport.

The fake stands in for ``V2cClient`` (the poller's only v2c I/O) and answers from an in-memory
ifTable/ifXTable like net-snmp does: a GETBULK whose columns do not fit its cap gets fewer
repetitions, and none at all when even one row does not fit.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest

from netwatch.models import FailureKind, Secret, SnmpSettings
from netwatch.probes import snmp_oids as oids
from netwatch.probes import snmp_v2c as v2c
from netwatch.probes.snmp import SnmpPoller
from netwatch.probes.snmp_clients import GET_NEXT

Oid = tuple[int, ...]
SETTINGS = SnmpSettings(community=Secret("test", "public"), collect=("interfaces",))
COLUMNS = {**oids.IF_COLUMNS, **oids.IF_X_COLUMNS}
BEYOND: Oid = (1, 3, 6, 1, 2, 1, 99, 1, 0)  # something past both tables, as in a real view


def if_mib(rows: int) -> dict[Oid, object]:
    """ifTable/ifXTable columns that netwatch reads, with ``rows`` interfaces, 64-bit."""
    mib: dict[Oid, object] = {BEYOND: 1}
    for ix in range(1, rows + 1):
        for name, column in COLUMNS.items():
            value: object = ix * 1000 + column[-1]
            if name in ("ifName", "ifAlias"):
                value = f"{name}-{ix}".encode()
            elif name in ("ifAdminStatus", "ifOperStatus"):
                value = 1
            mib[(*column, ix)] = value
    return mib


@dataclass
class FakeAgent:
    """An agent answering from ``mib``; ``cap`` values per GETBULK at most (net-snmp's
    ``maxGetbulkResponses``: whole repetitions only), or ``truncate`` to cut every GETBULK
    reply to that many values (a packet-size limit), or tooBig for a GETBULK that asks more
    than ``too_big`` values; ``next_empty`` breaks GETNEXT too."""

    mib: dict[Oid, object]
    cap: int | None = None
    truncate: int | None = None
    too_big: int | None = None
    next_empty: bool = False
    requests: list[tuple[int, int]] = field(default_factory=list)  # (pdu type, names)

    def __post_init__(self) -> None:
        self.keys = sorted(self.mib)

    def next_of(self, oid: Oid) -> tuple[Oid, object]:
        at = bisect.bisect_right(self.keys, oid)
        if at == len(self.keys):
            return oid, v2c.END_OF_MIB_VIEW
        key = self.keys[at]
        return key, self.mib[key]

    def answer(self, pdu: int, names: Sequence[Oid], reps: int) -> list[tuple[Oid, object]]:
        self.requests.append((pdu, len(names)))
        if pdu == v2c.GET:
            return [(n, self.mib.get(n, v2c.NO_SUCH_OBJECT)) for n in names]
        if pdu == GET_NEXT:
            return [] if self.next_empty else [self.next_of(n) for n in names]
        assert pdu == v2c.GET_BULK
        if self.too_big is not None and len(names) * reps > self.too_big:
            raise TooBig
        if self.cap is not None:
            reps = min(reps, self.cap // len(names))
        out: list[tuple[Oid, object]] = []
        cursor = list(names)
        for _ in range(reps):
            for i, name in enumerate(cursor):
                cursor[i], value = self.next_of(name)
                out.append((cursor[i], value))
        return out if self.truncate is None else out[: self.truncate]


class TooBig(Exception):
    """The fake agent's way to answer with error-status tooBig."""


class FakeTransport:
    """Has ``V2cClient.request``/``close``; routes each request to the agent at its address."""

    def __init__(self, agents: dict[str, FakeAgent]) -> None:
        self.agents = agents

    async def request(
        self,
        address: tuple[str, int],
        family: int,
        community: bytes,
        pdu_type: int,
        oids: Sequence[Oid],
        *,
        repetitions: int,
        per_try: float,
        retries: int,
    ) -> v2c.Message:
        try:
            varbinds = self.agents[address[0]].answer(pdu_type, list(oids), repetitions)
        except TooBig:
            return v2c.Message(community, v2c.RESPONSE, 1, 1, 0, [])
        return v2c.Message(community, v2c.RESPONSE, 1, 0, 0, varbinds)

    def close(self) -> None:
        pass


@pytest.fixture
async def poller() -> AsyncIterator[SnmpPoller]:
    p = SnmpPoller()
    try:
        yield p
    finally:
        p.close()


def use(poller: SnmpPoller, **agents: FakeAgent) -> None:
    poller._clients._v2c = FakeTransport(  # type: ignore[assignment]
        {address.replace("_", "."): agent for address, agent in agents.items()}
    )


def assert_interfaces(data: object, rows: int) -> None:
    interfaces = getattr(data, "interfaces", None)
    assert interfaces is not None
    assert [i.index for i in interfaces] == list(range(1, rows + 1))
    for iface in interfaces:
        ix = iface.index
        assert iface.name == f"ifName-{ix}"
        assert iface.alias == f"ifAlias-{ix}"
        assert iface.hc
        assert iface.in_octets == ix * 1000 + 6
        assert iface.out_discards == ix * 1000 + 19
        assert iface.speed_bps == (ix * 1000 + 15) * 1_000_000


async def test_cap_below_one_row_halves_the_columns_and_remembers(poller: SnmpPoller) -> None:
    """A 0-value reply to 13 columns narrows to 6; every interface is read; the next poll asks
    6 columns straight away and needs fewer requests."""
    agent = FakeAgent(if_mib(4), cap=10)
    use(poller, **{"127_0_0_1": agent})
    sample = await poller.poll("r1", "127.0.0.1", SETTINGS)
    assert sample.ok, sample.failure
    assert_interfaces(sample.data, 4)
    assert agent.requests[0] == (v2c.GET_BULK, 13)
    assert {names for _pdu, names in agent.requests[1:]} <= {6, 1}  # 13 = 6 + 6 + 1
    plan = poller.table_plan("r1", "interfaces")
    assert plan is not None
    assert (plan.columns, plan.bulk, plan.rows) == (6, True, 4)
    first = len(agent.requests)
    assert plan.requests == first

    agent.requests.clear()
    sample = await poller.poll("r1", "127.0.0.1", SETTINGS)
    assert sample.ok, sample.failure
    assert_interfaces(sample.data, 4)
    assert agent.requests[0] == (v2c.GET_BULK, 6)
    assert all(names <= 6 for _pdu, names in agent.requests)
    assert len(agent.requests) < first
    plan = poller.table_plan("r1", "interfaces")
    assert plan is not None
    assert (plan.columns, plan.requests) == (6, len(agent.requests))


async def test_bulk_that_answers_nothing_ends_in_getnext(
    poller: SnmpPoller, caplog: pytest.LogCaptureFixture
) -> None:
    """GETBULK empty even for one column: 13 -> 6 -> 3 -> 1 -> GETNEXT, all logged with the
    device id; the data are complete and the next poll uses GETNEXT only."""
    caplog.set_level(logging.INFO, logger="netwatch.probes.snmp")
    agent = FakeAgent(if_mib(3), cap=0)
    use(poller, **{"127_0_0_1": agent})
    sample = await poller.poll("r1", "127.0.0.1", SETTINGS)
    assert sample.ok, sample.failure
    assert_interfaces(sample.data, 3)
    bulks = [names for pdu, names in agent.requests if pdu == v2c.GET_BULK]
    assert bulks == [13, 6, 3, 1]
    narrowed = [r.getMessage() for r in caplog.records if "answered a" in r.getMessage()]
    assert len(narrowed) == 4
    assert all(line.startswith("snmp r1:") for line in narrowed)
    assert "GETNEXT" in narrowed[-1]

    agent.requests.clear()
    sample = await poller.poll("r1", "127.0.0.1", SETTINGS)
    assert sample.ok, sample.failure
    assert_interfaces(sample.data, 3)
    assert {req for req in agent.requests} == {(GET_NEXT, 1)}
    assert len(agent.requests) == 13 * (3 + 1)  # each column: its rows, then its end


async def test_getnext_that_answers_nothing_is_a_failure_not_an_empty_table(
    poller: SnmpPoller,
) -> None:
    """An agent that answers nothing at all fails the interfaces table as a protocol error."""
    use(poller, **{"127_0_0_1": FakeAgent(if_mib(3), cap=0, next_empty=True)})
    sample = await poller.poll("r1", "127.0.0.1", SETTINGS)
    assert not sample.ok
    assert sample.failure is not None
    assert sample.failure.kind is FailureKind.PROTOCOL
    assert sample.data is not None
    assert sample.data.interfaces is None
    assert "interfaces" in sample.data.table_failures


async def test_reply_cut_inside_the_first_row_narrows_to_what_fitted(poller: SnmpPoller) -> None:
    """5 values for 13 columns: the 5 are kept, the rest are asked again, 5 columns at most."""
    agent = FakeAgent(if_mib(4), truncate=5)
    use(poller, **{"127_0_0_1": agent})
    sample = await poller.poll("r1", "127.0.0.1", SETTINGS)
    assert sample.ok, sample.failure
    assert_interfaces(sample.data, 4)
    plan = poller.table_plan("r1", "interfaces")
    assert plan is not None
    assert plan.columns == 5


async def test_empty_table_stays_empty_in_one_request(
    poller: SnmpPoller, caplog: pytest.LogCaptureFixture
) -> None:
    """No rows (the first value is past the table): no interfaces, no narrowing, one request,
    interface_rows 0 and one warning naming the device, not one per poll."""
    caplog.set_level(logging.INFO, logger="netwatch.probes.snmp")
    agent = FakeAgent(if_mib(0))
    use(poller, **{"127_0_0_1": agent})
    for _ in range(2):
        sample = await poller.poll("sw9", "127.0.0.1", SETTINGS)
        assert sample.ok, sample.failure
        assert sample.data is not None
        assert sample.data.interfaces == ()
        assert sample.data.interface_rows == 0
    walks = [req for req in agent.requests if req[0] == v2c.GET_BULK]
    assert walks == [(v2c.GET_BULK, 13)] * 2
    plan = poller.table_plan("sw9", "interfaces")
    assert plan is not None
    assert (plan.columns, plan.requests) == (13, 1)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [warnings[0]]
    assert "sw9" in warnings[0]
    assert "no interface table" in warnings[0]


async def test_plans_are_per_device(poller: SnmpPoller) -> None:
    """A capped device's narrow plan does not narrow another device's walks."""
    capped, full = FakeAgent(if_mib(2), cap=10), FakeAgent(if_mib(2))
    use(poller, **{"127_0_0_1": capped, "127_0_0_2": full})
    for device, address in (("capped", "127.0.0.1"), ("full", "127.0.0.2")):
        sample = await poller.poll(device, address, SETTINGS)
        assert sample.ok, sample.failure
        assert_interfaces(sample.data, 2)
    assert full.requests == [(v2c.GET_BULK, 13)]
    plans = [poller.table_plan(d, "interfaces") for d in ("capped", "full")]
    assert [(p.columns if p else None) for p in plans] == [6, 13]


async def test_too_big_halves_repetitions_then_columns(poller: SnmpPoller) -> None:
    """tooBig above 8 values: 25 -> 12 -> 6 -> 3 -> 1 repetitions, then 13 -> 6 columns; all
    interfaces are read, and the next poll asks 6 columns of 1 repetition at once."""
    agent = FakeAgent(if_mib(4), too_big=8)
    use(poller, **{"127_0_0_1": agent})
    sample = await poller.poll("r1", "127.0.0.1", SETTINGS)
    assert sample.ok, sample.failure
    assert_interfaces(sample.data, 4)
    plan = poller.table_plan("r1", "interfaces")
    assert plan is not None
    assert (plan.columns, plan.repetitions, plan.bulk) == (6, 1, True)
    too_big = [req for req in agent.requests if req[1] == 13]
    assert too_big == [(v2c.GET_BULK, 13)] * 5  # 25, 12, 6, 3 and 1 repetitions

    agent.requests.clear()
    sample = await poller.poll("r1", "127.0.0.1", SETTINGS)
    assert sample.ok, sample.failure
    assert_interfaces(sample.data, 4)
    assert agent.requests[0] == (v2c.GET_BULK, 6)
    assert all(names <= 6 for _pdu, names in agent.requests)
