"""The outbox's own metrics: attempts by result, the queue, what memory holds, drops, restarts."""

from __future__ import annotations

from typing import Final, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge

from netwatch.settings.notify import Channel

CHANNELS: Final[tuple[Channel, ...]] = get_args(Channel)


class OutboxMetrics:
    """The series, registered in ``registry``; every per-channel series exists from the start.

    >>> m = OutboxMetrics(CollectorRegistry())
    >>> m.show(pending=3, held=1)
    >>> m.queue._value.get(), m.held._value.get()
    (3.0, 1.0)
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.total = Counter(
            "netwatch_notifications",
            "Notification attempts by channel and result (sent, retry, failed).",
            ["channel", "result"],
            registry=registry,
        )
        for channel in CHANNELS:  # every series exists from the start, at 0
            for result in ("sent", "retry", "failed"):
                self.total.labels(channel, result)
        self.queue = Gauge(
            "netwatch_notification_queue_length",
            "Notifications waiting in the outbox to be sent (dead letters excluded).",
            registry=registry,
        )
        self.held = Gauge(
            "netwatch_notifications_held",
            "Notifications and outbox changes kept in memory because the file cannot take them.",
            registry=registry,
        )
        self.dropped = Counter(
            "netwatch_notifications_dropped",
            "Notifications dropped unsent because the outbox file and its memory were full.",
            ["channel"],
            registry=registry,
        )
        for channel in CHANNELS:
            self.dropped.labels(channel)
        self.restarts = Counter(
            "netwatch_outbox_restarts",
            "Outbox tasks restarted after they stopped on an error.",
            ["task"],
            registry=registry,
        )

    def show(self, *, pending: int, held: int) -> None:
        """Set the queue length and the count of what memory holds."""
        self.queue.set(pending)
        self.held.set(held)
