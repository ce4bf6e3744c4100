"""The main content of each status page, as HTML strings built from the ``views`` dicts.

Every value from the config, a device or a user goes through ``e()`` (``html.escape``);
``static/netwatch.js`` re-renders the live parts (same classes and ids) from the API.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from netwatch.alerting.messages import detail_text
from netwatch.history import formats, report
from netwatch.i18n import failure_text, language, t
from netwatch.models import Status
from netwatch.web import views
from netwatch.web.backend import Backend
from netwatch.web.layout import KIND_TEXT, Page
from netwatch.web.render import (
    NONE,
    badge,
    bits,
    duration,
    e,
    level_text,
    ms,
    percent,
    size,
    sparkline,
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


def _crumbs(path: list[dict[str, Any]]) -> str:
    links = " \u203a ".join(f'<a href="/sites/{e(s["id"])}">{e(s["name"])}</a>' for s in path)
    return f'<nav class="crumbs">{links}</nav>'


def site_main(p: Page, backend: Backend, site_id: str) -> str:
    site = backend.inventory.sites[site_id]
    rows = views.device_list(backend, site=site_id, status=None, q=None)
    failing = views.failing_services(backend, site_id)
    own = any(x["site"] == site_id for x in failing)
    status = views.display_state(backend.engine.site_status(site_id).value, own)
    return (
        _crumbs(views.site_path(backend, site_id))
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
            _failure(p, x["failure"]),
            e(p.when(x["since"])),
        ]
        for x in items
    ]
    head = [p.t(k) for k in ("web_services", "web_device", "web_status", "web_result", "web_since")]
    return (
        f'<section id="failing-services"><h2>{e(p.t("web_failing_services"))}</h2>'
        f"{table(head, rows)}</section>"
    )


def _failure(p: Page, failure: dict[str, Any] | None) -> str:
    """A failure's reason in the page's language; the probe's own words on hover."""
    if failure is None:
        return NONE
    text = failure_text(f"{failure['kind']}: {failure['detail']}", p.lang)
    return f'<span title="{e(failure["detail"])}">{e(text)}</span>'


def _checks(p: Page, checks: list[dict[str, Any]]) -> str:
    rows = []
    for c in checks:
        result = e(p.t("web_ok")) if c["ok"] else _failure(p, c["failure"])
        rows.append(
            [
                e(c["name"]),
                badge(views.check_state(c["name"], c["status"]), p.lang),
                e(p.when(c["last_at"])),
                result,
                e(ms(c["duration_seconds"])),
            ]
        )
    head = [p.t(k) for k in ("web_check", "web_status", "web_last", "web_result", "web_duration")]
    return table(head, rows, body_id="checks")


def _rtt_range(icmp: dict[str, Any]) -> str:
    if icmp["rtt_avg_seconds"] is None:
        return NONE
    low, high = ms(icmp["rtt_min_seconds"]), ms(icmp["rtt_max_seconds"])
    return f"{ms(icmp['rtt_avg_seconds'])} ({low} \u2013 {high})"


def _icmp(p: Page, d: dict[str, Any]) -> str:
    icmp = d["icmp"]
    if icmp is None:
        stats = f"<p>{e(p.t('web_no_data'))}</p>"
    else:
        stats = (
            '<dl class="stats">'
            f"<dt>{e(p.t('web_rtt'))}</dt><dd>{e(_rtt_range(icmp))}</dd>"
            f"<dt>{e(p.t('web_loss'))}</dt><dd>{e(percent(icmp['loss_ratio']))} "
            f"({icmp['received']}/{icmp['sent']})</dd>"
            f"<dt>{e(p.t('web_jitter'))}</dt><dd>{e(ms(icmp['jitter_seconds']))}</dd>"
            f"<dt>{e(p.t('web_last'))}</dt><dd>{e(p.when(icmp['at']))}</dd></dl>"
        )
    chart = sparkline(d["icmp_recent"])
    return (
        f'<section><h2>{e(p.t("web_icmp"))}</h2><div id="icmp">{stats}</div>'
        f'<figure><div id="spark">{chart}</div>'
        f"<figcaption>{e(p.t('web_rtt_chart'))}</figcaption></figure></section>"
    )


def _interfaces(p: Page, items: list[dict[str, Any]]) -> str:
    if not items:
        return ""
    rows = [
        [
            e(i["name"]) + (f" <small>{e(i['alias'])}</small>" if i["alias"] else ""),
            badge("up" if i["oper_up"] else "down", p.lang),
            e(bits(i["speed_bps"])),
            e(bits(i["receive_bps"])),
            e(bits(i["transmit_bps"])),
            e(i["errors"] if i["errors"] is not None else NONE),
        ]
        for i in items
    ]
    head = [
        p.t(k)
        for k in ("web_interfaces", "web_status", "web_speed", "web_in", "web_out", "web_errors")
    ]
    body = table(head, rows, body_id="interfaces")
    return f"<section><h2>{e(p.t('web_interfaces'))}</h2>{body}</section>"


def _host(p: Page, d: dict[str, Any]) -> str:
    host, system = d["host"], d["system"]
    if host is None and system is None:
        return ""
    items: list[tuple[str, str]] = []
    if system is not None:
        items.append((p.t("web_uptime"), duration(system["uptime_seconds"], p.lang)))
    if host is not None:
        items.append((p.t("web_cpu"), percent(host["cpu_load_ratio"])))
        mem = host["memory"]
        if mem:
            used = mem["used_bytes"] / mem["size_bytes"] if mem["size_bytes"] else None
            items.append(
                (
                    p.t("web_memory"),
                    f"{size(mem['used_bytes'])} / {size(mem['size_bytes'])} ({percent(used)})",
                )
            )
        for disk in host["disks"]:
            used = disk["used_bytes"] / disk["size_bytes"] if disk["size_bytes"] else None
            items.append(
                (
                    f"{p.t('web_disk')} {disk['name']}",
                    f"{size(disk['used_bytes'])} / {size(disk['size_bytes'])} ({percent(used)})",
                )
            )
    dl = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in items)
    return f'<section><h2>{e(p.t("web_host"))}</h2><dl class="stats" id="host">{dl}</dl></section>'


def _services(p: Page, items: list[dict[str, Any]]) -> str:
    if not items:
        return ""
    rows = [
        [
            e(x["name"]),
            badge(views.check_state(f"service:{x['name']}", x["status"]), p.lang),
            e(x["status_code"] if x["status_code"] is not None else NONE),
            e(ms(x["duration_seconds"])),
            e(p.when(x["cert_expires_at"])),
        ]
        for x in items
    ]
    head = [p.t("web_services"), p.t("web_status"), "HTTP", p.t("web_duration"), "TLS"]
    return f"<section><h2>{e(p.t('web_services'))}</h2>{table(head, rows)}</section>"


def _transitions(p: Page, items: list[dict[str, Any]]) -> str:
    rows = [[e(p.when(x["at"])), badge(x["status"], p.lang), e(x["cause"] or "")] for x in items]
    head = [p.t("web_time"), p.t("web_status"), p.t("web_cause")]
    return (
        f"<section><h2>{e(p.t('web_transitions'))}</h2>"
        f"{table(head, rows, body_id='transitions')}</section>"
    )


def _traps(p: Page, items: list[dict[str, Any]]) -> str:
    if not items:
        return ""
    rows = [
        [
            e(p.when(x["at"])),
            e(x["kind"]) + f" <small>{e(x['oid'])}</small>",
            e(f"{x['pdu']} v{x['version']}"),
            e(x["detail"]),
        ]
        for x in items
    ]
    head = [p.t("web_time"), p.t("web_trap_kind"), "PDU", p.t("web_trap_detail")]
    return f"<section><h2>{e(p.t('web_traps'))}</h2>{table(head, rows, body_id='traps')}</section>"


def device_main(p: Page, d: dict[str, Any]) -> str:
    cause = (
        f'<p class="cause">{e(p.t("web_cause"))}: '
        f'<a href="/devices/{e(d["cause"])}">{e(d["cause"])}</a></p>'
        if d["cause"]
        else ""
    )
    return (
        _crumbs(d["site_path"])
        + f'<h1>{e(d["name"])} <span id="device-status">{badge(d["status"], p.lang)}</span></h1>'
        f'<p class="meta">{e(d["address"])} · {e(d["role"])} · {e(p.t("web_since"))} '
        f"{e(p.when(d['since']))}</p>{cause}"
        f"<section><h2>{e(p.t('web_checks'))}</h2>{_checks(p, d['checks'])}</section>"
        + _icmp(p, d)
        + _interfaces(p, d["interfaces"])
        + _host(p, d)
        + _services(p, d["services"])
        + _traps(p, d.get("traps", []))
        + _transitions(p, d["transitions"])
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
    rows = [
        [
            f'<span class="sev sev-{e(a["severity"])}">'
            f"{e(p.t('severity_' + a['severity']))}</span>",
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
        for a in alerts
    ]
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
    sil_rows = [
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
    win_rows = [
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
    return (
        f"<h1>{e(p.t('web_alerts_title'))}</h1>"
        '<form class="token" id="token-form">'
        f'<label>{e(p.t("web_token"))} <input type="password" id="token" autocomplete="off" '
        'maxlength="500"></label>'
        f'<label>{e(p.t("web_your_name"))} <input type="text" id="who" maxlength="100"></label>'
        f'<button type="button" id="token-save">{e(p.t("web_token_save"))}</button>'
        f'<button type="button" id="token-clear">{e(p.t("web_token_clear"))}</button>'
        '<span id="message" role="status"></span></form>'
        + table(head, rows, body_id="alerts")
        + empty
        + f"<section><h2>{e(p.t('web_silences'))}</h2>"
        + table(
            [p.t("web_target"), p.t("web_until"), p.t("web_your_name"), p.t("web_reason"), ""],
            sil_rows,
            body_id="silences",
        )
        + f"</section><section><h2>{e(p.t('web_maintenance'))}</h2>"
        + table(
            [
                p.t("web_target"),
                p.t("web_started"),
                p.t("web_duration"),
                "",
                p.t("web_reason"),
                p.t("web_status"),
            ],
            win_rows,
        )
        + "</section>"
    )


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
