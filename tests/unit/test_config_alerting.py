"""The alerting, maintenance, notify and up_checks sections, and TCP TLS options, load right."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from netwatch.config import load_config
from netwatch.errors import ConfigError
from netwatch.models import AgentSettings, Device, Secret, TcpSpec
from netwatch.settings.alerting import DEFAULT_SEVERITY, AlertSettings
from netwatch.settings.config import Config
from netwatch.settings.notify import NotifySettings

ENV = {"SMTP_PASSWORD": "smtp-secret-value", "SNMP_COMMUNITY": "public-test"}
SITES = """\
sites:
  - id: can-tho
    level: province
    devices:
      - {id: core-rtr, address: 10.10.0.1, role: router}
      - {id: eoffice, address: 10.10.1.20, role: server}
"""


def load(
    folder: Path, text: str, *, with_sites: bool = False, environ: dict[str, str] | None = None
) -> Config:
    """Loads ``text`` (dedented), followed by the small SITES tree with ``with_sites``."""
    path = folder / "netwatch.yaml"
    path.write_text(textwrap.dedent(text) + (SITES if with_sites else ""), encoding="utf-8")
    return load_config(path, environ=ENV if environ is None else environ)


def devices(config: Config) -> dict[str, Device]:
    return {device.id: device for device in config.devices}


# --------------------------------------------------------------------------- alerting


def test_alerting_section_sets_every_field(tmp_path: Path) -> None:
    """Durations, threshold, digest and URL are read; severity merges over the defaults."""
    config = load(
        tmp_path,
        """\
        alerting:
          repeat_interval: 2h
          escalate_after: 15m
          escalate: [critical, warning]
          flap_window: 5m
          flap_threshold: 3
          hold: 0s
          recheck_timeout: 10m
          digest_time: "07:30"
          digest_roles: [workstation, other]
          severity: {commune/gateway: critical, workstation: info}
          external_url: https://netwatch.cantho.example.gov.vn/
        """,
        with_sites=True,
    )
    a = config.alerting
    assert (a.repeat_interval, a.escalate_after, a.flap_window, a.hold, a.recheck_timeout) == (
        7200.0,
        900.0,
        300.0,
        0.0,
        600.0,
    )
    assert (a.flap_threshold, a.digest_time, a.digest_roles) == (
        3,
        "07:30",
        ("workstation", "other"),
    )
    assert a.escalate == ("critical", "warning")
    assert a.severity_of("commune", "router", gateway=True) == ("critical", False)
    assert a.severity_of("commune", "workstation", gateway=False) == ("info", True)
    # Untouched built-in grades stay.
    assert a.severity_by_role["province/router"] == DEFAULT_SEVERITY["province/router"]
    assert a.external_url == "https://netwatch.cantho.example.gov.vn/"


def test_severity_key_with_a_capital_role_is_an_error(tmp_path: Path) -> None:
    """Roles are lower case in the model, so `Server` in a severity key would never match."""
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "alerting: {severity: {Server: warning}}\n", with_sites=True)
    assert [p.path for p in info.value.problems] == ["alerting.severity.Server"]


def test_an_unknown_severity_to_escalate_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "alerting: {escalate: [critical, urgent]}\n", with_sites=True)
    [problem] = info.value.problems
    assert problem.path == "alerting.escalate"
    assert "unknown severity 'urgent'" in problem.message


def test_without_the_sections_the_defaults_apply(tmp_path: Path) -> None:
    """No alerting/maintenance/notify: built-in alert settings, no windows, no channels;
    notify speaks the agent's language in its time zone."""
    config = load(tmp_path, "agent: {language: en, timezone: Asia/Bangkok}\n", with_sites=True)
    assert config.alerting == AlertSettings()
    assert config.maintenance == ()
    assert config.notify == NotifySettings(language="en", timezone="Asia/Bangkok")
    assert {d.up_checks for d in config.devices} == {("icmp", "snmp")}


def test_config_built_in_code_keeps_working_without_the_new_fields() -> None:
    """Code that builds Config positionally (tests, benchmarks) gets the defaults."""
    config = Config(AgentSettings(), {}, (), (), ())
    assert (config.alerting, config.maintenance, config.notify.smtp) == (AlertSettings(), (), None)


# --------------------------------------------------------------------------- maintenance


def test_one_off_window_starts_at_local_time_in_the_agent_time_zone(tmp_path: Path) -> None:
    """`start` is wall-clock time in agent.timezone; the window is active for its duration."""
    config = load(
        tmp_path,
        """\
        agent: {timezone: Europe/Berlin}
        maintenance:
          - {id: fw, target: core-rtr, start: "2026-12-06 22:00", duration: 3h,
             reason: "Nâng cấp firmware"}
        """,
        with_sites=True,
    )
    (window,) = config.maintenance
    berlin = ZoneInfo("Europe/Berlin")
    assert window.start == datetime(2026, 12, 6, 22, 0, tzinfo=berlin)
    assert (window.target, window.duration, window.recurrence) == (
        "core-rtr",
        timedelta(hours=3),
        "none",
    )
    assert window.reason == "Nâng cấp firmware"
    assert window.active(datetime(2026, 12, 7, 0, 59, tzinfo=berlin).timestamp())
    assert not window.active(datetime(2026, 12, 7, 1, 0, tzinfo=berlin).timestamp())


def test_a_window_in_year_1_or_past_9998_is_a_config_problem(tmp_path: Path) -> None:
    """Not an OverflowError later in the alert engine: each is reported with its path."""
    with pytest.raises(ConfigError) as info:
        load(
            tmp_path,
            """\
            agent: {timezone: Pacific/Kiritimati}
            maintenance:
              - {id: ancient, target: core-rtr, start: "0001-01-01 00:00", duration: 1h}
              - {id: late, target: core-rtr, start: "9998-12-31 23:00", duration: 3d}
              - {id: endless, target: core-rtr, start: "2026-12-06 22:00", duration: 4000d}
            """,
            with_sites=True,
        )
    problems = info.value.problems
    # The 4000d duration is out of range wherever a duration is read: reported where written.
    paths = ["maintenance[0].start", "maintenance[1].start", "maintenance[2].duration"]
    assert [p.path for p in problems] == paths
    assert "1970-01-01 and 9998-12-31" in problems[0].message
    assert "9999-01-01" in problems[1].message
    assert "10 years" in problems[2].message


def test_recurring_windows_repeat_weekly_or_daily(tmp_path: Path) -> None:
    """`every: sunday` repeats each Sunday at `at`; `every: day` each day."""
    config = load(
        tmp_path,
        """\
        maintenance:
          - {id: sun, target: can-tho, every: Sunday, at: "22:00", duration: 2h}
          - {id: backup, target: eoffice, every: day, at: "2:00", duration: 30m}
        """,
        with_sites=True,
    )
    sunday, backup = config.maintenance
    hcm = ZoneInfo("Asia/Ho_Chi_Minh")
    assert (sunday.recurrence, backup.recurrence) == ("weekly", "daily")
    assert sunday.active(datetime(2026, 3, 1, 23, 30, tzinfo=hcm).timestamp())  # a Sunday
    assert not sunday.active(datetime(2026, 3, 2, 23, 30, tzinfo=hcm).timestamp())  # a Monday
    assert backup.active(datetime(2026, 3, 4, 2, 15, tzinfo=hcm).timestamp())
    assert not backup.active(datetime(2026, 3, 4, 2, 30, tzinfo=hcm).timestamp())


def test_window_target_may_be_a_site_of_an_included_file(tmp_path: Path) -> None:
    """Targets are checked after every file is read, so an included district is known."""
    (tmp_path / "districts").mkdir()
    (tmp_path / "districts" / "nk.yaml").write_text(
        "sites: [{id: ninh-kieu, parent: can-tho, devices: [{id: nk-rtr, address: 10.20.0.1}]}]\n",
        encoding="utf-8",
    )
    config = load(
        tmp_path,
        """\
        include: [districts/*.yaml]
        maintenance: [{id: nk, target: ninh-kieu, every: sunday, at: "22:00", duration: 2h}]
        """,
        with_sites=True,
    )
    assert [w.target for w in config.maintenance] == ["ninh-kieu"]


# --------------------------------------------------------------------------- notify


def test_notify_reads_every_channel_with_secrets(tmp_path: Path) -> None:
    """SMTP, Telegram and Alertmanager settings are read; secrets come from env and file;
    ca_file is relative to the config file."""
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "bot").write_text("123:bot-token\n", encoding="utf-8")
    (tmp_path / "ca.pem").write_text("placeholder CA\n", encoding="utf-8")
    config = load(
        tmp_path,
        """\
        notify:
          external_url: https://netwatch.cantho.example.gov.vn/
          language: en
          timezone: Asia/Bangkok
          webhook_timeout: 5s
          smtp: {host: mail.example.gov.vn, security: tls, user: netwatch,
                 password: {env: SMTP_PASSWORD}, from: "netwatch <netwatch@example.gov.vn>",
                 timeout: 20s, ca_file: ca.pem}
          telegram: {bot_token: {file: secrets/bot}, api_base: "http://127.0.0.1:8081",
                     timeout: 3s}
          alertmanager: {urls: ["http://127.0.0.1:9093", "http://127.0.0.2:9093"],
                         resend_interval: 30s, timeout: 2s}
        """,
        with_sites=True,
    )
    n = config.notify
    assert (n.language, n.timezone, n.webhook_timeout) == ("en", "Asia/Bangkok", 5.0)
    assert n.smtp is not None
    assert (n.smtp.host, n.smtp.port, n.smtp.security, n.smtp.user) == (
        "mail.example.gov.vn",
        465,
        "tls",
        "netwatch",
    )
    assert n.smtp.sender == "netwatch <netwatch@example.gov.vn>"
    assert n.smtp.password == Secret("env:SMTP_PASSWORD", "smtp-secret-value")
    assert (n.smtp.timeout, n.smtp.ca_file) == (20.0, str(tmp_path / "ca.pem"))
    assert n.telegram is not None
    assert n.telegram.bot_token.reveal() == "123:bot-token"
    assert (n.telegram.api_base, n.telegram.timeout) == ("http://127.0.0.1:8081", 3.0)
    assert n.alertmanager is not None
    assert n.alertmanager.urls == ("http://127.0.0.1:9093", "http://127.0.0.2:9093")
    assert (n.alertmanager.resend_interval, n.alertmanager.timeout) == (30.0, 2.0)
    # The status page URL serves the alert engine's links too.
    assert config.alerting.external_url == "https://netwatch.cantho.example.gov.vn/"


@pytest.mark.parametrize(
    ("security", "port"), [("starttls", 587), ("tls", 465), ("none", 25), ("", 587)]
)
def test_smtp_port_defaults_to_the_usual_one_for_its_security(
    tmp_path: Path, security: str, port: int
) -> None:
    """Without `port`, STARTTLS uses 587, TLS 465 and plain SMTP 25; starttls is the default."""
    line = f"security: {security}, " if security else ""
    config = load(
        tmp_path,
        f"notify: {{smtp: {{{line}host: 10.10.1.25, from: nw@example.gov.vn}}}}\n",
        with_sites=True,
    )
    assert config.notify.smtp is not None
    assert (config.notify.smtp.port, config.notify.smtp.security) == (port, security or "starttls")


def test_alerting_url_serves_notify_when_only_alerting_sets_it(tmp_path: Path) -> None:
    """external_url written under alerting reaches the notifiers' links too."""
    config = load(tmp_path, "alerting: {external_url: 'http://10.10.1.9:9430/'}\n", with_sites=True)
    assert config.notify.external_url == config.alerting.external_url == "http://10.10.1.9:9430/"


def test_contacts_load_when_their_channels_are_configured(tmp_path: Path) -> None:
    """Email, Telegram and Alertmanager contacts load with their notify sections; a webhook
    contact needs none."""
    config = load(
        tmp_path,
        """\
        contacts:
          dc: {email: [dc@cantho.example.gov.vn], telegram: {chat_id: "-100"}, alertmanager: true}
          hook: {webhook: {url: "https://chat.example.gov.vn/hook"}}
        notify:
          smtp: {host: 10.10.1.25, from: nw@example.gov.vn}
          telegram: {bot_token: {env: SMTP_PASSWORD}}
          alertmanager: {urls: ["http://127.0.0.1:9093"]}
        """,
        with_sites=True,
    )
    assert set(config.contacts) == {"dc", "hook"}


def test_secret_values_never_appear_in_errors(tmp_path: Path) -> None:
    """Inline secrets are reported by where they are, never by what they are."""
    with pytest.raises(ConfigError) as info:
        load(
            tmp_path,
            """\
            notify:
              smtp: {host: 10.10.1.25, from: nw@example.gov.vn, user: nw, password: Mat-khau-123}
              telegram: {bot_token: "123456:ABC-secret-token"}
            """,
            with_sites=True,
        )
    text = str(info.value)
    assert [p.path for p in info.value.problems] == [
        "notify.smtp.password",
        "notify.telegram.bot_token",
    ]
    assert "Mat-khau-123" not in text
    assert "ABC-secret-token" not in text


# --------------------------------------------------------------------------- up_checks


def test_up_checks_inherit_role_by_role(tmp_path: Path) -> None:
    """A mapping changes only the roles it names, a list changes all; the device's own wins."""
    config = load(
        tmp_path,
        """\
        defaults:
          snmp: {community: {env: SNMP_COMMUNITY}}
          up_checks: {server: [SNMP, icmp, snmp], workstation: [icmp]}
        sites:
          - id: can-tho
            up_checks: {server: [snmp]}
            devices:
              - {id: srv, address: 10.10.1.20, role: server, snmp: {}}
              - {id: pc, address: 10.10.2.1, role: workstation}
              - {id: rtr, address: 10.10.0.1, role: router}
              - {id: fw, address: 10.10.0.2, role: firewall, snmp: {}, up_checks: snmp}
            sites:
              - id: ninh-kieu
                up_checks: [icmp]
                devices:
                  - {id: nk-srv, address: 10.20.0.10, role: server}
        """,
    )
    up = {device_id: device.up_checks for device_id, device in devices(config).items()}
    assert up == {
        "srv": ("snmp",),
        "pc": ("icmp",),
        "rtr": ("icmp", "snmp"),  # no role entry anywhere: the default
        "fw": ("snmp",),
        "nk-srv": ("icmp",),
    }


def test_defaults_up_checks_deduplicate_and_lower_case(tmp_path: Path) -> None:
    """`[SNMP, icmp, snmp]` reads as (snmp, icmp), in the order written."""
    config = load(
        tmp_path,
        "defaults: {up_checks: [SNMP, icmp, snmp]}\n",
        with_sites=True,
    )
    assert devices(config)["core-rtr"].up_checks == ("snmp", "icmp")


def test_a_device_with_neither_icmp_nor_snmp_is_not_held_to_up_checks(tmp_path: Path) -> None:
    """`icmp: false` and no snmp leaves a device unwatched; up_checks cannot apply to it."""
    config = load(
        tmp_path,
        """\
        defaults: {up_checks: [snmp]}
        sites:
          - id: can-tho
            devices: [{id: pc, address: 10.10.2.1, role: workstation, icmp: false}]
        """,
    )
    assert devices(config)["pc"].up_checks == ("snmp",)


# --------------------------------------------------------------------------- tcp tls


def test_tcp_verify_tls_and_ca_file_are_read(tmp_path: Path) -> None:
    """verify_tls defaults to true; ca_file is relative to the file that names it."""
    (tmp_path / "districts").mkdir()
    (tmp_path / "districts" / "ca.pem").write_text("placeholder CA\n", encoding="utf-8")
    (tmp_path / "districts" / "nk.yaml").write_text(
        textwrap.dedent(
            """\
            sites:
              - id: ninh-kieu
                parent: can-tho
                devices:
                  - id: nk-mail
                    address: 10.20.0.25
                    services:
                      - {tcp: 465, tls: true, ca_file: ca.pem}
                      - {name: sub, tcp: {port: 587, starttls: true, verify_tls: false}}
                      - {name: plain, tcp: 25}
            """
        ),
        encoding="utf-8",
    )
    config = load(tmp_path, "include: [districts/*.yaml]\n", with_sites=True)
    specs = [service.spec for service in devices(config)["nk-mail"].services]
    assert all(isinstance(spec, TcpSpec) for spec in specs)
    assert [(s.verify_tls, s.ca_file) for s in specs if isinstance(s, TcpSpec)] == [
        (True, str(tmp_path / "districts" / "ca.pem")),
        (False, None),
        (True, None),
    ]
