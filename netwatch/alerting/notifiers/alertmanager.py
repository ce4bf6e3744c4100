"""Prometheus Alertmanager, API v2: ``POST /api/v2/alerts`` to every configured instance.

Labels are ``alertname`` (``NetwatchDeviceDown``, ``NetwatchSiteDown``, ...), ``severity``,
``device``, ``site`` and whatever the engine put in ``alert.labels`` (role and one label per
hierarchy level). A firing alert is sent with ``endsAt`` three resend intervals ahead and
:meth:`AlertmanagerNotifier.run` re-posts every active one each interval, as Prometheus does, so
an alert expires by itself if netwatch stops; a resolved alert is sent with ``endsAt`` set to
the time it recovered.

Several contacts may have ``alertmanager: true``: the copies carry the same labels and
Alertmanager merges them. Success means at least one instance accepted the alert (the others
get it from the next refresh). 400 (alert rejected) is final; everything else is retryable.

>>> alertname(_example())
'NetwatchDeviceDown'
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable

import aiohttp

from netwatch.alerting.messages import link, render
from netwatch.alerting.model import Alert, Delivery
from netwatch.alerting.notifiers._http import redact_url
from netwatch.alerting.notifiers.webhook import iso
from netwatch.errors import NotifyError
from netwatch.models import Contact
from netwatch.settings.notify import AlertmanagerSettings, Channel, NotifySettings

log = logging.getLogger(__name__)
TEST_ALERT_LIFETIME = 300.0  # seconds a notify-test alert stays visible
_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")
_NAMES = {
    "flapping": "NetwatchDeviceFlapping",
    "service": "NetwatchServiceDown",
    "digest": "NetwatchWorkstationsDown",
    "cert": "NetwatchCertificateExpiring",
    "test": "NetwatchTest",
    "power": "NetwatchSiteOnBattery",
}


def alertname(alert: Alert) -> str:
    if alert.kind == "down":
        return "NetwatchSiteDown" if alert.subject_kind == "site" else "NetwatchDeviceDown"
    return _NAMES[alert.kind]


def labels(alert: Alert) -> dict[str, str]:
    """The label set; it must be identical for the firing and the resolved post."""
    out = {_LABEL_NAME.sub("_", k): v for k, v in alert.labels.items() if v}
    out.update(alertname=alertname(alert), severity=alert.severity, site=alert.site)
    if alert.subject_kind == "device":
        out["device"] = alert.subject
    if alert.service:
        out["service"] = alert.service
    return {k: v for k, v in out.items() if v}


class AlertmanagerNotifier:
    """Posts alerts to Alertmanager and keeps the firing ones alive; ``run()`` is the refresher.

    >>> # notifier = AlertmanagerNotifier(am_settings, settings, session)
    >>> # task = asyncio.create_task(notifier.run())   # cancel it at shutdown
    """

    channel: Channel = "alertmanager"

    def __init__(
        self,
        am: AlertmanagerSettings,
        settings: NotifySettings,
        session: aiohttp.ClientSession,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._am = am
        self._settings = settings
        self._session = session
        self._clock = clock
        self._active: dict[str, Alert] = {}  # alert id -> last firing alert accepted
        # Serialises posts so a refresh snapshot can never land after the resolved post.
        self._lock = asyncio.Lock()

    @property
    def active(self) -> tuple[Alert, ...]:
        return tuple(self._active.values())

    def adopt(self, alerts: Iterable[Alert]) -> None:
        """Take these firing alerts as posted: the previous notifier's after a reload, or the
        open incidents read back after a restart. ``run`` re-posts them at once; without this
        Alertmanager let every ongoing outage expire after three resend intervals."""
        for alert in alerts:
            if alert.is_firing and alert.kind != "test":
                self._active[alert.id] = alert

    def document(self, alert: Alert, now: float) -> dict[str, object]:
        s = self._settings
        msg = render(alert, s.language, s.timezone, s.external_url, channel=self.channel, now=now)
        if alert.kind == "test":
            ends = now + TEST_ALERT_LIFETIME
        elif alert.is_firing:
            ends = now + 3 * self._am.resend_interval
        else:
            ends = alert.resolved_at if alert.resolved_at is not None else now
        doc: dict[str, object] = {
            "labels": labels(alert),
            "annotations": {"summary": msg.subject, "description": msg.text},
            "startsAt": iso(alert.started_at or now),
            "endsAt": iso(ends),
        }
        url = link(alert, s.external_url)
        if url:
            doc["generatorURL"] = url
        return doc

    async def send(self, delivery: Delivery, contact: Contact) -> None:
        alert = delivery.alert
        async with self._lock:
            await self._post_all([self.document(alert, self._clock())])
            if alert.kind == "test":
                return
            if alert.is_firing:
                self._active[alert.id] = alert
            else:
                self._active.pop(alert.id, None)

    async def refresh_once(self) -> None:
        """Re-post every active firing alert with a fresh ``endsAt``; failures are only logged."""
        async with self._lock:
            if not self._active:
                return
            now = self._clock()
            docs = [self.document(a, now) for a in self._active.values()]
            try:
                await self._post_all(docs)
            except NotifyError as exc:
                log.warning("alertmanager refresh of %d alerts failed: %s", len(docs), exc)

    async def run(self) -> None:
        """Refresh now (what was adopted), then every ``resend_interval``, until cancelled."""
        while True:
            await self.refresh_once()
            await asyncio.sleep(self._am.resend_interval)

    async def _post_all(self, docs: list[dict[str, object]]) -> None:
        results = await asyncio.gather(*(self._post(url, docs) for url in self._am.urls))
        errors = [e for e in results if e is not None]
        if len(errors) < len(results):
            for e in errors:
                log.warning("alertmanager: %s (another instance accepted the alert)", e)
            return
        if not errors:
            raise NotifyError("no alertmanager url configured", retryable=False)
        raise NotifyError("; ".join(str(e) for e in errors),
                          retryable=any(e.retryable for e in errors))  # fmt: skip

    async def _post(self, base: str, docs: Iterable[dict[str, object]]) -> NotifyError | None:
        url = base.rstrip("/") + "/api/v2/alerts"
        where = f"alertmanager {redact_url(base)}"
        timeout = aiohttp.ClientTimeout(total=self._am.timeout)
        try:
            async with self._session.post(url, json=list(docs), timeout=timeout) as resp:
                if 200 <= resp.status < 300:
                    return None
                text = (await resp.text())[:200].strip()
                return NotifyError(f"{where}: HTTP {resp.status} {text}".rstrip(),
                                   retryable=resp.status != 400)  # fmt: skip
        except TimeoutError:
            return NotifyError(f"{where}: no answer within {self._am.timeout:g}s")
        except aiohttp.ClientConnectorError as exc:
            return NotifyError(f"{where}: cannot connect: {exc.os_error.strerror or exc.os_error}")
        except aiohttp.ClientError as exc:
            return NotifyError(f"{where}: {type(exc).__name__}")


def _example() -> Alert:
    return Alert(id="x", state="firing", kind="down", severity="critical", subject="r1",
                 subject_kind="device", site="s", site_name="S")  # fmt: skip
