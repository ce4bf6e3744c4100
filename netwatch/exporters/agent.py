"""The agent's own counters that live in plain objects (the ICMP prober, the SNMP poller or its
workers, the HTTP guard).

Read at scrape time by a one-method collector registered on the daemon's registry, so the
probers and the web guard need not know about prometheus_client.

>>> stats = AgentStats(icmp_rejected=lambda: 3, snmp_dropped=lambda: 2,
...                    connections=lambda: (5, 1, 0, 2))
>>> [m.name for m in stats.collect()]  # doctest: +NORMALIZE_WHITESPACE
['netwatch_icmp_replies_rejected', 'netwatch_snmp_datagrams_dropped',
 'netwatch_http_connections', 'netwatch_http_connections_closed']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class AgentStats(Collector):
    """``icmp_rejected``: echo replies refused (wrong source address); ``snmp_dropped``: SNMP
    datagrams that answered no pending request; ``connections``: the HTTP guard's (open, timed
    out, evicted, refused). Any may be None: not running."""

    def __init__(
        self,
        *,
        icmp_rejected: Callable[[], int] | None = None,
        snmp_dropped: Callable[[], int] | None = None,
        connections: Callable[[], tuple[int, int, int, int]] | None = None,
    ) -> None:
        self.icmp_rejected = icmp_rejected
        self.snmp_dropped = snmp_dropped
        self.connections = connections

    def collect(self) -> Iterator[Metric]:
        if self.icmp_rejected is not None:
            yield CounterMetricFamily(
                "netwatch_icmp_replies_rejected",
                "Echo replies matching a request but from another address than the one pinged"
                " (forged, or a device answering from another address).",
                value=self.icmp_rejected(),
            )
        if self.snmp_dropped is not None:
            yield CounterMetricFamily(
                "netwatch_snmp_datagrams_dropped",
                "SNMP datagrams received on the polling sockets that answered no pending request"
                " (late replies after a retry was answered or the poll gave up, foreign ones,"
                " or from addresses not polled), dropped.",
                value=self.snmp_dropped(),
            )
        if self.connections is not None:
            open_, timed_out, evicted, refused = self.connections()
            yield GaugeMetricFamily(
                "netwatch_http_connections", "HTTP connections open now.", value=open_
            )
            closed = CounterMetricFamily(
                "netwatch_http_connections_closed",
                "HTTP connections the server closed by reason: timeout (no request header in"
                " time), evicted (idle, to make room), refused (every open one was busy).",
                labels=["reason"],
            )
            closed.add_metric(["timeout"], timed_out)
            closed.add_metric(["evicted"], evicted)
            closed.add_metric(["refused"], refused)
            yield closed
