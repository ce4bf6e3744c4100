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
from netwatch.probes.snmp_walk import REPROBE_AFTER, TablePlan, TableWalker, _widened

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
    than ``too_big`` values; ``next_empty`` breaks GETNEXT too; no answer at all (a timeout)
    to a GETBULK of more than ``silent_above`` columns."""

    mib: dict[Oid, object]
    cap: int | None = None
    truncate: int | None = None
    too_big: int | None = None
    next_empty: bool = False
    silent_above: int | None = None
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
        if self.silent_above is not None and len(names) > self.silent_above:
            raise TimeoutError
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


# --------------------------------------------------------------------------- widening again


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(poller: SnmpPoller) -> FakeClock:
    """The poller's table walker on a fake clock."""
    fake = FakeClock()
    poller._walker = TableWalker(poller._clients, clock=fake)
    return fake


async def poll_ok(poller: SnmpPoller, rows: int) -> None:
    sample = await poller.poll("r1", "127.0.0.1", SETTINGS)
    assert sample.ok, sample.failure
    assert_interfaces(sample.data, rows)


def widened_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "in full; using them again" in r.getMessage()]


@pytest.mark.parametrize(
    ("capped", "narrow"),
    [
        (FakeAgent(if_mib(4), cap=10), (6, True, None)),
        (FakeAgent(if_mib(4), cap=0), (1, False, None)),
        (FakeAgent(if_mib(4), too_big=8), (6, True, 1)),
    ],
    ids=["cap", "getnext", "tooBig"],
)
async def test_narrowed_plan_widens_back_after_an_hour_once_the_agent_takes_it(
    poller: SnmpPoller,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    capped: FakeAgent,
    narrow: tuple[int, bool, int | None],
) -> None:
    """Narrowed, then the agent's cap is lifted: polls within the hour keep the narrow plan;
    the first after it asks all 13 columns, reads everything, keeps 13 columns and logs so at
    info with the device id."""
    caplog.set_level(logging.INFO, logger="netwatch.probes.snmp")
    agent = FakeAgent(if_mib(4), cap=capped.cap, too_big=capped.too_big)
    use(poller, **{"127_0_0_1": agent})
    await poll_ok(poller, 4)
    plan = poller.table_plan("r1", "interfaces")
    assert plan is not None
    assert (plan.columns, plan.bulk, plan.repetitions) == narrow
    assert plan.narrowed_at == clock.now
    agent.cap = agent.too_big = None  # new firmware, or maxGetbulkResponses raised

    clock.now += REPROBE_AFTER - 1
    agent.requests.clear()
    await poll_ok(poller, 4)
    assert agent.requests[0][1] == narrow[0]
    assert widened_lines(caplog) == []

    clock.now += 1
    agent.requests.clear()
    await poll_ok(poller, 4)
    assert agent.requests == [(v2c.GET_BULK, 13)]  # 5 rows asked: the 4 and the table's end
    plan = poller.table_plan("r1", "interfaces")
    assert plan is not None
    assert (plan.columns, plan.bulk, plan.repetitions, plan.narrowed_at) == (13, True, None, None)
    lines = widened_lines(caplog)
    assert len(lines) == 1
    assert lines[0].levelno == logging.INFO
    assert lines[0].getMessage().startswith("snmp r1:")

    clock.now += 10 * REPROBE_AFTER  # wide for good: nothing to try again
    agent.requests.clear()
    await poll_ok(poller, 4)
    assert agent.requests == [(v2c.GET_BULK, 13)]
    assert len(widened_lines(caplog)) == 1


@pytest.mark.parametrize(
    ("agent", "extra"),
    [
        (FakeAgent(if_mib(4), cap=10), 1),
        (FakeAgent(if_mib(4), cap=0), 1),
        (FakeAgent(if_mib(4), too_big=8), 1),
        (FakeAgent(if_mib(4), truncate=5), 0),  # the short reply's 5 values are kept
    ],
    ids=["cap", "getnext", "tooBig", "truncate"],
)
async def test_still_capped_costs_one_request_an_hour_and_falls_back_at_once(
    poller: SnmpPoller,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    agent: FakeAgent,
    extra: int,
) -> None:
    """The agent still caps: the try of the full width costs one request more than a narrow
    poll (none when the short reply had values: they are kept), the walk goes straight back to
    the narrow plan (no step-by-step narrowing, no info line), reads everything, and the next
    try waits another hour."""
    caplog.set_level(logging.INFO, logger="netwatch.probes.snmp")
    use(poller, **{"127_0_0_1": agent})
    await poll_ok(poller, 4)
    await poll_ok(poller, 4)
    narrow = poller.table_plan("r1", "interfaces")
    assert narrow is not None
    caplog.clear()

    for _hour in range(3):
        clock.now += REPROBE_AFTER
        agent.requests.clear()
        await poll_ok(poller, 4)
        assert agent.requests[0][1] == 13
        assert len(agent.requests) == narrow.requests + extra
        plan = poller.table_plan("r1", "interfaces")
        assert plan is not None
        assert (plan.columns, plan.bulk, plan.repetitions) == (
            narrow.columns, narrow.bulk, narrow.repetitions,
        )  # fmt: skip
        assert plan.narrowed_at == clock.now
        assert [r for r in caplog.records if r.levelno >= logging.INFO] == []

        clock.now += REPROBE_AFTER - 1
        agent.requests.clear()
        await poll_ok(poller, 4)
        assert len(agent.requests) == narrow.requests  # within the hour: no try


async def test_silence_to_the_full_width_falls_back_in_the_same_walk(
    poller: SnmpPoller, clock: FakeClock
) -> None:
    """An agent that times out on the wide request (a reply too big for the path, say): the
    poll still succeeds, with the narrow plan, and the full width waits another hour."""
    agent = FakeAgent(if_mib(4), cap=10)
    use(poller, **{"127_0_0_1": agent})
    await poll_ok(poller, 4)
    agent.silent_above = 6
    clock.now += REPROBE_AFTER
    agent.requests.clear()
    await poll_ok(poller, 4)
    assert agent.requests[0] == (v2c.GET_BULK, 13)
    assert agent.requests[1] == (v2c.GET_BULK, 6)
    plan = poller.table_plan("r1", "interfaces")
    assert plan is not None
    assert (plan.columns, plan.narrowed_at) == (6, clock.now)


async def test_a_walk_that_fails_during_the_try_keeps_the_narrow_plan(
    poller: SnmpPoller, clock: FakeClock
) -> None:
    """The device dies in the middle of the try: the poll fails, and the plan is the narrow
    one, not the full width that was never proven."""
    agent = FakeAgent(if_mib(4), cap=10)
    use(poller, **{"127_0_0_1": agent})
    await poll_ok(poller, 4)
    agent.silent_above = 0  # silent to everything
    clock.now += REPROBE_AFTER
    sample = await poller.poll("r1", "127.0.0.1", SETTINGS)
    assert not sample.ok
    plan = poller.table_plan("r1", "interfaces")
    assert plan is not None
    assert (plan.columns, plan.bulk, plan.narrowed_at) == (6, True, clock.now)


def test_plan_set_by_hand_waits_an_hour_from_its_first_walk() -> None:
    """A narrowed plan with no time (set by hand) is not tried wide at once."""
    plan = TablePlan(1, bulk=False)
    assert _widened(plan, 13, 50.0) is None
    assert plan.narrowed_at == 50.0
    assert _widened(plan, 13, 50.0 + REPROBE_AFTER - 1) is None
    narrow = _widened(plan, 13, 50.0 + REPROBE_AFTER)
    assert narrow is not None
    assert (narrow.columns, narrow.bulk) == (1, False)
    assert (plan.columns, plan.bulk, plan.repetitions) == (13, True, None)
    assert _widened(TablePlan(13), 13, 1e9) is None  # a full plan has nothing to try
