"""Small HTML building blocks and value formats shared by the status pages.

Every piece of text that may come from the config, a device or a user goes through ``e()``
(``html.escape`` with quotes), so a site named ``<script>`` is shown as text. Times arrive as
ISO strings in the agent's zone (see ``views.iso``) and are shown in that zone's local time.

>>> e('<script>alert("x")</script>')
'&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'
>>> ms(0.0123), percent(0.25), bits(1_500_000)
('12.3 ms', '25 %', '1.5 Mbit/s')
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from netwatch.i18n import failure_text, format_duration, format_time, state_text
from netwatch.i18n import level_text as i18n_level_text
from netwatch.web.recent import MINUTES

Lang = str
NONE = "\u2013"  # an en dash for "no value"


def e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def ms(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return NONE
    return f"{seconds * 1000:.1f} ms"


def percent(ratio: float | None, digits: int = 0) -> str:
    if ratio is None or not math.isfinite(ratio):
        return NONE
    return f"{ratio * 100:.{digits}f} %"


def _scaled(value: float, units: Sequence[str], step: float) -> str:
    for unit in units[:-1]:
        if abs(value) < step:
            return f"{value:.3g} {unit}"
        value /= step
    return f"{value:.3g} {units[-1]}"


def bits(bps: float | None) -> str:
    if bps is None or not math.isfinite(bps):
        return NONE
    return _scaled(bps, ("bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"), 1000.0)


def size(n: float | None) -> str:
    if n is None:
        return NONE
    return _scaled(float(n), ("B", "KiB", "MiB", "GiB", "TiB"), 1024.0)


def when(text: str | None, tz: str, lang: Lang) -> str:
    """An ISO time from the views as ``14:05 ngày 20/11/2023`` (already in the agent's zone)."""
    if not text:
        return NONE
    return format_time(datetime.fromisoformat(text).timestamp(), tz, lang)


def duration(seconds: float | None, lang: Lang) -> str:
    return NONE if seconds is None else format_duration(seconds, lang)


def status_text(status: str, lang: Lang) -> str:
    return state_text(status, lang)


def badge(status: str, lang: Lang) -> str:
    return f'<span class="badge st-{e(status)}">{e(status_text(status, lang))}</span>'


def level_text(level: str, lang: Lang, name: str | None = None) -> str:
    return i18n_level_text(level, lang, name)


def table(head: Sequence[str], rows: Iterable[Iterable[str]], *, body_id: str = "") -> str:
    """A table in a scrolling wrapper; ``head`` is plain text, ``rows`` hold HTML. Each cell
    carries its column's name in ``data-label``, so on a phone the CSS shows each row as a
    card of "label: value" lines instead of a table wider than the screen."""
    ths = "".join(f"<th>{e(h)}</th>" for h in head)
    labels = [f' data-label="{e(h)}"' for h in head]
    trs = "".join(
        "<tr>"
        + "".join(f"<td{labels[i] if i < len(labels) else ''}>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    tbody = f'<tbody id="{e(body_id)}">' if body_id else "<tbody>"
    head_html = f"<thead><tr>{ths}</tr></thead>"
    return f'<div class="scroll"><table class="stack">{head_html}{tbody}{trs}</tbody></table></div>'


def crumbs(path: Sequence[dict[str, Any]]) -> str:
    """The links to the sites above a page (``views.site_path``), the province first."""
    links = " \u203a ".join(f'<a href="/sites/{e(s["id"])}">{e(s["name"])}</a>' for s in path)
    return f'<nav class="crumbs">{links}</nav>'


def failure_reason(failure: dict[str, Any] | None, lang: Lang) -> str:
    """A failure's reason in ``lang``; the probe's own words on hover."""
    if failure is None:
        return NONE
    text = failure_text(f"{failure['kind']}: {failure['detail']}", lang)
    return f'<span title="{e(failure["detail"])}">{e(text)}</span>'


def script_json(data: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` left."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def sparkline(
    points: Sequence[dict[str, Any]], *, slots: int = MINUTES, width: int = 600, height: int = 80
) -> str:
    """An inline SVG of the last ``slots`` minutes ending at the newest point: RTT as a line
    (scaled to the highest RTT shown), loss as red bars from the bottom (100 % = full height).
    A point sits at its minute, so a device watched for ten minutes fills only the right edge.
    ``static/netwatch.js`` draws the same picture when it refreshes."""
    if not points:
        return ""
    times = [datetime.fromisoformat(p["at"]).timestamp() for p in points]
    first = times[-1] - (slots - 1) * 60.0
    step = width / slots
    rtts = [p["rtt_seconds"] for p in points if p["rtt_seconds"] is not None]
    top = max(rtts) if rtts else 0.0
    bars: list[str] = []
    path: list[str] = []
    previous = -2
    for at, p in zip(times, points, strict=True):
        slot = round((at - first) / 60.0)
        if slot < 0:
            continue
        x = slot * step
        loss = p["loss_ratio"] or 0.0
        if loss > 0:
            h = max(1.0, loss * height)
            bars.append(
                f'<rect class="loss" x="{x:.1f}" y="{height - h:.1f}" '
                f'width="{step:.2f}" height="{h:.1f}"/>'
            )
        rtt = p["rtt_seconds"]
        if rtt is None or top <= 0:
            continue
        y = height - 2 - (rtt / top) * (height - 4)
        # A gap of a minute or more (no sample, or no reply) breaks the line.
        if slot == previous + 1:
            path.append(f"L{x + step / 2:.1f} {y:.1f}")
        else:  # "h0": a lone minute still shows, as a dot (round line caps)
            path.append(f"M{x + step / 2:.1f} {y:.1f} h0")
        previous = slot
    line = f'<path class="rtt" d="{" ".join(path)}"/>' if path else ""
    return (
        f'<svg class="spark" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        f'role="img">{"".join(bars)}{line}</svg>'
    )
