"""Generate the netwatch Grafana dashboards (``*.json`` next to this file).

The JSON files are what Grafana provisions and what is reviewed; this script is how they are
written, so the six dashboards share their variables, units and layout. Edit here, then run
``python dashboards/grafana/generate.py``; a test fails when the JSON and this script disagree.
Standard library only, so it runs anywhere.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCHEMA_VERSION = 39
DS = {"type": "prometheus", "uid": "${datasource}"}

# The one convention for "which interface is a WAN uplink" (also in alerting.rules.yml):
# the interface description (ifAlias) contains "WAN" or "uplink", in any case.
UPLINK_REGEX = "(?i).*(wan|uplink).*"

# Label filters every per-device query carries.
TREE = 'province=~"$province", district=~"$district", commune=~"$commune"'
LINK = f'{TREE}, role=~"$link_role"'
DEV = 'device="$device"'
IFACE = 'device="$device", ifname=~"$interface"'
UPLINK = f'{TREE}, ifalias=~"$uplink"'
PROVINCE_30D = 'window="30d", level="province", province=~"$province"'
RI = "[$__rate_interval]"

Panel = dict[str, Any]


# ------------------------------------------------------------------------------ variables


def datasource_var() -> Panel:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "options": [],
    }


def query_var(name: str, label: str, query: str, *, multi: bool = True, sort: int = 1) -> Panel:
    var: Panel = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-query", "qryType": 1},
        "refresh": 2,  # on time range change: new sites appear without a reload
        "regex": "",
        "sort": sort,
        "hide": 0,
        "multi": multi,
        "includeAll": multi,
        "current": {},
        "options": [],
    }
    if multi:
        # ".*" also matches the empty label of devices above that level.
        var["allValue"] = ".*"
        var["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
    return var


def hierarchy_vars() -> list[Panel]:
    return [
        query_var("province", "Province / Tỉnh", "label_values(netwatch_device_up, province)"),
        query_var(
            "district",
            "District / Huyện",
            'label_values(netwatch_device_up{province=~"$province"}, district)',
        ),
        query_var(
            "commune",
            "Commune / Xã",
            'label_values(netwatch_device_up{province=~"$province", district=~"$district"}, '
            "commune)",
        ),
    ]


def link_role_var() -> Panel:
    var = query_var(
        "link_role",
        "Link end role / Vai trò",
        "label_values(netwatch_device_up, role)",
        multi=False,
    )
    # A "link" is the ICMP path to the router at its far end.
    var["current"] = {"selected": True, "text": "router", "value": "router"}
    return var


def uplink_var() -> Panel:
    return {
        "name": "uplink",
        "label": "Uplink ifAlias regex",
        "type": "constant",
        "query": UPLINK_REGEX,
        "hide": 2,
        "current": {"text": UPLINK_REGEX, "value": UPLINK_REGEX},
        "options": [{"selected": True, "text": UPLINK_REGEX, "value": UPLINK_REGEX}],
    }


# ------------------------------------------------------------------------------ panels


def target(
    expr: str, legend: str = "", *, instant: bool = False, table: bool = False
) -> dict[str, Any]:
    return {
        "datasource": DS,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "instant": instant,
        "range": not instant,
        "format": "table" if table else "time_series",
        "editorMode": "code",
    }


def panel(
    kind: str,
    title: str,
    targets: list[dict[str, Any]],
    *,
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    description: str = "",
    options: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
    overrides: list[dict[str, Any]] | None = None,
    transformations: list[dict[str, Any]] | None = None,
) -> Panel:
    for ref, t in zip("ABCDEFGH", targets, strict=False):
        t["refId"] = ref
    field_defaults: dict[str, Any] = {"unit": unit, **(defaults or {})}
    p: Panel = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"w": w, "h": h},
        "targets": targets,
        "fieldConfig": {"defaults": field_defaults, "overrides": overrides or []},
        "options": options or {},
    }
    if transformations:
        p["transformations"] = transformations
    return p


def row(title: str) -> Panel:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"w": 24, "h": 1},
        "panels": [],
    }


UP_DOWN = [
    {
        "type": "value",
        "options": {
            "0": {"text": "down", "color": "red", "index": 0},
            "1": {"text": "up", "color": "green", "index": 1},
        },
    }
]
STATUS_COLOURS = {
    "up": "green",
    "down": "red",
    "unreachable": "orange",
    "maintenance": "blue",
    "unknown": "text",
}
STATUS_OVERRIDES = [
    {
        "matcher": {"id": "byName", "options": status},
        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}],
    }
    for status, colour in STATUS_COLOURS.items()
]


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {
        "mode": "absolute",
        "steps": [{"value": value, "color": colour} for value, colour in steps],
    }


# Higher is worse (loss, utilisation, storage) / higher is better (availability).
BAD_HIGH = thresholds((None, "green"), (0.7, "yellow"), (0.9, "red"))
LOSS = thresholds((None, "green"), (0.01, "yellow"), (0.05, "red"))
AVAIL = thresholds((None, "red"), (0.99, "yellow"), (0.999, "green"))
CERT = thresholds(
    (None, "red"), (7 * 86400, "orange"), (14 * 86400, "yellow"), (30 * 86400, "green")
)


def timeseries(title: str, targets: list[dict[str, Any]], unit: str, **kw: Any) -> Panel:
    defaults = {"custom": {"fillOpacity": 10, "showPoints": "never", "spanNulls": False}}
    defaults.update(kw.pop("defaults", {}))
    options = {
        "legend": {
            "displayMode": "table",
            "placement": "bottom",
            "calcs": ["mean", "max", "lastNotNull"],
        },
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return panel("timeseries", title, targets, unit=unit, defaults=defaults, options=options, **kw)


def stat(title: str, targets: list[dict[str, Any]], unit: str = "short", **kw: Any) -> Panel:
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "background",
        "graphMode": "none",
        "textMode": kw.pop("text_mode", "auto"),
        "orientation": "auto",
        "justifyMode": "auto",
    }
    return panel("stat", title, targets, unit=unit, options=options, h=kw.pop("h", 5), **kw)


def bargauge(title: str, targets: list[dict[str, Any]], unit: str, **kw: Any) -> Panel:
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "orientation": "horizontal",
        "displayMode": "gradient",
        "showUnfilled": True,
        "valueMode": "color",
        "namePlacement": "auto",
        "sizing": "auto",
    }
    return panel("bargauge", title, targets, unit=unit, options=options, **kw)


def table(title: str, targets: list[dict[str, Any]], unit: str = "short", **kw: Any) -> Panel:
    options = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
    return panel("table", title, targets, unit=unit, options=options, **kw)


def state_timeline(title: str, targets: list[dict[str, Any]], **kw: Any) -> Panel:
    options = {
        "mergeValues": True,
        "showValue": "never",
        "alignValue": "left",
        "rowHeight": 0.9,
        "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"},
        "tooltip": {"mode": "single"},
    }
    defaults = {"mappings": kw.pop("mappings", UP_DOWN), "custom": {"fillOpacity": 80}}
    return panel("state-timeline", title, targets, options=options, defaults=defaults, **kw)


def heatmap(title: str, targets: list[dict[str, Any]], unit: str, **kw: Any) -> Panel:
    # One row per link (calculate off: each series is a row), colour = the value.
    options = {
        "calculate": False,
        "cellGap": 1,
        "cellValues": {"unit": unit},
        "color": {
            "mode": "scheme",
            "scheme": "RdYlGn",
            "reverse": True,
            "exponent": 0.5,
            "steps": 64,
            "fill": "dark-orange",
        },
        "rowsFrame": {"layout": "auto"},
        "yAxis": {"axisPlacement": "left"},
        "legend": {"show": True},
        "tooltip": {"mode": "single", "yHistogram": False},
        "showValue": "never",
        "exemplars": {"color": "rgba(255,0,255,0.7)"},
        "filterValues": {"le": 1e-9},
    }
    return panel("heatmap", title, targets, unit=unit, options=options, **kw)


# Tables: hide Prometheus' bookkeeping columns.
HIDE_TIME = {
    "id": "organize",
    "options": {"excludeByName": {"Time": True, "__name__": True, "job": True, "instance": True}},
}


# ------------------------------------------------------------------------------ dashboards


def overview() -> Panel:
    panels = [
        row("Status now — Trạng thái hiện tại"),
        stat(
            "Devices by status",
            [
                target(
                    f"sum by (status) (netwatch_device_status{{{TREE}}})",
                    "{{status}}",
                    instant=True,
                )
            ],
            w=12,
            overrides=STATUS_OVERRIDES,
            description="Thiết bị theo trạng thái",
        ),
        stat(
            "Sites by status",
            [
                target(
                    f"sum by (status) (netwatch_site_status{{{TREE}}})", "{{status}}", instant=True
                )
            ],
            w=12,
            overrides=STATUS_OVERRIDES,
            description="Điểm (trụ sở) theo trạng thái",
        ),
        table(
            "Devices by status per district",
            [
                target(
                    f"sum by (district, status) (netwatch_device_status{{{TREE}}})",
                    instant=True,
                    table=True,
                )
            ],
            w=8,
            h=10,
            description="Số thiết bị theo trạng thái, từng huyện",
            transformations=[
                {
                    "id": "groupingToMatrix",
                    "options": {
                        "columnField": "status",
                        "rowField": "district",
                        "valueField": "Value",
                    },
                }
            ],
        ),
        table(
            "Sites down or unreachable now",
            [
                target(
                    f'netwatch_site_status{{{TREE}, status=~"down|unreachable"}} == 1',
                    instant=True,
                    table=True,
                )
            ],
            w=8,
            h=10,
            transformations=[HIDE_TIME],
            description="Điểm mất kết nối (down) hoặc không tới được vì tuyến trên (unreachable)",
        ),
        table(
            "Devices down or unreachable now",
            [
                target(
                    f'netwatch_device_status{{{TREE}, status=~"down|unreachable"}} == 1',
                    instant=True,
                    table=True,
                )
            ],
            w=8,
            h=10,
            transformations=[HIDE_TIME],
            description="Thiết bị mất kết nối",
        ),
        row("Links — Đường truyền"),
        bargauge(
            "Worst links by loss (1 h)",
            [
                target(
                    f"topk(10, netwatch_device:icmp_loss:ratio_rate1h{{{LINK}}})",
                    "{{device}}",
                    instant=True,
                )
            ],
            "percentunit",
            w=8,
            defaults={"min": 0, "max": 1, "thresholds": LOSS},
            description="Tỉ lệ mất gói ICMP trong 1 giờ, 10 đường truyền kém nhất",
        ),
        bargauge(
            "Worst links by latency (1 h average RTT)",
            [
                target(
                    f'topk(10, avg_over_time(netwatch_icmp_rtt_seconds{{{LINK}, stat="avg"}}[1h]))',
                    "{{device}}",
                    instant=True,
                )
            ],
            "s",
            w=8,
            description="Độ trễ trung bình trong 1 giờ, 10 đường truyền chậm nhất",
        ),
        bargauge(
            "Busiest WAN uplinks (5 m)",
            [
                target(
                    f"topk(10, netwatch_interface:utilisation:max_ratio_rate5m{{{UPLINK}}})",
                    "{{device}} {{ifname}}",
                    instant=True,
                )
            ],
            "percentunit",
            w=8,
            defaults={"min": 0, "max": 1, "thresholds": BAD_HIGH},
            description="Cổng WAN bận nhất (chiều cao hơn), so với tốc độ cổng",
        ),
        timeseries(
            "WAN uplink traffic",
            [
                target(
                    f"topk(10, netwatch_interface:bits:rate5m{{{UPLINK}}})",
                    "{{device}} {{ifname}} {{direction}}",
                )
            ],
            "bps",
            w=24,
            description="Lưu lượng cổng WAN (bit/s)",
        ),
        row("Alerts — Cảnh báo"),
        stat(
            "netwatch alerts firing",
            [target("sum by (severity) (netwatch_alerts_firing)", "{{severity}}", instant=True)],
            w=6,
            defaults={"thresholds": thresholds((None, "green"), (1, "red"))},
            description="Cảnh báo đang mở của netwatch",
        ),
        table(
            "Prometheus alerts firing",
            [target('ALERTS{alertstate="firing"}', instant=True, table=True)],
            w=12,
            h=5,
            transformations=[HIDE_TIME],
            description="Cảnh báo của Prometheus (dashboards/prometheus/alerting.rules.yml)",
        ),
        stat(
            "Province availability (30 d)",
            [
                target(
                    'netwatch_site_availability_ratio{level="province", '
                    'province=~"$province", window="30d"}',
                    "{{site}}",
                    instant=True,
                )
            ],
            "percentunit",
            w=6,
            defaults={"decimals": 3, "thresholds": AVAIL},
            description="Độ sẵn sàng toàn tỉnh, 30 ngày",
        ),
    ]
    return dashboard(
        "netwatch-overview",
        "netwatch — Province overview / Tổng quan toàn tỉnh",
        "Every site and device of the province now: status, worst links, busiest uplinks, alerts.",
        [datasource_var(), *hierarchy_vars(), link_role_var(), uplink_var()],
        panels,
    )


def site() -> Panel:
    panels = [
        row("Status — Trạng thái"),
        table(
            "Sites",
            [target(f"netwatch_site_status{{{TREE}}} == 1", instant=True, table=True)],
            w=8,
            h=9,
            transformations=[HIDE_TIME],
            description="Các điểm và trạng thái",
        ),
        table(
            "Devices",
            [target(f"netwatch_device_status{{{TREE}}} == 1", instant=True, table=True)],
            w=10,
            h=9,
            transformations=[HIDE_TIME],
            description="Các thiết bị và trạng thái",
        ),
        stat(
            "Devices by status",
            [
                target(
                    f"sum by (status) (netwatch_device_status{{{TREE}}})",
                    "{{status}}",
                    instant=True,
                )
            ],
            w=6,
            h=9,
            overrides=STATUS_OVERRIDES,
        ),
        state_timeline(
            "Reachability",
            [target(f"netwatch_device_up{{{TREE}}}", "{{device}}")],
            w=24,
            h=8,
            description="Thiết bị lên/xuống theo thời gian",
        ),
        row("Network — Mạng"),
        timeseries(
            "ICMP round-trip time (avg)",
            [target(f'netwatch_icmp_rtt_seconds{{{TREE}, stat="avg"}}', "{{device}}")],
            "s",
            w=12,
        ),
        timeseries(
            "ICMP loss (5 m)",
            [target(f"netwatch_device:icmp_loss:ratio_rate5m{{{TREE}}}", "{{device}}")],
            "percentunit",
            w=12,
            defaults={"min": 0, "max": 1},
        ),
        timeseries(
            "Interface traffic",
            [
                target(
                    f"rate(netwatch_interface_receive_bytes_total{{{TREE}}}[$__rate_interval]) * 8",
                    "{{device}} {{ifname}} in",
                ),
                target(
                    f"rate(netwatch_interface_transmit_bytes_total{{{TREE}}}"
                    "[$__rate_interval]) * 8",
                    "{{device}} {{ifname}} out",
                ),
            ],
            "bps",
            w=12,
            overrides=[NEGATIVE_OUT],
        ),
        timeseries(
            "Interface utilisation (busier direction, 5 m)",
            [
                target(
                    f"netwatch_interface:utilisation:max_ratio_rate5m{{{TREE}}}",
                    "{{device}} {{ifname}}",
                )
            ],
            "percentunit",
            w=12,
            defaults={"min": 0},
        ),
        table(
            "Interface status",
            [target(f"netwatch_interface_up{{{TREE}}}", instant=True, table=True)],
            w=24,
            h=8,
            transformations=[HIDE_TIME],
            defaults={"mappings": UP_DOWN},
        ),
        row("Servers and services — Máy chủ và dịch vụ"),
        timeseries(
            "CPU load",
            [target(f"avg without (cpu) (netwatch_host_cpu_load_ratio{{{TREE}}})", "{{device}}")],
            "percentunit",
            w=8,
            defaults={"min": 0, "max": 1},
        ),
        timeseries(
            "Memory used",
            [target(f"netwatch_host:memory_used:ratio{{{TREE}}}", "{{device}}")],
            "percentunit",
            w=8,
            defaults={"min": 0, "max": 1},
        ),
        bargauge(
            "Storage used",
            [
                target(
                    f"netwatch_host:storage_used:ratio{{{TREE}}}",
                    "{{device}} {{storage}}",
                    instant=True,
                )
            ],
            "percentunit",
            w=8,
            defaults={"min": 0, "max": 1, "thresholds": BAD_HIGH},
        ),
        state_timeline(
            "Services",
            [target(f"netwatch_service_up{{{TREE}}}", "{{device}} {{service}}")],
            w=12,
            description="Dịch vụ (HTTP, TCP, DNS) lên/xuống",
        ),
        bargauge(
            "TLS certificates: time left",
            [
                target(
                    f"netwatch_tls_cert_expiry_timestamp_seconds{{{TREE}}} - time()",
                    "{{device}} {{service}}",
                    instant=True,
                )
            ],
            "s",
            w=12,
            defaults={"thresholds": CERT},
            description="Thời hạn chứng thư số còn lại",
        ),
    ]
    return dashboard(
        "netwatch-site",
        "netwatch — Site / Điểm",
        "Everything at one site and below it: choose province, district and commune.",
        [datasource_var(), *hierarchy_vars()],
        panels,
    )


NEGATIVE_OUT = {
    "matcher": {"id": "byRegexp", "options": ".* out$"},
    "properties": [{"id": "custom.transform", "value": "negative-Y"}],
}


def device() -> Panel:
    device_var = query_var(
        "device",
        "Device / Thiết bị",
        f"label_values(netwatch_device_up{{{TREE}}}, device)",
        multi=False,
    )
    interface_var = query_var(
        "interface",
        "Interface / Cổng",
        'label_values(netwatch_interface_up{device="$device"}, ifname)',
    )
    panels = [
        row("Reachability — Kết nối"),
        stat(
            "Status",
            [target(f"netwatch_device_status{{{DEV}}} == 1", "{{status}}", instant=True)],
            w=6,
            text_mode="name",
            overrides=STATUS_OVERRIDES,
        ),
        stat(
            "SNMP",
            [target(f"netwatch_snmp_up{{{DEV}}}", instant=True)],
            w=4,
            defaults={"mappings": UP_DOWN},
        ),
        stat(
            "Uptime",
            [target(f"netwatch_device_uptime_seconds{{{DEV}}}", instant=True)],
            "s",
            w=7,
            defaults={"thresholds": thresholds((None, "orange"), (3600, "green"))},
            description="sysUpTime: thời gian từ lần khởi động gần nhất",
        ),
        stat(
            "Reboots in range",
            [target(f"increase(netwatch_device_reboots_total{{{DEV}}}[$__range])", instant=True)],
            w=7,
            defaults={"decimals": 0, "thresholds": thresholds((None, "green"), (1, "orange"))},
            description="Số lần khởi động lại trong khoảng thời gian đang xem",
        ),
        state_timeline(
            "Reachability", [target(f"netwatch_device_up{{{DEV}}}", "{{device}}")], w=24, h=4
        ),
        row("Latency and loss — Độ trễ và mất gói"),
        timeseries(
            "Round-trip time", [target(f"netwatch_icmp_rtt_seconds{{{DEV}}}", "{{stat}}")], "s", w=8
        ),
        timeseries(
            "Loss",
            [
                target(f"netwatch_icmp_loss_ratio{{{DEV}}}", "last round"),
                target(f"netwatch_device:icmp_loss:ratio_rate5m{{{DEV}}}", "5 m"),
            ],
            "percentunit",
            w=8,
            defaults={"min": 0, "max": 1},
        ),
        timeseries(
            "Jitter", [target(f"netwatch_icmp_jitter_seconds{{{DEV}}}", "jitter")], "s", w=8
        ),
        row("Interfaces — Cổng mạng"),
        timeseries(
            "Traffic",
            [
                target(
                    f"rate(netwatch_interface_receive_bytes_total{{{IFACE}}}{RI}) * 8",
                    "{{ifname}} in",
                ),
                target(
                    f"rate(netwatch_interface_transmit_bytes_total{{{IFACE}}}{RI}) * 8",
                    "{{ifname}} out",
                ),
            ],
            "bps",
            w=12,
            overrides=[NEGATIVE_OUT],
            description="Lưu lượng (bit/s); ra là âm",
        ),
        timeseries(
            "Utilisation against speed",
            [
                target(
                    f"rate(netwatch_interface_receive_bytes_total{{{IFACE}}}{RI})"
                    f" / (netwatch_interface_speed_bytes{{{IFACE}}} > 0)",
                    "{{ifname}} in",
                ),
                target(
                    f"rate(netwatch_interface_transmit_bytes_total{{{IFACE}}}{RI})"
                    f" / (netwatch_interface_speed_bytes{{{IFACE}}} > 0)",
                    "{{ifname}} out",
                ),
            ],
            "percentunit",
            w=12,
            defaults={"min": 0},
        ),
        timeseries(
            "Errors",
            [
                target(
                    f"rate(netwatch_interface_errors_total{{{IFACE}}}[$__rate_interval])",
                    "{{ifname}} {{direction}}",
                )
            ],
            "pps",
            w=12,
        ),
        timeseries(
            "Discards",
            [
                target(
                    f"rate(netwatch_interface_discards_total{{{IFACE}}}[$__rate_interval])",
                    "{{ifname}} {{direction}}",
                )
            ],
            "pps",
            w=12,
        ),
        table(
            "Interface status",
            [
                target(f"netwatch_interface_up{{{IFACE}}}", instant=True, table=True),
                target(f"netwatch_interface_admin_up{{{IFACE}}}", instant=True, table=True),
                target(f"netwatch_interface_speed_bytes{{{IFACE}}} * 8", instant=True, table=True),
            ],
            w=24,
            transformations=[
                {"id": "merge", "options": {}},
                {
                    "id": "organize",
                    "options": {
                        "excludeByName": {
                            "Time": True,
                            "job": True,
                            "instance": True,
                            "province": True,
                            "district": True,
                            "commune": True,
                            "site": True,
                            "role": True,
                            "device": True,
                        },
                        "renameByName": {
                            "Value #A": "oper",
                            "Value #B": "admin",
                            "Value #C": "speed",
                        },
                    },
                },
            ],
            overrides=[
                {
                    "matcher": {"id": "byRegexp", "options": "oper|admin"},
                    "properties": [
                        {"id": "mappings", "value": UP_DOWN},
                        {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                    ],
                },
                {
                    "matcher": {"id": "byName", "options": "speed"},
                    "properties": [{"id": "unit", "value": "bps"}],
                },
            ],
        ),
        row("System — Hệ thống"),
        timeseries(
            "CPU load",
            [target(f"netwatch_host_cpu_load_ratio{{{DEV}}}", "cpu {{cpu}}")],
            "percentunit",
            w=8,
            defaults={"min": 0, "max": 1},
        ),
        timeseries(
            "Memory",
            [target(f"netwatch_host_memory_bytes{{{DEV}}}", "{{kind}}")],
            "bytes",
            w=8,
            defaults={"min": 0},
        ),
        bargauge(
            "Storage used",
            [target(f"netwatch_host:storage_used:ratio{{{DEV}}}", "{{storage}}", instant=True)],
            "percentunit",
            w=8,
            defaults={"min": 0, "max": 1, "thresholds": BAD_HIGH},
        ),
        timeseries(
            "Storage used (bytes)",
            [target(f'netwatch_host_storage_bytes{{{DEV}, kind="used"}}', "{{storage}}")],
            "bytes",
            w=12,
            defaults={"min": 0},
        ),
        timeseries(
            "Uptime",
            [target(f"netwatch_device_uptime_seconds{{{DEV}}}", "uptime")],
            "s",
            w=12,
            description="Uptime falling to zero is a reboot",
        ),
        row("Health and power — Sức khoẻ và nguồn điện"),
        timeseries(
            "Memory used by pool",
            [target(f"netwatch_host_memory_used_ratio{{{DEV}}}", "{{pool}}")],
            "percentunit",
            w=8,
            defaults={"min": 0, "max": 1},
            description="From the device's vendor MIB where its profile has one",
        ),
        timeseries(
            "Temperatures",
            [target(f"netwatch_sensor_temperature_celsius{{{DEV}}}", "{{sensor}}")],
            "celsius",
            w=8,
        ),
        state_timeline(
            "Fans and power supplies",
            [
                target(f"netwatch_sensor_fan_ok{{{DEV}}}", "fan {{sensor}}"),
                target(f"netwatch_sensor_psu_ok{{{DEV}}}", "psu {{sensor}}"),
            ],
            w=8,
        ),
        stat(
            "UPS on battery",
            [target(f"netwatch_ups_on_battery{{{DEV}}}", "on battery", instant=True)],
            w=6,
            defaults={"thresholds": BAD_HIGH},
        ),
        stat(
            "UPS battery charge",
            [target(f"netwatch_ups_battery_charge_ratio{{{DEV}}}", "charge", instant=True)],
            "percentunit",
            w=6,
        ),
        stat(
            "UPS runtime left",
            [target(f"netwatch_ups_battery_runtime_seconds{{{DEV}}}", "runtime", instant=True)],
            "s",
            w=6,
        ),
        timeseries(
            "UPS time on battery",
            [target(f"netwatch_ups_time_on_battery_seconds{{{DEV}}}", "on battery")],
            "s",
            w=6,
        ),
        row("Services — Dịch vụ"),
        state_timeline(
            "Service up", [target(f"netwatch_service_up{{{DEV}}}", "{{service}}")], w=12
        ),
        timeseries(
            "Service response time",
            [target(f"netwatch_service_duration_seconds{{{DEV}}}", "{{service}}")],
            "s",
            w=12,
        ),
        bargauge(
            "TLS certificate: time left",
            [
                target(
                    f"netwatch_tls_cert_expiry_timestamp_seconds{{{DEV}}} - time()",
                    "{{service}}",
                    instant=True,
                )
            ],
            "s",
            w=24,
            h=5,
            defaults={"thresholds": CERT},
        ),
    ]
    return dashboard(
        "netwatch-device",
        "netwatch — Device / Thiết bị",
        "One device: reachability, latency, interfaces, system resources and services.",
        [datasource_var(), *hierarchy_vars(), device_var, interface_var],
        panels,
    )


def wan() -> Panel:
    panels = [
        row("Loss and latency per link — Mất gói và độ trễ từng tuyến"),
        heatmap(
            "Loss per link (5 m)",
            [target(f"netwatch_device:icmp_loss:ratio_rate5m{{{LINK}}}", "{{device}}")],
            "percentunit",
            w=24,
            h=10,
            description="Mỗi hàng là một tuyến; màu đỏ = mất gói",
        ),
        heatmap(
            "Latency per link (avg RTT)",
            [target(f'netwatch_icmp_rtt_seconds{{{LINK}, stat="avg"}}', "{{device}}")],
            "s",
            w=24,
            h=10,
            description="Mỗi hàng là một tuyến; màu đỏ = độ trễ cao",
        ),
        timeseries(
            "Loss per link (1 h)",
            [target(f"netwatch_device:icmp_loss:ratio_rate1h{{{LINK}}}", "{{device}}")],
            "percentunit",
            w=12,
            defaults={"min": 0, "max": 1},
        ),
        timeseries(
            "Jitter per link",
            [target(f"netwatch_icmp_jitter_seconds{{{LINK}}}", "{{device}}")],
            "s",
            w=12,
        ),
        row("Flapping — Chập chờn"),
        state_timeline(
            "Flapping links",
            [target(f"netwatch_device_flapping{{{LINK}}}", "{{device}}")],
            w=12,
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "stable", "color": "green", "index": 0},
                        "1": {"text": "flapping", "color": "orange", "index": 1},
                    },
                }
            ],
            description="Tuyến lên xuống liên tục",
        ),
        bargauge(
            "Most up/down changes in range",
            [
                target(
                    f"topk(10, changes(netwatch_device_up{{{LINK}}}[$__range]))",
                    "{{device}}",
                    instant=True,
                )
            ],
            "short",
            w=12,
            defaults={
                "decimals": 0,
                "thresholds": thresholds((None, "green"), (2, "orange"), (6, "red")),
            },
        ),
        row("Uplinks — Cổng WAN"),
        timeseries(
            "Uplink utilisation (busier direction, 5 m)",
            [
                target(
                    f"netwatch_interface:utilisation:max_ratio_rate5m{{{UPLINK}}}",
                    "{{device}} {{ifname}}",
                )
            ],
            "percentunit",
            w=24,
            defaults={"min": 0},
        ),
    ]
    return dashboard(
        "netwatch-wan",
        "netwatch — WAN quality / Chất lượng đường truyền",
        "Loss and latency of every link over time, flapping links and uplink load.",
        [datasource_var(), *hierarchy_vars(), link_role_var(), uplink_var()],
        panels,
    )


def availability() -> Panel:
    avail = 'window="30d", province=~"$province", district=~"$district"'
    communes = 'commune=~"$commune", level="commune"'
    panels = [
        stat(
            "Province (30 d)",
            [
                target(
                    f"netwatch_site_availability_ratio{{{PROVINCE_30D}}}",
                    "{{site}}",
                    instant=True,
                )
            ],
            "percentunit",
            w=12,
            defaults={"decimals": 3, "thresholds": AVAIL},
            description="Độ sẵn sàng toàn tỉnh",
        ),
        stat(
            "Province downtime (30 d)",
            [
                target(
                    '(1 - netwatch_site_availability_ratio{window="30d", level="province", '
                    'province=~"$province"}) * 30 * 86400',
                    "{{site}}",
                    instant=True,
                )
            ],
            "s",
            w=12,
            defaults={"thresholds": thresholds((None, "green"), (3600, "orange"), (86400, "red"))},
            description="Tổng thời gian gián đoạn tương đương trong 30 ngày",
        ),
        bargauge(
            "Districts (30 d)",
            [
                target(
                    f'sort(netwatch_site_availability_ratio{{{avail}, level="district"}})',
                    "{{site}}",
                    instant=True,
                )
            ],
            "percentunit",
            w=12,
            h=10,
            defaults={"decimals": 3, "min": 0.9, "max": 1, "thresholds": AVAIL},
            description="Độ sẵn sàng từng huyện, 30 ngày",
        ),
        bargauge(
            "Communes (30 d)",
            [
                target(
                    f"sort(netwatch_site_availability_ratio{{{avail}, {communes}}})",
                    "{{district}} / {{site}}",
                    instant=True,
                )
            ],
            "percentunit",
            w=12,
            h=10,
            defaults={"decimals": 3, "min": 0.9, "max": 1, "thresholds": AVAIL},
            description="Độ sẵn sàng từng xã, 30 ngày",
        ),
        timeseries(
            "Districts over time",
            [target(f'netwatch_site_availability_ratio{{{avail}, level="district"}}', "{{site}}")],
            "percentunit",
            w=24,
            defaults={"decimals": 3, "max": 1},
        ),
        table(
            "All sites (30 d)",
            [
                target(
                    f'netwatch_site_availability_ratio{{{avail}, commune=~"$commune"}}',
                    instant=True,
                    table=True,
                )
            ],
            "percentunit",
            w=24,
            h=10,
            transformations=[HIDE_TIME],
            defaults={"decimals": 3},
        ),
    ]
    return dashboard(
        "netwatch-availability",
        "netwatch — Availability / Độ sẵn sàng",
        "Availability per district and commune over 30 days (netwatch_site_availability_ratio).",
        [datasource_var(), *hierarchy_vars()],
        panels,
        time_from="now-30d",
    )


def agent() -> Panel:
    inst = 'instance=~"$instance"'

    def lag(q: float) -> str:
        return (
            f"histogram_quantile({q}, sum by (le, check) "
            f"(rate(netwatch_poll_lag_seconds_bucket{{{inst}}}[$__rate_interval])))"
        )

    panels = [
        stat(
            "Agent up",
            [target(f'up{{job="netwatch", {inst}}}', "{{instance}}", instant=True)],
            w=6,
            defaults={"mappings": UP_DOWN},
        ),
        stat(
            "Version",
            [
                target(
                    f"netwatch_build_info{{{inst}}}",
                    "{{version}} (Python {{python}})",
                    instant=True,
                )
            ],
            w=6,
            text_mode="name",
        ),
        stat(
            "netwatch alerts firing",
            [
                target(
                    f"sum by (severity) (netwatch_alerts_firing{{{inst}}})",
                    "{{severity}}",
                    instant=True,
                )
            ],
            w=6,
            defaults={"thresholds": thresholds((None, "green"), (1, "red"))},
        ),
        stat(
            "Notification queue",
            [target(f"netwatch_notification_queue_length{{{inst}}}", instant=True)],
            w=6,
            defaults={"thresholds": thresholds((None, "green"), (10, "orange"), (100, "red"))},
            description="Tin nhắn đang chờ gửi",
        ),
        timeseries(
            "Poll lag",
            [
                target(lag(0.5), "p50 {{check}}"),
                target(lag(0.9), "p90 {{check}}"),
                target(lag(0.99), "p99 {{check}}"),
            ],
            "s",
            w=12,
            description="Thời điểm bắt đầu thực tế trừ thời điểm dự kiến",
        ),
        timeseries(
            "Polls by result",
            [
                target(
                    f"sum by (check, result) (rate(netwatch_polls_total{{{inst}}}{RI}))",
                    "{{check}} {{result}}",
                )
            ],
            "ops",
            w=12,
        ),
        timeseries(
            "Notifications by outcome",
            [
                target(
                    f"sum by (channel, result) (increase(netwatch_notifications_total{{{inst}}}"
                    "[$__rate_interval]))",
                    "{{channel}} {{result}}",
                )
            ],
            "short",
            w=12,
            description="Tin nhắn: đã gửi, thử lại, thất bại",
        ),
        timeseries(
            "Notification queue length",
            [target(f"netwatch_notification_queue_length{{{inst}}}", "{{instance}}")],
            "short",
            w=12,
        ),
        timeseries(
            "Slowest SNMP polls",
            [target(f"topk(10, netwatch_snmp_poll_duration_seconds{{{inst}}})", "{{device}}")],
            "s",
            w=12,
        ),
        timeseries(
            "SNMP failures by reason",
            [
                target(
                    f"sum by (reason) (rate(netwatch_snmp_failures_total{{{inst}}}{RI}))",
                    "{{reason}}",
                )
            ],
            "ops",
            w=12,
        ),
        timeseries(
            "Scrape duration and size",
            [
                target(
                    f'scrape_duration_seconds{{job="netwatch", {inst}}}', "duration {{instance}}"
                ),
                target(f'scrape_samples_scraped{{job="netwatch", {inst}}}', "samples {{instance}}"),
            ],
            "s",
            w=24,
            overrides=[
                {
                    "matcher": {"id": "byRegexp", "options": "samples.*"},
                    "properties": [
                        {"id": "unit", "value": "short"},
                        {"id": "custom.axisPlacement", "value": "right"},
                    ],
                }
            ],
        ),
    ]
    instance_var = query_var(
        "instance", "Agent / Máy giám sát", "label_values(netwatch_build_info, instance)"
    )
    return dashboard(
        "netwatch-agent",
        "netwatch — Agent health / Tình trạng máy giám sát",
        "The netwatch agent itself: poll lag, polls by result, notifications and queue.",
        [datasource_var(), instance_var],
        panels,
        time_from="now-6h",
    )


# ------------------------------------------------------------------------------ assembly


def layout(panels: list[Panel]) -> list[Panel]:
    """Give every panel an id and flow them left to right, top to bottom, 24 columns wide."""
    x = y = row_h = 0
    for pid, p in enumerate(panels, start=1):
        p["id"] = pid
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        p["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
        x += w
        row_h = max(row_h, h)
    return panels


def dashboard(
    uid: str,
    title: str,
    description: str,
    variables: list[Panel],
    panels: list[Panel],
    *,
    time_from: str = "now-6h",
) -> Panel:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["netwatch"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "weekStart": "monday",
        "links": [
            {
                "title": "netwatch",
                "type": "dashboards",
                "tags": ["netwatch"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "templating": {"list": variables},
        "panels": layout(panels),
    }


DASHBOARDS = {
    "overview.json": overview,
    "site.json": site,
    "device.json": device,
    "wan-quality.json": wan,
    "availability.json": availability,
    "agent-health.json": agent,
}


def render() -> dict[str, str]:
    """File name -> JSON text, exactly as written to disk."""
    return {
        name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
        for name, build in DASHBOARDS.items()
    }


def main() -> int:
    for name, text in render().items():
        (HERE / name).write_text(text, encoding="utf-8")
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
