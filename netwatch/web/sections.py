"""The main content of the status pages, as HTML strings built from the ``views`` dicts: the
site tree, a site, the alerts and the availability report (the device page is in
``device_sections``).

Every value from the config, a device or a user goes through ``e()`` (``html.escape``);
``static/netwatch.js`` re-renders the live parts (same classes and ids) from the API.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from netwatch.alerting.messages import detail_text
from netwatch.history import formats, report
from netwatch.i18n import language, t
from netwatch.models import Status
from netwatch.web import device_views, views
from netwatch.web.backend import Backend
from netwatch.web.layout import KIND_TEXT, Page
from netwatch.web.render import (
    badge,
    crumbs,
    duration,
    e,
    failure_reason,
    level_text,
    ms,
    percent,
    status_text,
    table,
)

# --------------------------------------------------------------------------- site tree


def _counts(p: Page, counts: dict[str, int], *, labelled: bool = False, failing: int = 0) -> str:
    """Device counts per status as coloured chips (with the status names on the summary),
    then the number of failing services (``static/netwatch.js`` draws the same)."""
    items = [
        (s, counts[s], status_text(s, p.lang))
        for s in ("down", "unreachable", "unknown", "maintenance", "up")
        if counts.get(s)
    ]
    if failing:
        items.append((views.DEGRADED, failing, p.t("web_services_failing")))
    chips = [
        f'<span class="chip st-{s}" title="{e(title)}">{n}</span>'
        + (f' <span class="chip-label">{e(title)}</span>' if labelled else "")
        for s, n, title in items
    ]
    return f'<span class="counts">{"".join(chips)}</span>'


def _node(p: Page, node: dict[str, Any]) -> str:
    children = "".join(_node(p, c) for c in node["children"])
    shown = views.display_state(node["status"], node["degraded"])
    return (
        f'<li class="node st-{e(shown)}" data-id="{e(node["id"])}" '
        f'data-name="{e(node["name"].casefold())} {e(node["id"])}">'
        f'<div class="row"><span class="dot" aria-hidden="true"></span>'
        f'<a class="name" href="/sites/{e(node["id"])}">{e(node["name"])}</a>'
        f'<span class="level">{e(level_text(node["level"], p.lang, node["name"]))}</span>'
        f"{badge(shown, p.lang)}"
        f"{_counts(p, node['counts'], failing=node['services_failing'])}</div>"
        f"{f'<ul>{children}</ul>' if children else ''}</li>"
    )


def index_main(p: Page, tree: list[dict[str, Any]]) -> str:
    total = {s.value: sum(n["counts"][s.value] for n in tree) for s in Status}
    failing = sum(n["services_failing"] for n in tree)
    return (
        f"<h1>{e(p.t('web_title'))}</h1>"
        f'<p class="summary" id="summary">{_counts(p, total, labelled=True, failing=failing)}</p>'
        '<form class="filters" role="search" method="get" action="/" id="filters">'
        f'<input type="search" id="q" name="q" placeholder="{e(p.t("web_search"))}" '
        f'aria-label="{e(p.t("web_search"))}" maxlength="100" autocomplete="off">'
        f'<label><input type="checkbox" id="problems"> {e(p.t("web_problems_only"))}</label>'
        "</form>"
        f'<ul class="tree" id="tree">{"".join(_node(p, n) for n in tree)}</ul>'
        f'<section id="found" hidden><h2>{e(p.t("web_devices"))}</h2>'
        f'<ul class="found" id="found-list"></ul></section>'
    )


# --------------------------------------------------------------------------- devices


def device_rows(p: Page, rows: Iterable[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            f'<a href="/devices/{e(r["id"])}">{e(r["name"])}</a>',
            f'<a href="/sites/{e(r["site"])}">{e(r["site_name"])}</a>',
            badge(r["status"], p.lang),
            e(ms(r["rtt_seconds"])),
            e(percent(r["loss_ratio"])),
            f'<a href="/devices/{e(r["cause"])}">{e(r["cause"])}</a>' if r["cause"] else "",
        ]
        for r in rows
    ]


def device_head(p: Page) -> list[str]:
    return [
        p.t(k) for k in ("web_device", "web_site", "web_status", "web_rtt", "web_loss", "web_cause")
    ]


def site_main(p: Page, backend: Backend, site_id: str) -> str:
    site = backend.inventory.sites[site_id]
    rows = device_views.device_list(backend, site=site_id, status=None, q=None)
    failing = views.failing_services(backend, site_id)
    own = any(x["site"] == site_id for x in failing)
    status = views.display_state(backend.engine.site_status(site_id).value, own)
    return (
        crumbs(views.site_path(backend, site_id))
        + f'<h1>{e(site.name or site.id)} <span id="site-status">{badge(status, p.lang)}</span>'
        f"</h1><p>{e(level_text(site.level, p.lang, site.name))} · {e(site.id)}</p>"
        + _failing(p, failing)
        + table(device_head(p), device_rows(p, rows), body_id="devices")
    )


def _failing(p: Page, items: list[dict[str, Any]]) -> str:
    """The site's failing services (on devices that are up), above its devices."""
    if not items:
        return ""
    rows = [
        [
            e(x["service"]),
            f'<a href="/devices/{e(x["device"])}">{e(x["device_name"])}</a>',
            badge(views.DEGRADED, p.lang),
            failure_reason(x["failure"], p.lang),
            e(p.when(x["since"])),
        ]
        for x in items
    ]
    head = [p.t(k) for k in ("web_services", "web_device", "web_status", "web_result", "web_since")]
    return (
        f'<section id="failing-services"><h2>{e(p.t("web_failing_services"))}</h2>'
        f"{table(head, rows)}</section>"
    )


# --------------------------------------------------------------------------- alerts


def _alert_actions(p: Page, a: dict[str, Any]) -> str:
    """Acknowledge and silence buttons (the script sends them with the token)."""
    if a["acknowledged_by"]:
        ack = f'<span class="acked">{e(p.t("web_acked_by", detail=a["acknowledged_by"]))}</span>'
    else:
        ack = (
            f'<button type="button" class="ack" data-id="{e(a["id"])}">{e(p.t("web_ack"))}</button>'
        )
    choices = "".join(
        f'<option value="{v}">{e(label)}</option>'
        for v, label in (
            ("1h", p.t("hours", n=1)),
            ("4h", p.t("hours", n=4)),
            ("1d", p.t("days", n=1)),
        )
    )
    return (
        f'<span class="actions">{ack}<select class="silence-for" '
        f'aria-label="{e(p.t("web_silence"))}">{choices}</select>'
        f'<button type="button" class="silence" data-device="{e(a["subject"])}">'
        f"{e(p.t('web_silence'))}</button></span>"
    )


def alerts_main(p: Page, backend: Backend) -> str:
    alerts = views.alert_list(backend)
    now = backend.clock()
    silences = [views.silence_json(s, p.tz) for s in backend.engine.silences() if s.until > now]
    windows = [views.window_json(w, now) for w in backend.engine.windows()]
    head = [
        p.t(k)
        for k in (
            "web_severity",
            "web_nav_alerts",
            "web_device",
            "web_result",
            "web_started",
            "web_ack",
        )
    ]
    empty = "" if alerts else f'<p id="no-alerts">{e(p.t("web_no_alerts"))}</p>'
    return (
        f"<h1>{e(p.t('web_alerts_title'))}</h1>"
        + _token_form(p)
        + table(head, [_alert_row(p, a) for a in alerts], body_id="alerts")
        + empty
        + _silences(p, silences)
        + _windows(p, windows)
    )


def _token_form(p: Page) -> str:
    """Where a person gives the API token and their name (kept in the browser's session)."""
    return (
        '<form class="token" id="token-form">'
        f'<label>{e(p.t("web_token"))} <input type="password" id="token" autocomplete="off" '
        'maxlength="500"></label>'
        f'<label>{e(p.t("web_your_name"))} <input type="text" id="who" maxlength="100"></label>'
        f'<button type="button" id="token-save">{e(p.t("web_token_save"))}</button>'
        f'<button type="button" id="token-clear">{e(p.t("web_token_clear"))}</button>'
        '<span id="message" role="status"></span></form>'
    )


def _alert_row(p: Page, a: dict[str, Any]) -> list[str]:
    return [
        f'<span class="sev sev-{e(a["severity"])}">{e(p.t("severity_" + a["severity"]))}</span>',
        (
            f'<span class="digest">{e(p.t("web_digest_item"))}</span>'
            if a["digest_only"]
            else e(t(KIND_TEXT.get(a["kind"], "down"), p.lang))
        ),
        f'<a href="/devices/{e(a["subject"])}">{e(a["device_name"] or a["subject"])}</a>'
        f"<br><small>{e(a['site_name'])}</small>",
        e(detail_text(a["kind"], a["detail"], p.lang)),
        e(p.when(a["started_at"])),
        _alert_actions(p, a),
    ]


def _silences(p: Page, silences: list[dict[str, Any]]) -> str:
    """The silences still in force, each with a button that lifts it."""
    rows = [
        [
            e(", ".join([*s["devices"], *s["sites"]])),
            e(p.when(s["until"])),
            e(s["by"]),
            e(s["comment"]),
            f'<button type="button" class="unsilence" data-id="{e(s["id"])}">'
            f"{e(p.t('web_remove'))}</button>",
        ]
        for s in silences
    ]
    head = [p.t("web_target"), p.t("web_until"), p.t("web_your_name"), p.t("web_reason"), ""]
    return (
        f"<section><h2>{e(p.t('web_silences'))}</h2>"
        + table(head, rows, body_id="silences")
        + "</section>"
    )


def _windows(p: Page, windows: list[dict[str, Any]]) -> str:
    """The maintenance windows of the config, the active ones marked."""
    rows = [
        [
            e(w["target"]),
            e(w["start"]),
            e(duration(w["duration_seconds"], p.lang)),
            e(w["recurrence"]),
            e(w["reason"]),
            badge("maintenance" if w["active"] else "up", p.lang),
        ]
        for w in windows
    ]
    head = [
        p.t("web_target"),
        p.t("web_started"),
        p.t("web_duration"),
        "",
        p.t("web_reason"),
        p.t("web_status"),
    ]
    return f"<section><h2>{e(p.t('web_maintenance'))}</h2>" + table(head, rows) + "</section>"


# --------------------------------------------------------------------------- availability


def _report_name(r: report.Row) -> str:
    if r.kind == "site":
        return f'<a href="/sites/{e(r.id)}">{e(r.name)}</a>'
    device = r.device if r.kind == "service" else r.id
    where = f" <small>{e(r.device_name)}</small>" if r.kind == "service" else ""
    return f'<a href="/devices/{e(device)}">{e(r.name)}</a>{where}'


def availability_main(
    p: Page, built: report.Report | None, month: str, by: str, levels: list[str]
) -> str:
    choices = [
        ("site", p.t("web_site")),
        ("device", p.t("web_device")),
        ("service", p.t("web_services")),
    ]
    choices += [(level, level_text(level, p.lang)) for level in levels]
    options = "".join(
        f'<option value="{e(v)}"{" selected" if v == by else ""}>{e(label)}</option>'
        for v, label in choices
    )
    csv_query = urlencode({"month": month, "by": by, "format": "csv", "lang": p.lang})
    form = (
        '<form class="filters" method="get" action="/availability">'
        f'<label>{e(p.t("web_month"))} <input type="month" name="month" value="{e(month)}" '
        "required></label>"
        f'<select name="by" aria-label="{e(p.t("web_level"))}">{options}</select>'
        f'<button type="submit">{e(p.t("web_show"))}</button>'
        f'<a href="/api/v1/report?{e(csv_query)}" download>'
        f"{e(p.t('web_download_csv'))}</a></form>"
    )
    if built is None:
        return (
            f"<h1>{e(p.t('web_availability_title'))} {e(month)}</h1>{form}"
            f'<p class="warn">{e(p.t("web_history_disabled"))}</p>'
        )
    rows = [
        [
            _report_name(r),
            e(formats.level_of(r, language(p.lang))),
            e(percent(r.stats.availability, 2)),
            e(percent(r.stats.coverage, 1)),
            e(duration(r.stats.down, p.lang)),
            e(duration(r.stats.unreachable, p.lang)),
            e(duration(r.stats.maintenance, p.lang)),
            e(r.stats.outages),
            e(duration(r.stats.longest_outage, p.lang)),
        ]
        for r in built.rows
    ]
    head = [
        formats.t(k, language(p.lang))
        for k in (
            "name",
            "level",
            "availability",
            "coverage",
            "own",
            "upstream",
            "maintenance",
            "outages",
            "longest",
        )
    ]
    return f"<h1>{e(p.t('web_availability_title'))} {e(month)}</h1>{form}" + table(
        head, rows, body_id="report"
    )
