"""Metric families of the service checks (HTTP, TCP, DNS) and the TLS certificates they saw.

Series carry the device's labels plus ``service``. A value older than two intervals is stale and
left out, as for ICMP; ``netwatch_service_up`` follows the check's status after hysteresis, so
one slow answer does not flip it.
"""

from __future__ import annotations

from dataclasses import dataclass

from netwatch.exporters.text import MetricsText, escape
from netwatch.models import ServiceCheck, Status
from netwatch.probes.service_model import ServiceData
from netwatch.state import CheckState


@dataclass(frozen=True, slots=True)
class ServiceRow:
    """One service check of one device, as the collector sees it at scrape time."""

    service: ServiceCheck
    labels: str  # the device's label pairs (``label_pairs``), without ``service``
    check: CheckState | None


class ServiceFamilies:
    """The service and TLS certificate families of one scrape, declared in ``out`` and filled
    check by check (``add``); a value that cannot be written raises (``text.InvalidValue``)."""

    def __init__(self, out: MetricsText) -> None:
        self.up = out.family("netwatch_service_up", "gauge", "1 if the service check is up.")
        self.duration = out.family(
            "netwatch_service_duration_seconds", "gauge", "Duration of the last service check."
        )
        self.code = out.family(
            "netwatch_service_status_code", "gauge", "HTTP status code of the last check."
        )
        self.expiry = out.family(
            "netwatch_tls_cert_expiry_timestamp_seconds",
            "gauge",
            "notAfter of the certificate the service presented, in epoch seconds.",
        )
        self.info = out.family(
            "netwatch_tls_cert_info", "gauge", "The certificate the service presented."
        )

    def add(self, row: ServiceRow, now: float) -> None:
        check = row.check
        status = check.status if check else Status.UNKNOWN
        if status is Status.UNKNOWN:
            return
        labels = f'{row.labels},service="{escape(row.service.name)}"'
        self.up.add(f'{labels},kind="{row.service.kind}"', 1.0 if status is Status.UP else 0.0)
        last = check.last if check else None
        if last is None or now - last.at > 2 * row.service.interval + row.service.timeout:
            return
        data = last.data
        if not isinstance(data, ServiceData):
            return
        self.duration.add(labels, data.duration)
        if data.status_code is not None:
            self.code.add(labels, data.status_code)
        if data.cert is not None:
            self.expiry.add(labels, data.cert.not_after)
            cert = f'subject="{escape(data.cert.subject)}",issuer="{escape(data.cert.issuer)}"'
            self.info.add(f"{labels},{cert}", 1.0)
