"""Report output formats, chosen by name from ``FORMATS``: table, csv, json, html.

Every renderer returns UTF-8 bytes, ready for a file or ``sys.stdout.buffer``:

- ``table``: aligned columns for a terminal (width-aware for Vietnamese diacritics).
- ``csv``: UTF-8 with a byte-order mark and CRLF line ends, so spreadsheet programs open it with
  the diacritics intact; durations in whole seconds, availability in percent with a dot. A text
  cell (id, name, level, site) that starts with ``=``, ``+``, ``-``, ``@``, tab or CR gets a
  leading ``'`` so a spreadsheet shows it instead of evaluating it as a formula (OWASP "CSV
  injection"); numeric cells are never touched.
- ``json``: :meth:`Report.to_json` (``{"from", "to", "by", "rows": [...]}``).
- ``html``: one self-contained printable file: inline CSS, an inline SVG bar chart of
  availability per row and an SVG timeline of outages; every name goes through ``html.escape``.
  Its only style is the one ``<style>`` block (no ``style=`` attributes), so a page served with
  a Content-Security-Policy allows it by its hash, ``STYLE_HASH``.

>>> from datetime import datetime
>>> from netwatch.history.report import Report
>>> render(Report(datetime(2026, 10, 1), datetime(2026, 11, 1), "site", None, "UTC"), "csv")[:3]
b'\\xef\\xbb\\xbf'
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from netwatch.history.report import Report, Row
from netwatch.i18n import STATE_COLOURS, level_text, state_text
from netwatch.models import Status

Lang = Literal["vi", "en"]

TEXT: dict[str, dict[str, str]] = {
    "title": {"vi": "Báo cáo khả dụng mạng", "en": "Network availability report"},
    "period": {"vi": "Thời gian", "en": "Period"},
    "by": {"vi": "Theo", "en": "By"},
    "device": {"vi": "Thiết bị", "en": "Device"},
    "site": {"vi": "Đơn vị", "en": "Site"},
    "service": {"vi": "Dịch vụ", "en": "Service"},
    "coverage": {"vi": "Đã theo dõi", "en": "Coverage"},
    "id": {"vi": "Mã", "en": "Id"},
    "name": {"vi": "Tên", "en": "Name"},
    "level": {"vi": "Cấp", "en": "Level"},
    "availability": {"vi": "Khả dụng", "en": "Availability"},
    "availability_excl": {"vi": "Khả dụng (trừ bảo trì)", "en": "Availability excl. maint."},
    "downtime": {"vi": "Thời gian gián đoạn", "en": "Downtime"},
    "own": {"vi": "Do tự thân", "en": "Own failure"},
    "upstream": {"vi": "Do tuyến trên", "en": "Upstream"},
    "maintenance": {"vi": "Bảo trì", "en": "Maintenance"},
    "power": {"vi": "Mất điện", "en": "Power cut"},
    "unknown": {"vi": "Chưa rõ", "en": "Unknown"},
    "outages": {"vi": "Số lần gián đoạn", "en": "Outages"},
    "mttr": {"vi": "Thời gian khắc phục TB", "en": "MTTR"},
    "longest": {"vi": "Gián đoạn dài nhất", "en": "Longest outage"},
    "workstations": {"vi": "Máy trạm hoạt động", "en": "Workstations working"},
    "reboots": {"vi": "Khởi động lại", "en": "Reboots"},
    "chart": {"vi": "Khả dụng theo đơn vị", "en": "Availability per row"},
    "timeline": {"vi": "Diễn biến gián đoạn", "en": "Outage timeline"},
    "seconds": {"vi": "giây", "en": "seconds"},
    "percent": {"vi": "%", "en": "%"},
    "no_rows": {"vi": "Không có dữ liệu.", "en": "No data."},
    "more": {"vi": "… và {n} dòng nữa (xem bảng)", "en": "… and {n} more rows (see the table)"},
    "generated": {"vi": "Lập lúc", "en": "Generated"},
    "merged": {
        "vi": "{name}: tính cả lịch sử của {units}, đã sáp nhập vào lúc {when}",
        "en": "{name}: includes the history of {units}, merged into it at {when}",
    },
    "merged_before": {
        "vi": "{name}: tính cả lịch sử của {units} (trước khi sáp nhập)",
        "en": "{name}: includes the history of {units} (before the merge)",
    },
    "formerly": {"vi": "Gồm đơn vị cũ", "en": "Includes former units"},
}

# One word and one colour per state, the status page's and the mails' (``netwatch.i18n``).
STATUS_TEXT: dict[Status, dict[str, str]] = {
    s: {lang: state_text(s.value, lang) for lang in ("vi", "en")} for s in Status
}
STATUS_COLOUR = {s: STATE_COLOURS[s.value] for s in Status}
CHART_ROWS = 100
COVERAGE_NOTE = 0.99  # below this share of known time, the chart says how much was known


def t(key: str, lang: Lang) -> str:
    return TEXT[key][lang]


def duration(seconds: float | None) -> str:
    """``1d 02:03:04`` or ``02:03:04``; empty for None.

    >>> duration(93784), duration(59.6)
    ('1d 02:03:04', '00:01:00')
    """
    if seconds is None:
        return ""
    s = round(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    clock = f"{h:02d}:{m:02d}:{s:02d}"
    return f"{d}d {clock}" if d else clock


def percent(ratio: float | None, digits: int = 2) -> str:
    return "" if ratio is None else f"{ratio * 100:.{digits}f}"


def _columns(report: Report, lang: Lang) -> list[tuple[str, Callable[[Row], str], bool]]:
    """(header, cell, right-aligned) for the human formats."""
    cols: list[tuple[str, Callable[[Row], str], bool]] = [
        (t("name", lang), lambda r: r.name, False),
        (t("level", lang), lambda r: level_of(r, lang), False),
    ]
    if report.by in ("device", "service"):
        cols.insert(1, (t("site", lang), lambda r: r.site_name or r.site or "", False))
    if report.by == "service":
        cols.insert(1, (t("device", lang), lambda r: r.device_name or r.device or "", False))
    cols += [
        (t("availability", lang) + " %", lambda r: percent(r.stats.availability), True),
        (t("coverage", lang) + " %", lambda r: percent(r.stats.coverage, 1), True),
        (
            t("availability_excl", lang) + " %",
            lambda r: percent(r.stats.availability_excluding_maintenance),
            True,
        ),
        (t("downtime", lang), lambda r: duration(r.stats.downtime), True),
        (t("own", lang), lambda r: duration(r.stats.down), True),
        (t("upstream", lang), lambda r: duration(r.stats.unreachable), True),
        (t("maintenance", lang), lambda r: duration(r.stats.maintenance), True),
        (t("power", lang), lambda r: duration(r.power), True),
        (t("unknown", lang), lambda r: duration(r.stats.unknown), True),
        (t("outages", lang), lambda r: str(r.stats.outages), True),
        (t("mttr", lang), lambda r: duration(r.stats.mttr), True),
        (t("longest", lang), lambda r: duration(r.stats.longest_outage), True),
    ]
    if report.by not in ("device", "service"):
        cols.append(
            (t("workstations", lang) + " %", lambda r: percent(r.workstations_working), True)
        )
    return cols


def level_of(row: Row, lang: Lang) -> str:
    """The row's level by its Vietnamese (or English) name: Tỉnh, Huyện, Xã / Phường / Thị
    trấn (a commune as its name says: the site's own, or the device's site's)."""
    name = row.name if row.kind == "site" else row.site_name
    return level_text(row.level, lang, name) if row.level else ""


def merge_notes(report: Report, lang: Lang) -> list[str]:
    """One line per row whose numbers include units merged into it (``Site.formerly``),
    saying when the merge was if the period spans it."""
    zone = ZoneInfo(report.timezone)
    notes = []
    for r in report.rows:
        if not r.formerly:
            continue
        units = ", ".join(r.formerly)
        if r.merged_at is None:
            notes.append(t("merged_before", lang).format(name=r.name, units=units))
        else:
            when = datetime.fromtimestamp(r.merged_at, zone).strftime("%Y-%m-%d %H:%M")
            notes.append(t("merged", lang).format(name=r.name, units=units, when=when))
    return notes


def _width(text: str) -> int:
    """Terminal cells: combining marks take none, wide (CJK) characters two."""
    text = unicodedata.normalize("NFC", text)
    w = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        w += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return w


def _period_text(report: Report) -> str:
    zone = ZoneInfo(report.timezone)
    a = report.start.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    b = report.end.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    return f"{a} → {b} ({report.timezone})"


def render_table(report: Report, lang: Lang = "vi") -> bytes:
    cols = _columns(report, lang)
    cells = [[h for h, _, _ in cols]] + [[f(r) for _, f, _ in cols] for r in report.rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(cols))]
    lines = [f"{t('title', lang)} — {_period_text(report)}", ""]
    for n, row in enumerate(cells):
        parts = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - _width(cell))
            parts.append(pad + cell if cols[i][2] else cell + pad)
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    if not report.rows:
        lines.append(t("no_rows", lang))
    notes = merge_notes(report, lang)
    if notes:
        lines += ["", *notes]
    return ("\n".join(lines) + "\n").encode("utf-8")


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(text: str) -> str:
    """A text cell a spreadsheet will show, not evaluate: ``'`` before a formula start.

    >>> text_cell("=HYPERLINK(A1)"), text_cell("-1"), text_cell("Ninh Kiều")
    ("'=HYPERLINK(A1)", "'-1", 'Ninh Kiều')
    """
    return "'" + text if text.startswith(FORMULA_START) else text


def render_csv(report: Report, lang: Lang = "vi") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)  # the excel dialect: CRLF, quotes only where needed
    sec = t("seconds", lang)
    head = [t("id", lang), t("name", lang), t("level", lang)]
    if report.by == "service":
        head += [t("device", lang)]
    if report.by in ("device", "service"):
        head += [t("site", lang)]
    head += [
        f"{t('availability', lang)} (%)",
        f"{t('coverage', lang)} (%)",
        f"{t('availability_excl', lang)} (%)",
        f"{t('downtime', lang)} ({sec})",
        f"{t('own', lang)} ({sec})",
        f"{t('upstream', lang)} ({sec})",
        f"{t('maintenance', lang)} ({sec})",
        f"{t('power', lang)} ({sec})",
        f"{t('unknown', lang)} ({sec})",
        t("outages", lang),
        f"{t('mttr', lang)} ({sec})",
        f"{t('longest', lang)} ({sec})",
        t("reboots", lang),
    ]
    if report.by not in ("device", "service"):
        head.append(f"{t('workstations', lang)} (%)")
    # Only a report touching a merged site gets the column, so other reports keep their shape.
    merges = any(r.formerly for r in report.rows)
    if merges:
        head.append(t("formerly", lang))
    w.writerow(head)
    for r in report.rows:
        s = r.stats
        # Text from the config (ids, names) is escaped; the numbers below are ours.
        line = [text_cell(r.id), text_cell(r.name), text_cell(level_of(r, lang))]
        if report.by == "service":
            line.append(text_cell(r.device_name or r.device or ""))
        if report.by in ("device", "service"):
            line.append(text_cell(r.site_name or r.site or ""))
        line += [
            percent(s.availability, 3),
            percent(s.coverage, 3),
            percent(s.availability_excluding_maintenance, 3),
            str(round(s.downtime)),
            str(round(s.down)),
            str(round(s.unreachable)),
            str(round(s.maintenance)),
            "" if r.power is None else str(round(r.power)),
            str(round(s.unknown)),
            str(s.outages),
            "" if s.mttr is None else str(round(s.mttr)),
            str(round(s.longest_outage)),
            str(s.reboots),
        ]
        if report.by not in ("device", "service"):
            line.append(percent(r.workstations_working, 3))
        if merges:
            line.append(text_cell(" ".join(r.formerly)))
        w.writerow(line)
    return buf.getvalue().encode("utf-8-sig")


def render_json(report: Report, lang: Lang = "vi") -> bytes:
    return (json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# --------------------------------------------------------------------------- html

CSS = """
body{font-family:"Noto Sans","DejaVu Sans",Arial,sans-serif;margin:1.5em;color:#212121}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.2em 0 .4em}
.meta{color:#555;margin:0 0 1em}
table{border-collapse:collapse;font-size:.82em;width:100%}
th,td{border:1px solid #ccc;padding:.25em .45em;vertical-align:top}
th{background:#eceff1;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fafafa}
svg{display:block;max-width:100%;height:auto}svg text{font-size:11px;fill:#212121}
.legend span{display:inline-block;margin-right:1.2em;font-size:.85em}
.legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:middle}
@page{size:A4 landscape;margin:12mm}
@@LEGEND@@
@media print{body{margin:0}h2{break-after:avoid}tr,svg{break-inside:avoid}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
""".replace(
    "@@LEGEND@@",
    "".join(f".legend i.{s.value}{{background:{c}}}" for s, c in STATUS_COLOUR.items()),
)
# The CSP source that allows exactly the <style> block above (and nothing else inline).
STYLE_HASH = "'sha256-" + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode() + "'"


def _bar_colour(a: float | None) -> str:
    if a is None:
        return STATUS_COLOUR[Status.UNKNOWN]
    if a >= 0.99:
        return STATUS_COLOUR[Status.UP]
    if a >= 0.95:
        return "#f9a825"
    return STATUS_COLOUR[Status.DOWN]


def _with_coverage(row: Row, lang: Lang) -> str:
    """``99.50`` or, when part of the period is unknown, ``100.00 (đã theo dõi 8.0 %)``: a
    bare 100 % over a period mostly unknown would mislead a planner."""
    a, c = row.stats.availability, row.stats.coverage
    if a is None:
        return "—"
    if c is not None and c < COVERAGE_NOTE:
        return f"{percent(a)} ({t('coverage', lang).lower()} {percent(c, 1)} %)"
    return percent(a)


def _chart(rows: list[Row], lang: Lang) -> str:
    label_w, bar_w, h = 300, 520, 18
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {label_w + bar_w + 70} '
        f'{h * len(rows) + 24}" role="img" aria-label="{html.escape(t("chart", lang))}">'
    ]
    for pct in (0, 50, 90, 100):
        x = label_w + bar_w * pct / 100
        out.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{h * len(rows)}" stroke="#ddd"/>'
            f'<text x="{x:.1f}" y="{h * len(rows) + 14}" text-anchor="middle">{pct}%</text>'
        )
    for i, r in enumerate(rows):
        a = r.stats.availability
        y = i * h
        width = bar_w * (a or 0.0)
        label = html.escape(_truncate(r.name, 48))
        out.append(
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{label}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{h - 6}" '
            f'fill="{_bar_colour(a)}"><title>{html.escape(r.name)}: {percent(a)}%</title></rect>'
            f'<text x="{label_w + width + 4:.1f}" y="{y + 13}">'
            f"{html.escape(_with_coverage(r, lang))}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _timeline(rows: list[Row], report: Report, lang: Lang) -> str:
    label_w, track_w, h = 300, 560, 16
    t0, t1 = report.start.timestamp(), report.end.timestamp()
    span = t1 - t0
    zone = ZoneInfo(report.timezone)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {label_w + track_w + 10} '
        f'{h * len(rows) + 24}" role="img" aria-label="{html.escape(t("timeline", lang))}">'
    ]
    for k in range(5):
        x = label_w + track_w * k / 4
        when = datetime.fromtimestamp(t0 + span * k / 4, zone).strftime("%d/%m %H:%M")
        out.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{h * len(rows)}" stroke="#ddd"/>'
            f'<text x="{x:.1f}" y="{h * len(rows) + 14}" text-anchor="middle">{when}</text>'
        )
    for i, r in enumerate(rows):
        y = i * h
        out.append(
            f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">'
            f"{html.escape(_truncate(r.name, 48))}</text>"
            f'<rect x="{label_w}" y="{y + 4}" width="{track_w}" height="{h - 8}" fill="#e8f5e9"/>'
        )
        opacity = "0.6" if r.sites > 1 else "1"
        for seg in r.segments:
            x = label_w + track_w * (seg.start - t0) / span
            w = max(track_w * seg.seconds / span, 0.6)  # a short outage stays visible
            a = datetime.fromtimestamp(seg.start, zone).strftime("%Y-%m-%d %H:%M")
            tip = f"{r.name}: {STATUS_TEXT[seg.status][lang]} {a}, {duration(seg.seconds)}"
            out.append(
                f'<rect x="{x:.2f}" y="{y + 2}" width="{w:.2f}" height="{h - 4}" '
                f'fill="{STATUS_COLOUR[seg.status]}" fill-opacity="{opacity}">'
                f"<title>{html.escape(tip)}</title></rect>"
            )
    out.append("</svg>")
    return "".join(out)


def _truncate(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def render_html(report: Report, lang: Lang = "vi") -> bytes:
    e = html.escape
    rows = list(report.rows)
    shown = rows[:CHART_ROWS]
    more = (
        f'<p class="meta">{e(t("more", lang).format(n=len(rows) - len(shown)))}</p>'
        if len(rows) > len(shown)
        else ""
    )
    by = t(report.by, lang) if report.by in TEXT else level_text(report.by, lang)
    legend = "".join(
        f'<span><i class="{s.value}"></i>{e(STATUS_TEXT[s][lang])}</span>'
        for s in (Status.DOWN, Status.UNREACHABLE, Status.MAINTENANCE, Status.UNKNOWN)
    )
    cols = _columns(report, lang)
    head = "".join(f"<th>{e(h)}</th>" for h, _, _ in cols)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if right else ''}>{e(f(r))}</td>" for _, f, right in cols)
        + "</tr>"
        for r in rows
    )
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(t('title', lang))} {e(_period_text(report))}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{e(t('title', lang))}</h1>",
        f'<p class="meta">{e(t("period", lang))}: {e(_period_text(report))} · '
        f"{e(t('by', lang))}: {e(by)}"
        + (f" · {e(t('level', lang))}: {e(level_text(report.level, lang))}" if report.level else "")
        + "</p>",
    ]
    if not rows:
        parts.append(f"<p>{e(t('no_rows', lang))}</p>")
    else:
        parts += [
            f"<h2>{e(t('chart', lang))}</h2>",
            _chart(shown, lang),
            more,
            f"<h2>{e(t('timeline', lang))}</h2>",
            f'<p class="legend">{legend}</p>',
            _timeline(shown, report, lang),
            more,
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
        ]
    parts += [f'<p class="meta">{e(note)}</p>' for note in merge_notes(report, lang)]
    parts.append("</body></html>\n")
    return "\n".join(parts).encode("utf-8")


Renderer = Callable[[Report, Lang], bytes]
FORMATS: dict[str, Renderer] = {
    "table": render_table,
    "csv": render_csv,
    "json": render_json,
    "html": render_html,
}


def render(report: Report, fmt: str, lang: Lang = "vi") -> bytes:
    """Render ``report`` in the format named ``fmt`` (a key of ``FORMATS``)."""
    try:
        renderer = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown report format {fmt!r}: use {', '.join(FORMATS)}") from None
    return renderer(report, lang)
