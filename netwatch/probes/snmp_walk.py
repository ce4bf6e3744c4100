"""Walking SNMP tables: several columns side by side, and what each device's agent takes.

:class:`TableWalker` GETBULK-walks a table's columns through the poller's
:class:`~netwatch.probes.snmp_clients.SnmpClients` and keeps a :class:`TablePlan` per device
and table: how many columns and repetitions a request may ask, or GETNEXT, as learnt from the
agent's replies, so the next polls of that device go straight to what worked. A narrowed plan
tries the full width again every :data:`REPROBE_AFTER` seconds (the agent's firmware or its
``maxGetbulkResponses`` may have changed) and falls back at once if the agent still caps.

Its log lines keep the poller's logger name, ``netwatch.probes.snmp``, as before the split.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from netwatch.models import FailureKind, SnmpSettings
from netwatch.probes import snmp_v2c as v2c
from netwatch.probes.snmp_clients import GET_NEXT, SnmpClients, Target
from netwatch.probes.snmp_errors import ErrorStatus, Refused, RequestFailed
from netwatch.probes.snmp_values import Column, end_of_view

log = logging.getLogger("netwatch.probes.snmp")

MAX_WALK_ROUNDS: Final = 2000  # per column: bounds a walk against an agent that never ends one
# Seconds between two tries of the full width on a narrowed plan. A try the agent still caps
# costs one request (its short or tooBig reply; the walk then goes on with the narrow plan), so
# an hour costs at most one request per narrowed table and device an hour, under 2 % of the
# polls of a device polled every minute, yet a changed agent is read at full width again within
# the hour. Time, not a count of polls: the cost stays the same whatever the poll interval.
REPROBE_AFTER: Final = 3600.0

_OUT_OF_ORDER: Final = Refused(FailureKind.PROTOCOL, "agent returned OIDs out of order")
_NEVER_ENDS: Final = Refused(FailureKind.PROTOCOL, "request loop terminated (a column never ends)")
_EMPTY: Final = Refused(FailureKind.PROTOCOL, "empty response")

Batch = list[tuple[str, tuple[int, ...]]]  # (column name, column OID) per name asked


@dataclass(slots=True)
class TablePlan:
    """How netwatch walks one table of one device, learnt from the agent's replies.

    Agents may cap a GETBULK reply (net-snmp's ``maxGetbulkResponses``, a packet size): a
    13-column request then comes back with fewer than one row, even with no values at all. The
    walker then asks for half the columns per request, down to one, then GETNEXT, and keeps
    what worked here, so the next polls of that device go straight to it. An agent that
    answers tooBig instead gets half the repetitions first, down to one, then the same.

    A narrowed plan is not for ever: :data:`REPROBE_AFTER` seconds after ``narrowed_at`` the
    next walk asks the full width again (all columns, the configured repetitions). If the
    agent answers it in full, the plan stays wide (logged at info); at its first short or
    tooBig reply the walk goes back at once to the narrow plan that worked, for another
    :data:`REPROBE_AFTER` seconds. Only the full width is tried: an agent whose cap grew but
    is still below one row keeps the narrow plan it had.

    >>> TablePlan(columns=13)
    TablePlan(columns=13, bulk=True, repetitions=None, rows=None, requests=0, narrowed_at=None)
    """

    columns: int  # columns per request
    bulk: bool = True  # False: GETNEXT, one column per request
    repetitions: int | None = None  # max-repetitions the agent took without tooBig, if fewer
    rows: int | None = None  # rows the table had last time (sets max-repetitions)
    requests: int = 0  # requests the last walk took
    narrowed_at: float | None = None  # clock time of the last narrowing or failed widening

    def narrower_than(self, width: int) -> bool:
        """Whether requests ask less than ``width`` columns of the configured repetitions."""
        return not self.bulk or self.columns < width or self.repetitions is not None


class TableWalker:
    """Walks tables through ``clients``, with one :class:`TablePlan` per (device, table).

    >>> walker = TableWalker(clients)  # doctest: +SKIP
    >>> await walker.walk("sw1", target, settings, "interfaces", oids.IF_COLUMNS)  # doctest: +SKIP
    {'ifDescr': {(1,): b'eth0', ...}, ...}
    """

    def __init__(self, clients: SnmpClients, clock: Callable[[], float] = time.monotonic) -> None:
        self._clients = clients
        self._clock = clock
        self._plans: dict[tuple[str, str], TablePlan] = {}  # (device, table) -> walk plan

    def plan(self, device: str, table: str) -> TablePlan | None:
        """How ``table`` of ``device`` is walked, ``None`` before its first walk. A copy:
        changing it changes nothing."""
        plan = self._plans.get((device, table))
        return None if plan is None else dataclasses.replace(plan)

    async def walk(
        self,
        device: str,
        target: Target,
        settings: SnmpSettings,
        table: str,
        columns: Mapping[str, tuple[int, ...]],
    ) -> dict[str, Column]:
        """GETBULK-walk several table columns side by side; each stops at its own end.

        Only the end of a column (an OID past it, or endOfMibView) ends it: a reply shorter
        than one row of the columns asked (an agent's cap on GETBULK replies) ends nothing, it
        makes the walk ask for fewer columns per request (see :class:`TablePlan`), or, while
        the full width is tried again, go back to the narrow plan that worked.
        """
        plan = self._plans.get((device, table))
        if plan is None:
            plan = self._plans[(device, table)] = TablePlan(len(columns))
        now = self._clock()
        narrow = None  # while the full width is tried again: the narrow plan that worked
        if settings.version == "1":  # no GETBULK in SNMPv1
            plan.bulk, plan.columns = False, 1
        else:
            narrow = _widened(plan, len(columns), now)
        result: dict[str, Column] = {name: {} for name in columns}
        walk = _Walk(device, table, plan, narrow, now)
        try:
            await self._rounds(walk, target, settings, columns, result)
        except BaseException:
            if walk.narrow is not None:  # an unfinished try of the full width proves nothing
                walk.fall_back(settings)
            raise
        if narrow is not None and walk.narrow is not None:  # the full width worked
            plan.narrowed_at = None
            log.info(
                "snmp %s: the agent now answers %d-column GETBULKs of the %s table in full; "
                "using them again (instead of %s)",
                device, plan.columns, table, _how(narrow),
            )  # fmt: skip
        plan.rows = max((len(column) for column in result.values()), default=0)
        plan.requests = walk.requests
        return result

    async def _rounds(
        self,
        walk: _Walk,
        target: Target,
        settings: SnmpSettings,
        columns: Mapping[str, tuple[int, ...]],
        result: dict[str, Column],
    ) -> None:
        """The requests of one walk, until every column has ended (into ``result``)."""
        device, table, plan = walk.device, walk.table, walk.plan
        active = list(columns.items())
        cursor = dict(columns)
        reps = _repetitions(plan, settings)
        for _round in range(MAX_WALK_ROUNDS * len(columns)):
            if not active:
                break
            batch = active[: plan.columns] if plan.bulk else active[:1]
            walk.requests += 1
            try:
                varbinds = await self._clients.request(
                    target,
                    settings,
                    [cursor[name] for name, _ in batch],
                    pdu=v2c.GET_BULK if plan.bulk else GET_NEXT,
                    reps=reps,
                )
            except RequestFailed as exc:
                error = exc.error
                if settings.version == "1" and isinstance(error, ErrorStatus) and error.status == 2:
                    # SNMPv1's end of the MIB view: noSuchName to a GETNEXT (one column asked)
                    active = active[1:]
                    continue
                if walk.narrow is not None:  # tooBig, or silence: the full width did not work
                    reps = walk.fall_back(settings)
                    continue
                if not (plan.bulk and isinstance(error, ErrorStatus) and error.status == 1):
                    raise
                reps = _after_too_big(device, table, plan, reps, len(batch))
                plan.narrowed_at = walk.now
                continue
            done = _take(varbinds, batch, cursor, result)
            if len(varbinds) < len(batch):  # short of one row: the columns not answered go on
                if walk.narrow is not None:
                    reps = walk.fall_back(settings)
                else:
                    _narrow(device, table, plan, len(batch), len(varbinds))
                    plan.narrowed_at = walk.now
            if done:
                active = [(n, r) for n, r in active if n not in done]
        if active:  # the agent never ended a column: say so rather than return part of it
            raise RequestFailed(_NEVER_ENDS)


@dataclass(slots=True)
class _Walk:
    """One walk in progress: its plan, and the narrow plan to go back to while the full width
    is tried again (``None`` otherwise, or once gone back to it)."""

    device: str
    table: str
    plan: TablePlan
    narrow: TablePlan | None
    now: float  # the clock when the walk began
    requests: int = 0

    def fall_back(self, settings: SnmpSettings) -> int:
        """Back to the narrow plan after the full width failed; the repetitions to ask."""
        plan, narrow = self.plan, self.narrow
        assert narrow is not None
        self.narrow = None
        plan.bulk, plan.columns, plan.repetitions = narrow.bulk, narrow.columns, narrow.repetitions
        plan.narrowed_at = self.now
        log.debug(
            "snmp %s: the agent still caps a full GETBULK of the %s table; back to %s, "
            "the full width is tried again in %g s",
            self.device, self.table, _how(plan), REPROBE_AFTER,
        )  # fmt: skip
        return _repetitions(plan, settings)


def _widened(plan: TablePlan, width: int, now: float) -> TablePlan | None:
    """Make a narrowed ``plan`` ask ``width`` columns again once :data:`REPROBE_AFTER` has
    passed: a copy of the narrow plan to fall back to, or ``None`` if it stays as it is."""
    if not plan.narrower_than(width):
        return None
    if plan.narrowed_at is None:  # narrowed by no walk of ours (a plan set by hand)
        plan.narrowed_at = now
    if now - plan.narrowed_at < REPROBE_AFTER:
        return None
    narrow = dataclasses.replace(plan)
    plan.bulk, plan.columns, plan.repetitions = True, width, None
    return narrow


def _how(plan: TablePlan) -> str:
    """How ``plan`` asks, for a log line."""
    if not plan.bulk:
        return "GETNEXT"
    reps = "" if plan.repetitions is None else f", {plan.repetitions} repetition(s)"
    return f"{plan.columns} column(s) per GETBULK{reps}"


def _repetitions(plan: TablePlan, settings: SnmpSettings) -> int:
    """The max-repetitions of the next walk's GETBULKs."""
    # GETBULK overshoots: with 13 columns, 25 repetitions and 4 interfaces, 80 % of the
    # reply lies past the table and is decoded for nothing. After the first poll, ask for
    # one row more than the table had, so one round usually reads it all and sees its end.
    reps = max(1, settings.max_repetitions)
    if plan.repetitions is not None:
        reps = min(reps, plan.repetitions)
    if plan.rows is not None:
        reps = min(reps, plan.rows + 1)
    return reps


def _take(
    varbinds: list[tuple[Any, Any]],
    batch: Batch,
    cursor: dict[str, tuple[int, ...]],
    result: dict[str, Column],
) -> set[str]:
    """Put a reply's values of ``batch`` into ``result``; the names of the columns it ended."""
    width = len(batch)
    done: set[str] = set()
    for i, (oid, value) in enumerate(varbinds):
        name, root = batch[i % width]
        if name in done:
            continue
        key = tuple(oid)
        if end_of_view(value) or key[: len(root)] != root:
            done.add(name)
            continue
        if key <= cursor[name]:  # a broken agent must not make us loop
            raise RequestFailed(_OUT_OF_ORDER)
        result[name][key[len(root) :]] = value
        cursor[name] = key
    return done


def _after_too_big(device: str, table: str, plan: TablePlan, reps: int, width: int) -> int:
    """The repetitions to ask after tooBig to a GETBULK: fewer rows first, then fewer columns."""
    if reps > 1:
        reps = plan.repetitions = reps // 2
        log.info(
            "snmp %s: the agent answered tooBig to a GETBULK of the %s table; "
            "asking %d repetitions from now on",
            device, table, reps,
        )  # fmt: skip
    else:
        _narrow(device, table, plan, width, 0, "tooBig")
    return reps


def _narrow(
    device: str, table: str, plan: TablePlan, asked: int, got: int, answer: str = ""
) -> None:
    """Ask for fewer columns per request after a reply of ``got`` values for ``asked``."""
    if not plan.bulk:  # GETNEXT answers one value per name asked; none is a broken agent
        raise RequestFailed(_EMPTY)
    if asked > 1:
        plan.columns = max(1, min(asked // 2, got or asked))
        how = f"{plan.columns} column(s) per GETBULK"
    else:
        plan.bulk = False
        plan.columns = 1
        how = "GETNEXT"
    log.info(
        "snmp %s: the agent answered a %d-column GETBULK of the %s table with %s; "
        "using %s for it from now on",
        device, asked, table, answer or f"{got} value(s)", how,
    )  # fmt: skip
