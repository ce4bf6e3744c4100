"""The one catalogue of user-facing text, in Vietnamese (the default) and English.

Notifications use it today and the web UI will later: a key maps to one template per language,
filled with ``str.format`` keywords. Dates and times are shown in the agent's time zone.

>>> t("down", "vi")
'MẤT KẾT NỐI'
>>> t("affected", "en", sites=1, devices=3)
'Affected: 1 site, 3 devices'
>>> format_duration(3900, "vi")
'1 giờ 5 phút'
>>> format_time(1700000000.0, "Asia/Ho_Chi_Minh", "vi")
'05:13 ngày 15/11/2023'
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, tzinfo
from typing import Final, Literal
from zoneinfo import ZoneInfo

Language = Literal["vi", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("vi", "en")
DEFAULT_LANGUAGE: Final[Language] = "vi"

# English plural forms are chosen with the "{n:s|plural}" convention below; Vietnamese has none.
_CATALOGUE: Final[dict[str, dict[Language, str]]] = {
    # headlines (the first words an officer sees on the lock screen)
    "down": {"vi": "MẤT KẾT NỐI", "en": "DOWN"},
    "site_down": {"vi": "MẤT KẾT NỐI ĐƠN VỊ", "en": "SITE DOWN"},
    "service_down": {"vi": "ỨNG DỤNG LỖI", "en": "SERVICE DOWN"},  # as status_degraded
    "flapping": {"vi": "KẾT NỐI CHẬP CHỜN", "en": "FLAPPING"},
    "cert": {"vi": "CHỨNG CHỈ SẮP HẾT HẠN", "en": "CERTIFICATE EXPIRING"},
    "resolved": {"vi": "Đã khôi phục", "en": "Recovered"},
    "flapping_resolved": {"vi": "Đã ổn định", "en": "Stable again"},
    "flapping_ended_down": {
        "vi": "HẾT CHẬP CHỜN, VẪN MẤT KẾT NỐI",
        "en": "STOPPED FLAPPING, STILL DOWN",
    },
    "cert_resolved": {"vi": "Đã gia hạn chứng chỉ", "en": "Certificate renewed"},
    "escalated": {"vi": "CHUYỂN CẤP TRÊN", "en": "ESCALATED"},
    "reminder": {"vi": "NHẮC LẠI LẦN {n}", "en": "REMINDER {n}"},
    "digest": {
        "vi": "{n} máy trạm không hoạt động",
        "en": "{n} workstation{n:s|s} not responding",
    },
    "digest_day": {
        "vi": "{n} máy trạm gặp sự cố từ bản tin trước, nay đã hoạt động",
        "en": "{n} workstation{n:s|s} failed since the last digest, all back now",
    },
    "digest_item_back": {
        "vi": "{device}: mất kết nối {duration}, đã hoạt động lại",
        "en": "{device}: down for {duration}, back",
    },
    "digest_resolved": {
        "vi": "Các máy trạm đã hoạt động trở lại",
        "en": "Workstations are back",
    },
    "test": {"vi": "Tin nhắn thử nghiệm từ netwatch", "en": "Test message from netwatch"},
    "power_on_battery": {
        "vi": "{site} đang chạy bằng pin UPS, còn khoảng {minutes} phút",
        "en": "{site} is running on UPS battery, about {minutes} minutes left",
    },
    "power_on_battery_unknown": {
        "vi": "{site} đang chạy bằng pin UPS",
        "en": "{site} is running on UPS battery",
    },
    "power_restored": {
        "vi": "{site} đã có điện lưới trở lại",
        "en": "{site} is back on mains power",
    },
    # body lines
    "line_site": {"vi": "Đơn vị: {site}", "en": "Site: {site}"},
    "line_since": {"vi": "Từ: {time}", "en": "Since: {time}"},
    "line_period": {"vi": "Từ {start} đến {end}", "en": "From {start} to {end}"},
    "line_duration": {"vi": "Thời gian gián đoạn: {duration}", "en": "Outage lasted: {duration}"},
    "affected": {
        "vi": "Ảnh hưởng: {sites} đơn vị, {devices} thiết bị",
        "en": "Affected: {sites} site{sites:s|s}, {devices} device{devices:s|s}",
    },
    "affected_sites": {
        "vi": "{sites} đơn vị bị ảnh hưởng",
        "en": "{sites} site{sites:s|s} affected",
    },
    "line_detail": {"vi": "Chi tiết: {detail}", "en": "Detail: {detail}"},
    "line_link": {"vi": "Xem: {url}", "en": "Status: {url}"},
    "escalated_note": {
        "vi": "Sự cố chưa được khắc phục, đã thông báo lên cấp trên.",
        "en": "Not resolved yet; the parent site's contacts were told.",
    },
    "no_longer_monitored": {"vi": "NGỪNG GIÁM SÁT", "en": "NO LONGER MONITORED"},
    "removed_note": {
        "vi": "Thiết bị đã bị gỡ khỏi cấu hình khi đang mất kết nối; netwatch không theo dõi nữa.",
        "en": "The device was removed from the config while down; netwatch no longer watches it.",
    },
    "still_down_note": {
        "vi": "Thiết bị không còn chập chờn nhưng vẫn mất kết nối; sẽ báo khi có lại kết nối.",
        "en": "The device no longer flaps but is still down; you will be told when it is back.",
    },
    "flapping_note": {
        "vi": "Thiết bị liên tục mất và có lại kết nối.",
        "en": "The device keeps going down and up.",
    },
    "digest_more": {"vi": "… và {n} máy khác", "en": "… and {n} more"},
    "test_note": {
        "vi": "Kênh {channel} hoạt động bình thường. Không cần xử lý.",
        "en": "The {channel} channel works. No action needed.",
    },
    "line_sent_at": {"vi": "Gửi lúc: {time}", "en": "Sent at: {time}"},
    # statuses, for the web UI and summaries
    "status_up": {"vi": "Hoạt động", "en": "Up"},
    "status_down": {"vi": "Mất kết nối", "en": "Down"},
    "status_unreachable": {"vi": "Không truy cập được", "en": "Unreachable"},
    "status_maintenance": {"vi": "Đang bảo trì", "en": "Maintenance"},
    "status_unknown": {"vi": "Chưa rõ", "en": "Unknown"},
    # a display state: up, but an application on it fails (alerting and history keep "up")
    "status_degraded": {"vi": "Ứng dụng lỗi", "en": "Degraded"},
    # why a check failed (FailureKind), for people: no probe's English in a Vietnamese message
    "failure_timeout": {"vi": "không phản hồi trong thời gian chờ", "en": "timeout"},
    "failure_unreachable": {"vi": "không có đường tới thiết bị", "en": "unreachable"},
    "failure_refused": {
        "vi": "bị từ chối kết nối (dịch vụ không chạy hoặc cổng đóng)",
        "en": "connection refused",
    },
    "failure_auth": {
        "vi": "sai thông tin xác thực (community, tài khoản hoặc mật khẩu)",
        "en": "authentication failed",
    },
    "failure_protocol": {"vi": "phản hồi không hợp lệ", "en": "protocol error"},
    "failure_dns": {"vi": "không phân giải được tên miền", "en": "name did not resolve"},
    "failure_tls": {"vi": "lỗi TLS hoặc chứng chỉ", "en": "TLS error"},
    "failure_mismatch": {"vi": "phản hồi không như mong đợi", "en": "unexpected answer"},
    "failure_no_such_name": {
        "vi": "thiết bị không có đối tượng SNMP được hỏi",
        "en": "no such SNMP object",
    },
    "failure_permission": {
        "vi": "máy netwatch không được phép gửi gói tin (thiếu quyền)",
        "en": "not permitted to send",
    },
    "failure_error": {"vi": "lỗi khác", "en": "error"},
    "severity_critical": {"vi": "Nghiêm trọng", "en": "Critical"},
    "severity_warning": {"vi": "Cảnh báo", "en": "Warning"},
    "severity_info": {"vi": "Thông tin", "en": "Info"},
    # the status page (web UI)
    "web_title": {"vi": "Trạng thái mạng", "en": "Network status"},
    "web_nav_sites": {"vi": "Đơn vị", "en": "Sites"},
    "web_nav_alerts": {"vi": "Cảnh báo", "en": "Alerts"},
    "web_nav_availability": {"vi": "Khả dụng", "en": "Availability"},
    "web_updated": {"vi": "Cập nhật lúc {time}", "en": "Updated {time}"},
    "web_refresh_failed": {"vi": "Không tải được dữ liệu mới", "en": "Could not refresh"},
    "web_search": {"vi": "Tìm đơn vị hoặc thiết bị…", "en": "Search sites or devices…"},
    "web_problems_only": {"vi": "Chỉ đơn vị có sự cố", "en": "Only sites with problems"},
    "web_devices": {"vi": "Thiết bị", "en": "Devices"},
    "web_device": {"vi": "Thiết bị", "en": "Device"},
    "web_site": {"vi": "Đơn vị", "en": "Site"},
    "web_level": {"vi": "Cấp", "en": "Level"},
    "web_level_province": {"vi": "Tỉnh", "en": "Province"},
    "web_level_district": {"vi": "Huyện", "en": "District"},
    "web_level_commune": {"vi": "Xã", "en": "Commune"},
    "web_level_ward": {"vi": "Phường", "en": "Ward"},
    "web_level_town": {"vi": "Thị trấn", "en": "Town"},
    "web_services_failing": {"vi": "Ứng dụng lỗi", "en": "Services failing"},
    "web_failing_services": {"vi": "Ứng dụng đang lỗi", "en": "Failing services"},
    "web_coverage": {"vi": "Đã theo dõi", "en": "Coverage"},
    "web_digest_item": {"vi": "Chờ bản tin hằng ngày", "en": "In the daily digest"},
    "web_status": {"vi": "Trạng thái", "en": "Status"},
    "web_address": {"vi": "Địa chỉ", "en": "Address"},
    "web_role": {"vi": "Vai trò", "en": "Role"},
    "web_cause": {"vi": "Nguyên nhân gốc", "en": "Root cause"},
    "web_since": {"vi": "Từ", "en": "Since"},
    "web_checks": {"vi": "Các phép kiểm tra", "en": "Checks"},
    "web_check": {"vi": "Kiểm tra", "en": "Check"},
    "web_last": {"vi": "Lần cuối", "en": "Last"},
    "web_result": {"vi": "Kết quả", "en": "Result"},
    "web_ok": {"vi": "Bình thường", "en": "OK"},
    "web_duration": {"vi": "Thời gian", "en": "Duration"},
    "web_icmp": {"vi": "Ping (ICMP)", "en": "Ping (ICMP)"},
    "web_rtt": {"vi": "Độ trễ", "en": "RTT"},
    "web_loss": {"vi": "Mất gói", "en": "Loss"},
    "web_jitter": {"vi": "Dao động trễ", "en": "Jitter"},
    "web_rtt_chart": {
        "vi": "Độ trễ (đường) và mất gói (cột đỏ), 4 giờ gần nhất",
        "en": "RTT (line) and loss (red bars), last 4 hours",
    },
    "web_no_data": {"vi": "Chưa có dữ liệu", "en": "No data yet"},
    "web_interfaces": {"vi": "Giao diện mạng", "en": "Interfaces"},
    "web_speed": {"vi": "Tốc độ", "en": "Speed"},
    "web_in": {"vi": "Nhận", "en": "In"},
    "web_out": {"vi": "Gửi", "en": "Out"},
    "web_errors": {"vi": "Lỗi", "en": "Errors"},
    "web_host": {"vi": "Tài nguyên máy chủ", "en": "Host resources"},
    "web_cpu": {"vi": "CPU", "en": "CPU"},
    "web_memory": {"vi": "Bộ nhớ", "en": "Memory"},
    "web_disk": {"vi": "Ổ đĩa", "en": "Disk"},
    "web_uptime": {"vi": "Thời gian chạy", "en": "Uptime"},
    "web_services": {"vi": "Dịch vụ", "en": "Services"},
    "web_transitions": {"vi": "Thay đổi trạng thái gần đây", "en": "Recent changes"},
    "web_traps": {"vi": "Bẫy SNMP gần đây", "en": "Recent SNMP traps"},
    "web_trap_kind": {"vi": "Loại", "en": "Kind"},
    "web_trap_detail": {"vi": "Chi tiết", "en": "Detail"},
    "web_time": {"vi": "Thời điểm", "en": "Time"},
    "web_alerts_title": {"vi": "Cảnh báo đang mở", "en": "Open alerts"},
    "web_no_alerts": {"vi": "Không có cảnh báo nào.", "en": "No open alerts."},
    "web_severity": {"vi": "Mức độ", "en": "Severity"},
    "web_started": {"vi": "Bắt đầu", "en": "Started"},
    "web_ack": {"vi": "Xác nhận", "en": "Acknowledge"},
    "web_acked_by": {"vi": "Đã xác nhận: {detail}", "en": "Acknowledged by {detail}"},
    "web_silence": {"vi": "Tạm ẩn", "en": "Silence"},
    "web_token": {"vi": "Mã truy cập API", "en": "API token"},
    "web_token_save": {"vi": "Lưu", "en": "Save"},
    "web_token_clear": {"vi": "Xoá mã", "en": "Forget"},
    "web_token_saved": {"vi": "Đã lưu mã cho phiên này", "en": "Token kept for this session"},
    "web_token_missing": {
        "vi": "Hãy nhập mã truy cập API trước",
        "en": "Enter the API token first",
    },
    "web_your_name": {"vi": "Tên người xử lý", "en": "Your name"},
    "web_action_ok": {"vi": "Đã thực hiện", "en": "Done"},
    "web_action_failed": {"vi": "Không thực hiện được: {detail}", "en": "Failed: {detail}"},
    "web_silences": {"vi": "Đang tạm ẩn", "en": "Silences"},
    "web_until": {"vi": "Đến", "en": "Until"},
    "web_remove": {"vi": "Bỏ", "en": "Remove"},
    "web_maintenance": {"vi": "Bảo trì theo kế hoạch", "en": "Planned maintenance"},
    "web_target": {"vi": "Đối tượng", "en": "Target"},
    "web_reason": {"vi": "Lý do", "en": "Reason"},
    "web_availability_title": {"vi": "Khả dụng theo tháng", "en": "Monthly availability"},
    "web_month": {"vi": "Tháng", "en": "Month"},
    "web_show": {"vi": "Xem", "en": "Show"},
    "web_history_disabled": {
        "vi": "Lịch sử chưa được bật hoặc không đọc được.",
        "en": "History is disabled or cannot be read.",
    },
    "web_download_csv": {"vi": "Tải CSV", "en": "Download CSV"},
    "web_not_found": {"vi": "Không tìm thấy", "en": "Not found"},
    "web_all": {"vi": "Tất cả", "en": "All"},
    "web_none": {"vi": "Không có", "en": "None"},
    # durations and dates
    "days": {"vi": "{n} ngày", "en": "{n} d"},
    "hours": {"vi": "{n} giờ", "en": "{n} h"},
    "minutes": {"vi": "{n} phút", "en": "{n} min"},
    "seconds": {"vi": "{n} giây", "en": "{n} s"},
    "datetime": {"vi": "{hm} ngày {d:02d}/{m:02d}/{y}", "en": "{hm}, {d} {mon} {y}"},
}

# Each state's colour, once: the status page's CSS (``web/static/netwatch.css``, a test keeps
# them equal), the report's HTML and charts use these.
STATE_COLOURS: Final[dict[str, str]] = {
    "up": "#2e7d32",
    "down": "#c62828",
    "unreachable": "#ef6c00",
    "maintenance": "#1565c0",
    "unknown": "#757575",
    "degraded": "#8e24aa",
}

# A commune-level site is a Xã, a Phường (urban ward) or a Thị trấn (town) as its name says.
_COMMUNE_KINDS: Final = (("phường", "web_level_ward"), ("thị trấn", "web_level_town"))

_MONTHS_EN: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # fmt: skip


class _Count(int):
    """An int whose format spec ``s|<suffix>`` yields the suffix unless the count is one."""

    def __format__(self, spec: str) -> str:
        if spec.startswith("s|"):
            return "" if int(self) == 1 else spec[2:]
        return format(int(self), spec)


def message_keys() -> frozenset[str]:
    """Every message key, for tests and for the web UI to check its templates."""
    return frozenset(_CATALOGUE)


def level_text(level: str, lang: str, name: str | None = None) -> str:
    """The level's name for people: ``Tỉnh``, ``Huyện``, ``Xã``; a commune named "Phường …"
    or "Thị trấn …" is a ``Phường`` or a ``Thị trấn``. A level outside the catalogue as it is.

    >>> level_text("district", "vi"), level_text("commune", "vi", "Phường An Bình")
    ('Huyện', 'Phường')
    """
    key = f"web_level_{level}"
    if level == "commune" and name:
        start = name.strip().casefold()
        for prefix, kind in _COMMUNE_KINDS:
            if start.startswith(prefix):
                key = kind
    return t(key, lang) if key in _CATALOGUE else level


def state_text(state: str, lang: str) -> str:
    """The one word for a state (up, down, unreachable, maintenance, unknown, degraded)."""
    return t(f"status_{state}", lang)


# ``str(Failure)`` is "kind: detail"; a service alert's detail is "service: kind: detail".
_KIND = re.compile(r"(?:^|(?<=: ))(?P<kind>[a-z_]+): ")
_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")


def failure_text(text: str, lang: str) -> str:
    """A failure as a person reads it in ``lang``: in Vietnamese the reason from the catalogue
    (the probe's English detail left out, an HTTP status kept), in English as it is.

    >>> failure_text("refused: connect to 10.0.0.5:443: Connection refused", "vi")
    'bị từ chối kết nối (dịch vụ không chạy hoặc cổng đóng)'
    >>> failure_text("portal: mismatch: HTTP 503, expected 200", "vi")
    'portal: phản hồi không như mong đợi (HTTP 503)'
    """
    if language(lang) == "en":
        return text
    for m in _KIND.finditer(text):
        key = f"failure_{m['kind']}"
        if key not in _CATALOGUE:
            continue
        out = t(key, lang)
        code = _HTTP_STATUS.search(text, m.end())
        if code is not None:
            out += f" (HTTP {code.group(1)})"
        return f"{text[: m.start() - 2]}: {out}" if m.start() else out
    return text


def language(value: str) -> Language:
    """``value`` if it is a supported language, else the default (Vietnamese)."""
    return "en" if value == "en" else DEFAULT_LANGUAGE


def t(key: str, lang: str, **kw: object) -> str:
    """The text for ``key`` in ``lang`` (falling back to Vietnamese), filled with ``kw``.

    An unknown key raises ``KeyError``: a typo must fail in tests, not show a raw key to users.
    """
    templates = _CATALOGUE[key]
    template = templates.get(language(lang), templates[DEFAULT_LANGUAGE])
    args = {k: _Count(v) if isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in kw.items()}  # fmt: skip
    return template.format(**args)


@functools.lru_cache(maxsize=16)
def zone(name: str) -> tzinfo:
    """The ``ZoneInfo`` for an IANA name, cached (the tz database is read from disk)."""
    return ZoneInfo(name)


def _tz(tz: str | tzinfo) -> tzinfo:
    return zone(tz) if isinstance(tz, str) else tz


def format_time(ts: float, tz: str | tzinfo, lang: str) -> str:
    """Epoch seconds as local time: ``14:05 ngày 20/11/2023`` or ``14:05, 20 Nov 2023``."""
    dt = datetime.fromtimestamp(ts, _tz(tz))
    return t("datetime", lang, hm=dt.strftime("%H:%M"), d=dt.day, m=dt.month,
             mon=_MONTHS_EN[dt.month - 1], y=dt.year)  # fmt: skip


def format_clock(ts: float, tz: str | tzinfo) -> str:
    """Only the local ``HH:MM``, for the second time of a period on the same day."""
    return datetime.fromtimestamp(ts, _tz(tz)).strftime("%H:%M")


def same_day(a: float, b: float, tz: str | tzinfo) -> bool:
    zi = _tz(tz)
    return datetime.fromtimestamp(a, zi).date() == datetime.fromtimestamp(b, zi).date()


def format_duration(seconds: float, lang: str) -> str:
    """A duration with its two largest units: ``2 giờ 5 phút``, ``3 d 4 h``, ``45 giây``."""
    total = max(0, round(seconds))
    parts: list[str] = []
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60), ("seconds", 1)):
        value, total = divmod(total, size)
        if value and len(parts) < 2:
            parts.append(t(unit, lang, n=value))
        elif parts:
            break  # keep units adjacent: "1 d 3 h", never "1 d 5 s"
    return " ".join(parts) or t("seconds", lang, n=0)
