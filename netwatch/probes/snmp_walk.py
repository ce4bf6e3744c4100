"""Walking SNMP tables: several columns side by side, and what each device's agent takes.

:class:`TableWalker` GETBULK-walks a table's columns through the poller's
:class:`~netwatch.probes.snmp_clients.SnmpClients` and keeps a :class:`TablePlan` per device
and table: how many columns and repetitions a request may ask, or GETNEXT, as learnt from the
agent's replies, so the next polls of that device go straight to what worked.

Its log lines keep the poller's logger name, ``netwatch.probes.snmp``, as before the split.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from netwatch.models import FailureKind, SnmpSettings
from netwatch.probes import snmp_v2c as v2c
from netwatch.probes.snmp_clients import GET_NEXT, SnmpClients, Target
from netwatch.probes.snmp_errors import ErrorStatus, Refused, RequestFailed
from netwatch.probes.snmp_values import Column, end_of_view

log = logging.getLogger("netwatch.probes.snmp")

MAX_WALK_ROUNDS: Final = 2000  # per column: bounds a walk against an agent that never ends one

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

    >>> TablePlan(columns=13)
    TablePlan(columns=13, bulk=True, repetitions=None, rows=None, requests=0)
    """

    columns: int  # columns per request
    bulk: bool = True  # False: GETNEXT, one column per request
    repetitions: int | None = None  # max-repetitions the agent took without tooBig, if fewer
    rows: int | None = None  # rows the table had last time (sets max-repetitions)
    requests: int = 0  # requests the last walk took


class TableWalker:
    """Walks tables through ``clients``, with one :class:`TablePlan` per (device, table).

    >>> walker = TableWalker(clients)  # doctest: +SKIP
    >>> await walker.walk("sw1", target, settings, "interfaces", oids.IF_COLUMNS)  # doctest: +SKIP
    {'ifDescr': {(1,): b'eth0', ...}, ...}
    """

    def __init__(self, clients: SnmpClients) -> None:
        self._clients = clients
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
        makes the walk ask for fewer columns per request (see :class:`TablePlan`).
        """
        result: dict[str, Column] = {name: {} for name in columns}
        active = list(columns.items())
        cursor = dict(columns)
        plan = self._plans.get((device, table))
        if plan is None:
            plan = self._plans[(device, table)] = TablePlan(len(columns))
        if settings.version == "1":  # no GETBULK in SNMPv1
            plan.bulk, plan.columns = False, 1
        reps = _repetitions(plan, settings)
        requests = 0
        for _round in range(MAX_WALK_ROUNDS * len(columns)):
            if not active:
                break
            batch = active[: plan.columns] if plan.bulk else active[:1]
            requests += 1
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
                if not (plan.bulk and isinstance(error, ErrorStatus) and error.status == 1):
                    raise
                reps = _after_too_big(device, table, plan, reps, len(batch))
                continue
            done = _take(varbinds, batch, cursor, result)
            if len(varbinds) < len(batch):  # short of one row: the columns not answered go on
                _narrow(device, table, plan, len(batch), len(varbinds))
            if done:
                active = [(n, r) for n, r in active if n not in done]
        if active:  # the agent never ended a column: say so rather than return part of it
            raise RequestFailed(_NEVER_ENDS)
        plan.rows = max((len(column) for column in result.values()), default=0)
        plan.requests = requests
        return result


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
