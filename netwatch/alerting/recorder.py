"""The status history the engine hands the daemon: transitions of devices and sites, and when
each status began.

A device shown UNREACHABLE behind a parent that is not failing (a held alert waiting for its
parent to settle) shows a guess, not history: its transitions are recorded once the guess is
confirmed or undone, so the history and the log never name a healthy parent as the cause.

>>> record = StatusRecord(ctx, book)  # doctest: +SKIP
>>> record.record(old_devices, topo.devices, "device", now)  # doctest: +SKIP
>>> record.since("device", "r1") == now  # doctest: +SKIP
True
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping

from netwatch.alerting.book import IncidentBook
from netwatch.alerting.context import EngineContext
from netwatch.alerting.incidents import IncidentKey
from netwatch.models import Status, Transition
from netwatch.topology import Effective


class StatusRecord:
    """Turns the topology's changes into ``Transition`` values, and dates each status."""

    def __init__(self, ctx: EngineContext, book: IncidentBook) -> None:
        self._ctx = ctx
        self._book = book
        # kind -> subject -> the status the history last got, while a provisional one is shown
        self._unrecorded: dict[str, dict[str, Status]] = {"device": {}, "site": {}}
        # kind -> subject -> when its status last changed (the history's time once dated);
        # every subject has been unknown since the engine started.
        self._since: dict[str, dict[str, float]] = {"device": {}, "site": {}}
        self._started = ctx.clock()

    def record(
        self, old: Mapping[str, Effective], new: Mapping[str, Effective], kind: str, now: float
    ) -> None:
        """The transitions from ``old`` to ``new`` of the subjects that changed, and of those
        whose provisional status is settled now, to the tick's output."""
        out = self._ctx.out.transitions
        incidents = self._book.incidents
        unrecorded = self._unrecorded[kind]
        since = self._since[kind]
        for subject in [*old, *(s for s in unrecorded if s not in old and s in new)]:
            after = new[subject]
            last = unrecorded.get(subject, old[subject].status if subject in old else None)
            if self._provisional(after):
                # Shown behind a parent that has not failed (yet): a guess, not history.
                if last is not None and after.status is not last:
                    unrecorded.setdefault(subject, last)
                continue
            unrecorded.pop(subject, None)
            if last is not None and after.status is not last:
                since[subject] = now
                out.append(
                    Transition(
                        subject,
                        "device" if kind == "device" else "site",
                        last,
                        after.status,
                        now,
                        after.cause,
                    )
                )
            # Whatever goes dark behind an open incident belongs to it (for the resolved text).
            if after.cause is not None:
                inc = incidents.get(IncidentKey("down", after.cause))
                if inc is not None:
                    bucket = inc.affected_devices if kind == "device" else inc.affected_sites
                    bucket[subject] = None

    def _provisional(self, eff: Effective) -> bool:
        """Unreachable behind a device that is not failing: a held device waiting for its parent
        to settle."""
        if eff.status is not Status.UNREACHABLE or eff.cause is None:
            return False
        cause = self._ctx.topo.devices.get(eff.cause)
        return cause is not None and not cause.blocked

    def since(self, kind: str, subject: str) -> float:
        """When the device's or site's status (as recorded in history) last changed; the
        engine's start while it never did (it has been unknown since)."""
        return self._since.get(kind, {}).get(subject, self._started)

    def dated(self, transitions: Iterable[Transition]) -> None:
        """The history dated these changes back to their cause: so does ``since``."""
        for t in transitions:
            self._since.setdefault(t.kind, {})[t.subject] = t.at

    def forget(self, kind: str, known: Container[str]) -> None:
        """A reload: forget the ``kind`` subjects no longer in ``known``."""
        self._unrecorded[kind] = {s: v for s, v in self._unrecorded[kind].items() if s in known}
        self._since[kind] = {s: v for s, v in self._since[kind].items() if s in known}
