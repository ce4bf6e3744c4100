"""Alert → the short text an IT officer reads on a phone (subject line and body).

What is down, since when (local time), how many sites it cut off, why, and a link to the status
page; every text comes from ``netwatch.i18n``. Bodies stay under ``MAX_TEXT`` characters so a
Telegram preview or an SMS gateway shows them whole.

>>> from netwatch.alerting.model import Alert
>>> a = Alert(id="device:nk-rtr:1700000000", state="firing", kind="down", severity="critical",
...           subject="nk-rtr", subject_kind="device", site="ninh-kieu",
...           site_name="Quận Ninh Kiều", device_name="Router Ninh Kiều",
...           started_at=1700000000.0, affected_sites=("an-binh", "an-hoa"))
>>> m = render(a, "vi", "Asia/Ho_Chi_Minh", "https://nw.example.gov.vn")
>>> m.subject
'MẤT KẾT NỐI: Router Ninh Kiều — Quận Ninh Kiều'
>>> print(m.text)
MẤT KẾT NỐI: Router Ninh Kiều
Đơn vị: Quận Ninh Kiều
Từ: 05:13 ngày 15/11/2023
Ảnh hưởng: 2 đơn vị, 0 thiết bị
Xem: https://nw.example.gov.vn/devices/nk-rtr
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import tzinfo
from typing import Final
from urllib.parse import quote

from netwatch.alerting.model import Alert
from netwatch.i18n import (
    failure_text,
    format_clock,
    format_duration,
    format_time,
    language,
    same_day,
    t,
)

MAX_TEXT: Final = 600  # characters; a phone's notification preview and one long SMS-ish block
MAX_DETAIL: Final = 160
MAX_ITEMS: Final = 8


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered notification: a one-line ``subject`` and a few-line ``text``."""

    subject: str
    text: str


def link(alert: Alert, status_url: str) -> str:
    """The status page of what the alert is about, or ``""`` without an external URL."""
    if not status_url:
        return ""
    base = status_url.rstrip("/")
    if alert.subject_kind == "device" and alert.kind != "digest":
        return f"{base}/devices/{quote(alert.subject, safe='')}"
    return f"{base}/sites/{quote(alert.site or alert.subject, safe='')}"


def _headline(alert: Alert, lang: str) -> str:
    firing = alert.is_firing
    if alert.kind == "test":
        return t("test", lang)
    if alert.kind == "digest":
        if not firing:
            return t("digest_resolved", lang)
        back = sum(d is not None for d in alert.item_downtimes)
        down = len(alert.items) - back
        return t("digest", lang, n=down) if down else t("digest_day", lang, n=len(alert.items))
    if alert.kind == "flapping":
        if not firing and alert.ended == "still_down":
            return t("flapping_ended_down", lang)
        return t("flapping" if firing else "flapping_resolved", lang)
    if alert.kind == "cert":
        return t("cert" if firing else "cert_resolved", lang)
    if not firing:
        return t("no_longer_monitored" if alert.ended == "removed" else "resolved", lang)
    if alert.kind == "service":
        return t("service_down", lang)
    return t("site_down" if alert.subject_kind == "site" else "down", lang)


def _what(alert: Alert) -> str:
    if alert.subject_kind == "site":
        return alert.site_name or alert.subject
    device = alert.device_name or alert.subject
    return f"{alert.service} @ {device}" if alert.service else device


def _digest_item(alert: Alert, k: int, lang: str) -> str:
    """One workstation of a digest: its name, and how long it was down if it is back."""
    name = _clip(alert.items[k], 60)
    down = alert.item_downtimes[k] if k < len(alert.item_downtimes) else None
    if down is None:
        return f"• {name}"
    return "• " + t("digest_item_back", lang, device=name, duration=format_duration(down, lang))


def detail_text(kind: str, detail: str, lang: str) -> str:
    """An alert's detail as a person reads it in ``lang``. A failure's reason is translated
    (``failure_text``); the engine's own English notes (a flapping count, a digest's tally)
    are left out of a Vietnamese message, whose other lines already say the same."""
    if kind in ("down", "service"):
        return failure_text(detail, lang)
    return detail if language(lang) == "en" and kind != "digest" else ""


def _power(alert: Alert, lang: str, tz: str | tzinfo, url: str) -> Message:
    """A site on UPS battery (alerting/power.py): one line says it all, then since when."""
    site = alert.site_name or alert.site
    if not alert.is_firing:
        headline = t("power_restored", lang, site=site)
    elif alert.detail.isdigit():
        headline = t("power_on_battery", lang, site=site, minutes=alert.detail)
    else:
        headline = t("power_on_battery_unknown", lang, site=site)
    lines = [headline, t("line_since", lang, time=format_time(alert.started_at, tz, lang))]
    if url:
        lines.append(t("line_link", lang, url=url))
    return Message(subject=_clip(headline, 200), text="\n".join(lines)[:MAX_TEXT])


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())  # one line: a multi-line detail would break the layout
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(
    alert: Alert,
    lang: str,
    tz: str | tzinfo,
    status_url: str,
    *,
    channel: str = "",
    now: float | None = None,
) -> Message:
    """The subject and text of ``alert`` in ``lang``, times in ``tz``.

    ``channel`` names the channel in a test message; ``now`` is its "sent at" time.
    """
    headline = _headline(alert, lang)
    what = _what(alert)
    url = link(alert, status_url)
    prefix = f"[{t('escalated', lang)}] " if alert.escalated and alert.is_firing else ""
    if alert.repeat and alert.is_firing:
        prefix = f"[{t('reminder', lang, n=alert.repeat)}] {prefix}"

    if alert.kind == "test":
        return _test(headline, lang, tz, url, channel, now)

    if alert.kind == "power":
        return _power(alert, lang, tz, url)

    if alert.kind == "digest":
        subject = f"{prefix}{headline} — {alert.site_name or alert.site}"
        head = [f"{prefix}{headline}", t("line_site", lang, site=alert.site_name or alert.site)]
    elif alert.subject_kind == "site":
        subject = f"{prefix}{headline}: {what}"
        head = [f"{prefix}{headline}: {what}"]
    else:
        subject = f"{prefix}{headline}: {what} — {alert.site_name or alert.site}"
        head = [f"{prefix}{headline}: {what}", t("line_site", lang, site=alert.site_name)]

    tail = _firing_tail(alert, lang, tz) if alert.is_firing else _resolved_tail(alert, lang, tz)
    if url:
        tail.append(t("line_link", lang, url=url))
    return Message(subject=_clip(subject, 200), text=_fit(alert, lang, head, tail))


def _test(
    headline: str, lang: str, tz: str | tzinfo, url: str, channel: str, now: float | None
) -> Message:
    """A test message: which channel it went through and when it was sent."""
    when = format_time(time.time() if now is None else now, tz, lang)
    lines = [headline, t("test_note", lang, channel=channel or "?"),
             t("line_sent_at", lang, time=when)]  # fmt: skip
    if url:
        lines.append(t("line_link", lang, url=url))
    return Message(subject=headline, text="\n".join(lines))


def _firing_tail(alert: Alert, lang: str, tz: str | tzinfo) -> list[str]:
    """Since when, what it cuts off, why, and whether it was escalated."""
    tail = [t("line_since", lang, time=format_time(alert.started_at, tz, lang))]
    if alert.affected_sites or alert.affected_devices:
        tail.append(t("affected", lang, sites=len(alert.affected_sites),
                      devices=len(alert.affected_devices)))  # fmt: skip
    if alert.kind == "flapping":
        tail.append(t("flapping_note", lang))
    if detail := detail_text(alert.kind, alert.detail, lang):
        tail.append(t("line_detail", lang, detail=_clip(detail, MAX_DETAIL)))
    if alert.escalated:
        tail.append(t("escalated_note", lang))
    return tail


def _resolved_tail(alert: Alert, lang: str, tz: str | tzinfo) -> list[str]:
    """How it ended (removed, still down), or how long it lasted and from when to when."""
    if alert.ended:
        return [t(f"{alert.ended}_note", lang)]
    end = alert.resolved_at if alert.resolved_at is not None else alert.started_at
    lasted = format_duration(end - alert.started_at, lang)
    start = format_time(alert.started_at, tz, lang)
    # "from 14:05 on 20/11 to 15:10": the date once when both ends fall on the same day
    same = same_day(alert.started_at, end, tz)
    second = format_clock(end, tz) if same else format_time(end, tz, lang)
    return [
        t("line_duration", lang, duration=lasted),
        t("line_period", lang, start=start, end=second),
    ]


def _fit(alert: Alert, lang: str, head: list[str], tail: list[str]) -> str:
    """The body under ``MAX_TEXT``: a firing digest's items between head and tail, as many
    as fit (up to ``MAX_ITEMS``, then "and N more")."""
    shown = MAX_ITEMS if alert.kind == "digest" and alert.is_firing else 0
    while True:
        items = [_digest_item(alert, k, lang) for k in range(min(shown, len(alert.items)))]
        if len(alert.items) > shown > 0:
            items.append(t("digest_more", lang, n=len(alert.items) - shown))
        text = "\n".join(head + items + tail)
        if len(text) <= MAX_TEXT or shown == 0:
            break
        shown -= 1  # drop digest items first: the count and the link matter more
    return text[:MAX_TEXT]
