"""How the outbox hands a delivery to a channel, waits before retrying, and keeps its tasks alive.

:func:`send` turns every way a send can end into a value (None when the channel took it, else
the :class:`NotifyError` saying why): a notifier's own error, no result in time, a contact or
channel gone from the configuration, or a notifier bug. :class:`Backoff` times the retries.
:func:`supervise` runs one of the outbox's tasks for ever, restarting it when it dies.

>>> Backoff(jitter=0).delay(1), Backoff(jitter=0).delay(3), Backoff(jitter=0).delay(30)
(10.0, 40.0, 600.0)
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from prometheus_client import Counter

from netwatch.alerting.model import Alert, Delivery
from netwatch.alerting.notifiers import Notifier
from netwatch.alerting.routing import LOG_CONTACT
from netwatch.errors import NotifyError
from netwatch.models import Contact
from netwatch.settings.notify import Channel

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Retry timing: ``initial`` doubling (``factor``) up to ``maximum``, ± ``jitter`` share.

    Jitter spreads the retries of a channel that was down, so its queue does not arrive as one
    burst when it comes back. ``give_up_after`` counts from when the delivery was put.
    """

    initial: float = 10.0
    factor: float = 2.0
    maximum: float = 600.0
    jitter: float = 0.2
    give_up_after: float = 86400.0

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (1-based)."""
        base = min(self.maximum, self.initial * self.factor ** max(0, attempts - 1))
        if not self.jitter:
            return base
        return base * (1.0 + self.jitter * (rng or random).uniform(-1.0, 1.0))


async def send(
    alert: Alert,
    contact_name: str,
    channel: str,
    *,
    notifiers: Mapping[Channel, Notifier],
    contacts: Mapping[str, Contact],
    within: float,
) -> NotifyError | None:
    """None when the channel accepted the delivery within ``within`` seconds, else why not."""
    contact = contacts.get(contact_name)
    if contact is None and contact_name == LOG_CONTACT:
        contact = Contact(LOG_CONTACT)  # the agent's own log, not a person
    notifier = notifiers.get(channel)  # type: ignore[call-overload]
    if contact is None:
        return NotifyError(
            f"contact {contact_name} is no longer in the configuration", retryable=False
        )
    if notifier is None:
        # Retryable: a reload that adds the notify.<channel> section will send it.
        return NotifyError(f"channel {channel} is not configured under notify:")
    delivery = Delivery(alert=alert, contact=contact_name, channel=notifier.channel)
    try:
        async with asyncio.timeout(within):
            await notifier.send(delivery, contact)
    except NotifyError as exc:
        return exc
    except TimeoutError:
        return NotifyError(f"{channel}: no result within {within:g}s")
    except Exception as bug:  # a notifier bug must not stop the other deliveries
        # Only the class name: a library's text could hold a URL with a token in it.
        log.error(
            "outbox: %s notifier raised %s for alert %s",
            channel, type(bug).__name__, alert.id,
        )  # fmt: skip
        log.debug("outbox: notifier traceback", exc_info=True)
        return NotifyError(f"{channel}: internal error {type(bug).__name__}")
    return None


async def supervise(
    name: str,
    factory: Callable[[], Awaitable[None]],
    *,
    restarts: Counter,
    restart_delay: float,
) -> None:
    """Run ``factory()`` for ever: if it stops (an uncaught error is a bug), log, count (in
    ``restarts``) and start it again after a pause that doubles from ``restart_delay`` (to a
    minute) while it keeps failing."""
    restarts.labels(name)
    failures = 0
    while True:
        started = time.monotonic()
        try:
            await factory()
            why = "returned"
        except Exception as exc:  # CancelledError is not an Exception: it goes through
            why = f"raised {type(exc).__name__}"
            # The traceback at debug only: a library's text could hold a secret.
            log.debug("outbox: traceback of task %s", name, exc_info=True)
        if time.monotonic() - started > 60.0:
            failures = 0
        failures += 1
        delay = min(60.0, restart_delay * 2 ** (failures - 1))
        restarts.labels(name).inc()
        log.error("outbox: task %s stopped (%s); restarting it in %.1fs", name, why, delay)
        await asyncio.sleep(delay)
