"""Metric families of the service checks (HTTP, TCP, DNS) and the TLS certificates they saw.

Series carry the device's labels plus ``service``. A value older than two intervals is stale and
left out, as for ICMP; ``netwatch_service_up`` follows the check's status after hysteresis, so
one slow answer does not flip it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric

from netwatch.models import ServiceCheck, Status
from netwatch.probes.service_model import ServiceData
from netwatch.state import CheckState


@dataclass(frozen=True, slots=True)
class ServiceRow:
    """One service check of one device, as the collector sees it at scrape time."""

    service: ServiceCheck
    labels: Sequence[str]  # values of the device's label names, in order
    check: CheckState | None


def service_families(
    rows: Iterable[ServiceRow], label_names: Sequence[str], now: float
) -> Iterator[Metric]:
    names = [*label_names, "service"]
    up = GaugeMetricFamily(
        "netwatch_service_up", "1 if the service check is up.", labels=[*names, "kind"]
    )
    duration = GaugeMetricFamily(
        "netwatch_service_duration_seconds", "Duration of the last service check.", labels=names
    )
    code = GaugeMetricFamily(
        "netwatch_service_status_code", "HTTP status code of the last check.", labels=names
    )
    expiry = GaugeMetricFamily(
        "netwatch_tls_cert_expiry_timestamp_seconds",
        "notAfter of the certificate the service presented, in epoch seconds.",
        labels=names,
    )
    info = GaugeMetricFamily(
        "netwatch_tls_cert_info",
        "The certificate the service presented.",
        labels=[*names, "subject", "issuer"],
    )
    for row in rows:
        values = [*row.labels, row.service.name]
        check = row.check
        status = check.status if check else Status.UNKNOWN
        if status is Status.UNKNOWN:
            continue
        up.add_metric([*values, row.service.kind], 1.0 if status is Status.UP else 0.0)
        last = check.last if check else None
        if last is None or now - last.at > 2 * row.service.interval + row.service.timeout:
            continue
        data = last.data
        if not isinstance(data, ServiceData):
            continue
        duration.add_metric(values, data.duration)
        if data.status_code is not None:
            code.add_metric(values, data.status_code)
        if data.cert is not None:
            expiry.add_metric(values, data.cert.not_after)
            info.add_metric([*values, data.cert.subject, data.cert.issuer], 1.0)
    yield from (up, duration, code, expiry, info)
