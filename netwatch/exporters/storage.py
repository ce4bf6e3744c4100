"""``netwatch_storage_ok`` and ``netwatch_storage_errors_total``: can the agent write its files?

One series per store: ``outbox`` (outbox.sqlite), ``history`` (history.sqlite) and ``state``
(incidents.json, operator.json). Read at scrape time from what each store reports, so the
stores stay free of metric plumbing.

>>> from prometheus_client import CollectorRegistry, generate_latest
>>> registry = CollectorRegistry()
>>> registry.register(StorageCollector(lambda: [StoreHealth("outbox", ok=False, errors=3)]))
>>> print(generate_latest(registry).decode().splitlines()[2])
netwatch_storage_ok{store="outbox"} 0.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """One store's state: ``ok`` False while writes fail (what it should hold is in memory)."""

    store: str
    ok: bool
    errors: int  # failed writes since start
    reason: str | None = None  # why not ok, for /-/ready (paths and SQLite's text, no secret)


class StorageCollector(Collector):
    """The storage health series, from ``source()`` at each scrape."""

    def __init__(self, source: Callable[[], Iterable[StoreHealth]]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        ok = GaugeMetricFamily(
            "netwatch_storage_ok",
            "1 while the store's file is written normally; 0 while writes fail and what it "
            "should hold is kept in memory.",
            labels=["store"],
        )
        errors = CounterMetricFamily(
            "netwatch_storage_errors",
            "Failed writes (and reads) of the store's file since the agent started.",
            labels=["store"],
        )
        for health in self._source():
            ok.add_metric([health.store], 1.0 if health.ok else 0.0)
            errors.add_metric([health.store], float(health.errors))
        yield ok
        yield errors
