"""Holds: alerts that wait for a parent to settle, and devices re-checked after one recovers.

The topology races (DESIGN.md, "Pitfalls"): a device whose own failure is confirmed while a
device it depends on is still failing-but-unconfirmed (``suspect``) or has not been polled since
is *held* for up to ``hold`` seconds, shown UNREACHABLE behind the unsettled parent meanwhile
(``held_behind``). A flapping device whose parent changed lately is held too (the parent may be
found flapping as well), and a failing service on a suspect device. When a parent recovers, the
devices that were cut off behind it are *pending* until each has been polled again.

>>> holds = Holds(ctx, book)  # doctest: +SKIP
>>> holds.hold_new(["commune-rtr"], now)  # doctest: +SKIP
>>> IncidentKey("down", "commune-rtr") in holds  # doctest: +SKIP
True
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable

from netwatch.alerting.book import IncidentBook
from netwatch.alerting.context import EngineContext
from netwatch.alerting.incidents import IncidentKey
from netwatch.models import Status


class Holds:
    """The held alerts (key -> held since) and the devices pending a re-check."""

    def __init__(
        self,
        ctx: EngineContext,
        book: IncidentBook,
        recovering: Callable[[str], bool] | None = None,
    ) -> None:
        self._ctx = ctx
        self._book = book
        self._recovering = recovering
        self._held: dict[IncidentKey, float] = {}  # held since
        self._hold_ended: set[str] = set()  # devices whose hold ended this tick: alert now
        self._pending: dict[str, tuple[str, float]] = {}  # device -> (cause, parent back at)
        self._released: set[str] = set()  # re-checked this tick: what it says now stands

    def __contains__(self, key: IncidentKey) -> bool:
        return key in self._held

    def hold(self, key: IncidentKey, since: float) -> None:
        self._held[key] = since

    def drop(self, key: IncidentKey) -> None:
        self._held.pop(key, None)

    def device_up(self, did: str) -> None:
        """Up by its own account: nothing to re-check."""
        self._pending.pop(did, None)

    def forget(self, known: Container[str]) -> None:
        """A reload: forget what concerns devices no longer in ``known``."""
        self._held = {k: v for k, v in self._held.items() if k.device in known}
        self._pending = {d: v for d, v in self._pending.items() if d in known}

    def hold_ended(self, did: str) -> bool:
        """Its down alert's hold ended this tick: the alert opens now."""
        return did in self._hold_ended

    def end_tick(self) -> None:
        self._hold_ended.clear()

    def hold_new(self, touched: Iterable[str], now: float) -> None:
        """Hold the alert of each newly failed device whose parents have not settled yet.

        Decided before the topology is evaluated, so the device is never shown DOWN for what
        may turn out to be its parent's failure (``held_behind``).
        """
        ctx = self._ctx
        for did in touched:
            key = IncidentKey("down", did)
            if (
                did in ctx.inv.devices
                and ctx.own_status(did) is Status.DOWN
                and key not in self._held
                and key not in self._book
                and did not in self._hold_ended
                and did not in self._pending
                and not ctx.flaps.is_flapping(did)
                and not self.settled(did)
            ):
                self.hold_down(did, now)

    def hold_down(self, did: str, now: float) -> None:
        """Hold its down alert from when its failure was confirmed (not from this tick), and
        have its parents polled now."""
        ctx = self._ctx
        self._held[IncidentKey("down", did)] = ctx.own_since.get(did, now)
        ctx.out.recheck.extend(ctx.topo.parents(did))

    def held_behind(self) -> dict[str, str]:
        """Devices shown UNREACHABLE behind a parent that has not settled: held down alerts
        (behind the first such parent) and devices cut off until re-checked."""
        held = {d: cause for d, (cause, _) in self._pending.items()}
        topo = self._ctx.topo
        for key in self._held:
            if key.kind == "down":
                did = key.device
                parents = topo.parents(did)
                unsettled = [p for p in parents if not self.answered_since(p, did)]
                held.setdefault(did, (unsettled or parents)[0])
        return held

    def wants_down(self, did: str) -> bool:
        """Down by its own failure: not cut off behind a parent (a held device is shown behind
        its unsettled parent, but its alert is still only waiting)."""
        ctx = self._ctx
        devices = ctx.topo.devices
        eff = devices[did]
        if ctx.own_status(did) is not Status.DOWN or not eff.blocked:
            return False
        if eff.cause is None:
            return True
        parents = ctx.topo.parents(did)
        cut_off = bool(parents) and all(devices[p].blocked for p in parents)
        return IncidentKey("down", did) in self._held and not cut_off

    def settled(self, did: str) -> bool:
        """Its own failure is proven: some parent answered since it failed and is not failing."""
        parents = self._ctx.topo.parents(did)
        return not parents or any(self.answered_since(p, did) for p in parents)

    def answered_since(self, parent: str, did: str) -> bool:
        """``parent`` is up, not failing, and was polled since ``did`` was confirmed down."""
        ctx = self._ctx
        return (
            not ctx.topo.devices[parent].blocked
            and ctx.own_status(parent) is Status.UP
            and not ctx.suspect(parent)
            and ctx.last_polled(parent) >= ctx.own_since.get(did, 0.0)
        )

    def expire(self, now: float) -> list[tuple[IncidentKey, bool]]:
        """End the holds that are over, in the order they began; for each, whether the engine
        acts now: a flapping alert to open (True), a down alert to open this tick (True) or
        only to show again where it is (False), a service to reconcile (True)."""
        ended: list[tuple[IncidentKey, bool]] = []
        if not self._held:
            return ended
        ctx = self._ctx
        flaps, hold = ctx.flaps, ctx.settings.hold
        for key, since in list(self._held.items()):
            did = key.device
            if key.kind == "flapping":
                parents = ctx.topo.parents(did)
                if not flaps.is_flapping(did) or any(flaps.is_flapping(p) for p in parents):
                    del self._held[key]  # settled already, or its parent's alert covers it
                elif now - since >= hold:
                    del self._held[key]
                    ended.append((key, True))
            elif key.kind == "down":
                if not self.wants_down(did) or flaps.is_flapping(did):
                    del self._held[key]
                    ended.append((key, False))  # no longer behind the parent it waited for
                elif self.settled(did) or now - since >= hold:
                    # Shown DOWN from this tick's evaluation on; the alert opens there, with
                    # what it cut off already counted.
                    del self._held[key]
                    self._hold_ended.add(did)
                    ended.append((key, True))
            elif not ctx.suspect(did) or now - since >= hold:
                del self._held[key]
                ended.append((key, True))
        return ended

    def check_pending(self, now: float) -> list[str]:
        """The devices re-checked (or waited for long enough): released, to evaluate again."""
        settings = self._ctx.settings
        released = []
        for did, (_, since) in list(self._pending.items()):
            polled = self._ctx.last_polled(did) > since
            if self._recovering is not None:
                # A first good poll does not make a down device up (hysteresis): wait for it.
                done = polled and not self._recovering(did)
            else:
                done = polled and now - since >= settings.hold
            if done or now - since >= settings.recheck_timeout:
                del self._pending[did]
                self._released.add(did)
                released.append(did)
        return released

    def may_cut_off(self, did: str) -> bool:
        """Whether a device no longer behind a failed parent may wait for a re-check: not if
        re-checked this tick, nor if only shown behind a parent its own alert waited for."""
        return did not in self._released and did not in self._hold_ended

    def cut_off(self, did: str, cause: str, now: float) -> None:
        """Keep ``did`` UNREACHABLE behind ``cause`` (which recovered) until polled again."""
        self._pending[did] = (cause, now)

    def evaluated(self) -> None:
        """The topology was evaluated: what the re-checks said is taken."""
        self._released = set()
