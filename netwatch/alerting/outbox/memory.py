"""What the outbox holds in memory while its file cannot be written (a full or failing disk).

Three kinds of things wait here for the file: deliveries never written (:class:`Held`, in put
order, sent from here meanwhile), the latest change to a stored row (:class:`Op`: sent, retry
or dead) and the keys of held deliveries already sent (for the ``sent`` table, so a re-put is
not sent twice). :class:`Memory` is plain bookkeeping, without I/O; the storage decides when
to write it (:func:`~netwatch.alerting.outbox.journal.write_back`) and calls :meth:`Memory.settle`
once that transaction ended.
"""

from __future__ import annotations

import dataclasses
import json

from netwatch.alerting.outbox.journal import Entry, Held, NewRow, Op, Row, alert_from_json


class Memory:
    """Held deliveries, unwritten row changes and sent keys; at most ``limit`` of the first.

    >>> m = Memory(limit=1)
    >>> added, dropped = m.hold([("k1", "a", "it", "log", "{}", 1.0),
    ...                          ("k2", "a", "it", "log", "{}", 2.0)], known=set())
    >>> added, [h.key for h in dropped]
    (2, ['k1'])
    >>> list(m.held), len(m), bool(m)
    (['k2'], 1, True)
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held: dict[str, Held] = {}  # deliveries never written, in put order
        self.ops: dict[str, Op] = {}  # the latest unwritten change per stored row
        self.sent: dict[str, float] = {}  # keys sent from memory, with when

    def __len__(self) -> int:
        return len(self.held) + len(self.ops) + len(self.sent)

    def __bool__(self) -> bool:
        return bool(self.held or self.ops or self.sent)

    def done_keys(self) -> str:
        """The stored rows already sent or given up (not yet written): as a JSON list."""
        return json.dumps([k for k, op in self.ops.items() if op.kind != "retry"])

    def done(self) -> int:
        """How many stored rows are sent or given up in memory only."""
        return sum(1 for op in self.ops.values() if op.kind != "retry")

    def retrying(self) -> int:
        return sum(1 for op in self.ops.values() if op.kind == "retry")

    def unsent(self) -> int:
        """Held deliveries still to send (dead letters excluded)."""
        return sum(1 for h in self.held.values() if h.dead_at is None)

    def unrecorded(self) -> int:
        """Deliveries sent whose sending the file does not know yet."""
        return len(self.sent) + sum(op.kind == "sent" for op in self.ops.values())

    def fresh(self, rows: list[NewRow]) -> list[NewRow]:
        """The ``rows`` memory does not know of."""
        return [r for r in rows if r[0] not in self.held and r[0] not in self.sent
                and r[0] not in self.ops]  # fmt: skip

    def hold(self, rows: list[NewRow], known: set[str]) -> tuple[int, list[Held]]:
        """Keep ``rows`` (minus the ``known`` keys): the number kept, and the oldest held
        deliveries dropped to stay within the limit."""
        added = 0
        for key, alert_id, contact, channel, alert, now in rows:
            if key in known:
                continue
            self.held[key] = Held(key, alert_id, contact, channel, alert, now, now)
            added += 1
        dropped = []
        while len(self.held) > self.limit:
            dropped.append(self.held.pop(next(iter(self.held))))
        while len(self.sent) > self.limit:  # only a dedup memory
            del self.sent[next(iter(self.sent))]
        return added, dropped

    def record(self, key: str, op: Op) -> bool:
        """Apply ``op`` to the held delivery ``key``; False if it is not held (it is stored)."""
        held = self.held.get(key)
        if held is None:
            return False
        if op.kind == "sent":  # never written: only its key is to be remembered
            del self.held[key]
            self.sent[key] = op.at
        elif op.kind == "dead":
            self.held[key] = dataclasses.replace(
                held, dead_at=op.at, attempts=op.attempts, last_error=op.error
            )
        else:
            self.held[key] = dataclasses.replace(
                held, next_at=op.at, attempts=op.attempts, last_error=op.error
            )
        return True

    def settle(
        self, ops: list[tuple[str, Op]], held: list[Held], sent: list[tuple[str, float]]
    ) -> None:
        """What one transaction wrote (a snapshot taken before it) leaves memory."""
        for key, op in ops:
            if self.ops.get(key) is op:
                del self.ops[key]
        for key, _ in sent:
            self.sent.pop(key, None)
        for h in held:
            # Attempts went on while the transaction ran: what changed since becomes a change
            # to the row just written.
            current = self.held.get(h.key)
            if current is None:
                if h.key in self.sent:  # sent meanwhile
                    self.ops[h.key] = Op("sent", self.sent.pop(h.key))
                continue
            del self.held[h.key]
            if current is not h:
                kind, at = (
                    ("dead", current.dead_at) if current.dead_at else ("retry", current.next_at)
                )
                self.ops[h.key] = Op(kind, at, current.attempts, current.last_error)

    def stored_due(self, rows: list[Row], now: float) -> list[Row]:
        """Of the stored due ``rows``, those still to attempt given the unwritten changes."""
        due = []
        for row in rows:
            op = self.ops.get(row.key)
            if op is None:
                due.append(row)
            elif op.kind == "retry" and op.at <= now:  # a retry whose new time is not written
                due.append(row._replace(attempts=op.attempts))
        return due

    def held_due(self, channel: str, now: float) -> list[Held]:
        """The oldest held delivery of each (alert, contact) of ``channel``, if it is due."""
        seen: set[tuple[str, str]] = set()
        due: list[Held] = []
        for h in self.held.values():
            group = (h.alert_id, h.contact)
            if h.channel != channel or h.dead_at is not None or group in seen:
                continue
            seen.add(group)
            if h.next_at <= now:
                due.append(h)
        return due

    def wake_times(self, channel: str) -> list[float]:
        """When held deliveries of ``channel`` and unwritten retries become due."""
        times = [h.next_at for h in self.held.values() if h.channel == channel and not h.dead_at]
        return times + [op.at for op in self.ops.values() if op.kind == "retry"]

    def entries(self, dead: bool | None) -> list[Entry]:
        """The held deliveries as :class:`Entry` rows (``dead`` as for the file's)."""
        return [
            Entry(key=h.key, channel=h.channel, contact=h.contact,  # type: ignore[arg-type]
                  alert=alert_from_json(h.alert), created_at=h.created_at, next_at=h.next_at,
                  attempts=h.attempts, last_error=h.last_error, dead_at=h.dead_at)
            for h in self.held.values()
            if dead is None or dead == (h.dead_at is not None)
        ]  # fmt: skip
