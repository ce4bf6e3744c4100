"""The main content of the device page, as HTML built from ``device_views.device_detail``:
its checks, ICMP figures and RTT chart, interfaces, host resources, services, traps and
transitions.

Every value from the config, a device or a user goes through ``e()`` (``html.escape``);
``static/netwatch.js`` re-renders the live parts (same classes and ids) from the API.
"""

from __future__ import annotations

from typing import Any

from netwatch.web import views
from netwatch.web.layout import Page
from netwatch.web.render import (
    NONE,
    badge,
    bits,
    crumbs,
    duration,
    e,
    failure_reason,
    ms,
    percent,
    size,
    sparkline,
    table,
)


def _checks(p: Page, checks: list[dict[str, Any]]) -> str:
    rows = []
    for c in checks:
        result = e(p.t("web_ok")) if c["ok"] else failure_reason(c["failure"], p.lang)
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
        crumbs(d["site_path"])
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
