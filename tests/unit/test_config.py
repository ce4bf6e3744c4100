"""The config loader: valid YAML becomes the right frozen dataclasses, fully resolved."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from netwatch.config import load_config, parse_duration, summarize
from netwatch.errors import ConfigError
from netwatch.models import (
    AgentSettings,
    Device,
    DnsSpec,
    HttpSpec,
    IcmpSettings,
    Role,
    Secret,
    SnmpSettings,
    TcpSpec,
)
from netwatch.settings.config import Config

ENV = {"SNMP_COMMUNITY": "public-test", "API_TOKEN": "token-test", "BOT_TOKEN": "bot-test"}
# Contacts with e-mail or Telegram need the server side of those channels.
NOTIFY = """\
notify:
  smtp: {host: mail.example.gov.vn, from: netwatch@example.gov.vn}
  telegram: {bot_token: {env: BOT_TOKEN}}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(folder: Path, text: str, environ: dict[str, str] | None = None) -> Config:
    return load_config(
        write(folder, "netwatch.yaml", text), environ=ENV if environ is None else environ
    )


def devices(config: Config) -> dict[str, Device]:
    return {device.id: device for device in config.devices}


def problems(folder: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(folder, text, environ)
    return [f"{p.path}: {p.message}" for p in info.value.problems]


DESIGN_EXAMPLE = (
    """\
agent: {listen: "0.0.0.0:9430", data_dir: /var/lib/netwatch, language: vi,
        hierarchy: [province, district, commune]}
defaults:
  icmp: {interval: 30s, count: 3, timeout: 1s}
  snmp: {interval: 60s, timeout: 2s, retries: 1, version: 2c, community: {env: SNMP_COMMUNITY}}
  down_after: 3
  up_after: 2
contacts:
  it-ninh-kieu: {email: [cntt@ninhkieu.example.gov.vn], telegram: {chat_id: "-100123"}}
sites:
  - id: can-tho
    name: "TP Cần Thơ — Trung tâm dữ liệu"
    level: province
    devices:
      - {id: core-rtr, address: 10.10.0.1, role: router, snmp: {}}
      - {id: eoffice, address: 10.10.1.20, role: server, snmp: {},
         services: [{http: "https://eoffice.example.gov.vn/", expect_status: 200}]}
    sites:
      - id: ninh-kieu
        level: district
        contacts: [it-ninh-kieu]
        gateway: ninh-kieu-rtr
        devices: [{id: ninh-kieu-rtr, address: 10.20.0.1, role: router, snmp: {}}]
        sites:
          - {id: an-binh, level: commune,
             devices: [{id: an-binh-rtr, address: 10.20.1.1, role: router},
                       {id: an-binh-pc-01, address: 10.20.1.101, role: workstation}]}
"""
    + NOTIFY
)


# --------------------------------------------------------------------------- the DESIGN example


def test_design_example_loads_into_the_model(tmp_path: Path) -> None:
    """The example in DESIGN.md loads into sites, devices, contacts and agent settings."""
    config = load(tmp_path, DESIGN_EXAMPLE)
    assert config.agent == AgentSettings(language="vi")
    assert [s.id for s in config.sites] == ["can-tho", "ninh-kieu", "an-binh"]
    assert [d.id for d in config.devices] == [
        "core-rtr",
        "eoffice",
        "ninh-kieu-rtr",
        "an-binh-rtr",
        "an-binh-pc-01",
    ]
    root = config.sites[0]
    assert (root.name, root.level, root.parent, root.children) == (
        "TP Cần Thơ — Trung tâm dữ liệu",
        "province",
        None,
        ("ninh-kieu",),
    )
    assert config.sites[2].name == "an-binh"  # name defaults to the id
    contact = config.contacts["it-ninh-kieu"]
    assert contact.email == ("cntt@ninhkieu.example.gov.vn",)
    assert contact.telegram_chat_id == "-100123"
    assert config.files == (str(tmp_path / "netwatch.yaml"),)


def test_design_example_resolves_devices(tmp_path: Path) -> None:
    """Devices get their inherited ICMP/SNMP settings, services and dependencies."""
    by_id = devices(load(tmp_path, DESIGN_EXAMPLE))
    router = by_id["core-rtr"]
    assert router.role is Role.ROUTER
    assert router.icmp == IcmpSettings(interval=30.0, count=3, timeout=1.0)
    assert router.snmp == SnmpSettings(community=Secret("env:SNMP_COMMUNITY", "public-test"))
    assert by_id["an-binh-rtr"].snmp is None  # no snmp key, no SNMP
    (service,) = by_id["eoffice"].services
    assert service.name == "http-eoffice.example.gov.vn"
    assert service.spec == HttpSpec("https://eoffice.example.gov.vn/", expect_status=((200, 200),))
    assert by_id["an-binh-pc-01"].depends_on == ("an-binh-rtr",)


# --------------------------------------------------------------------------- inheritance

INHERITANCE = """\
defaults:
  icmp: {interval: 30s, count: 3, timeout: 1s}
  snmp: {timeout: 2s, community: {env: SNMP_COMMUNITY}, collect: [system, interfaces]}
  down_after: 3
  retry_interval: 10s
sites:
  - id: can-tho
    icmp: {interval: 1m}
    down_after: 4
    devices:
      - {id: core-rtr, address: 10.10.0.1, role: router, snmp: {}}
    sites:
      - id: ninh-kieu
        icmp: {count: 5}
        snmp: {port: 1161, interfaces: {include: ["^Gi"]}}
        up_after: 1
        devices:
          - {id: nk-rtr, address: 10.20.0.1, role: router,
             icmp: {timeout: 2s}, snmp: {retries: 3, interfaces: {admin_up_only: true}}}
          - {id: nk-sw, address: 10.20.0.2, role: switch, snmp: {}, down_after: 9}
          - {id: nk-pc, address: 10.20.0.100, role: workstation, snmp: false}
        sites:
          - id: an-binh
            icmp: false
            devices:
              - {id: ab-rtr, address: 10.20.1.1, role: router}
              - {id: ab-srv, address: 10.20.1.2, role: server, icmp: {}}
"""


def test_icmp_settings_merge_key_by_key_from_province_to_device(tmp_path: Path) -> None:
    """Each level overrides only the ICMP keys it writes."""
    by_id = devices(load(tmp_path, INHERITANCE))
    assert by_id["core-rtr"].icmp == IcmpSettings(interval=60.0, count=3, timeout=1.0)
    assert by_id["nk-sw"].icmp == IcmpSettings(interval=60.0, count=5, timeout=1.0)
    assert by_id["nk-rtr"].icmp == IcmpSettings(interval=60.0, count=5, timeout=2.0)


def test_icmp_false_is_inherited_and_a_device_can_switch_it_back_on(tmp_path: Path) -> None:
    """`icmp: false` on a site disables ping below it; `icmp: {}` on a device re-enables it."""
    by_id = devices(load(tmp_path, INHERITANCE))
    assert by_id["ab-rtr"].icmp is None
    assert by_id["ab-srv"].icmp == IcmpSettings(interval=60.0, count=5, timeout=1.0)


def test_snmp_settings_merge_key_by_key(tmp_path: Path) -> None:
    """A device's snmp keys merge over its district's, which merge over the defaults."""
    by_id = devices(load(tmp_path, INHERITANCE))
    rtr = by_id["nk-rtr"].snmp
    assert rtr is not None
    assert (rtr.port, rtr.retries, rtr.timeout, rtr.collect) == (
        1161,
        3,
        2.0,
        ("system", "interfaces"),
    )
    assert rtr.interfaces.include == ("^Gi",)
    assert rtr.interfaces.admin_up_only is True
    sw = by_id["nk-sw"].snmp
    assert sw is not None
    assert (sw.port, sw.retries, sw.interfaces.admin_up_only) == (1161, 1, False)
    assert by_id["core-rtr"].snmp is not None
    assert by_id["core-rtr"].snmp.port == 161


def test_snmp_only_where_the_device_asks_for_it(tmp_path: Path) -> None:
    """Absent or `snmp: false` means no SNMP, whatever the defaults say."""
    by_id = devices(load(tmp_path, INHERITANCE))
    assert by_id["nk-pc"].snmp is None
    assert by_id["ab-rtr"].snmp is None


def test_scalar_settings_are_inherited_most_specific_wins(tmp_path: Path) -> None:
    """down_after/up_after/retry_interval come from the nearest level that sets them."""
    by_id = devices(load(tmp_path, INHERITANCE))
    assert (by_id["core-rtr"].down_after, by_id["core-rtr"].up_after) == (4, 2)
    assert (by_id["nk-rtr"].down_after, by_id["nk-rtr"].up_after) == (4, 1)
    assert by_id["nk-sw"].down_after == 9
    assert by_id["ab-rtr"].retry_interval == 10.0


def test_snmp_version_accepts_int_and_strings(tmp_path: Path) -> None:
    """`version: 3`, `"3"` and `v3` all mean SNMPv3; `2c` stays 2c."""
    config = load(
        tmp_path,
        """\
        defaults:
          snmp: {user: netwatch, community: {env: SNMP_COMMUNITY}}
        sites:
          - id: hq
            devices:
              - {id: a, address: 10.0.0.1, snmp: {version: 3}}
              - {id: b, address: 10.0.0.2, snmp: {version: "3"}}
              - {id: c, address: 10.0.0.3, snmp: {version: V3}}
              - {id: d, address: 10.0.0.4, snmp: {version: 2c}}
        """,
    )
    assert [d.snmp.version for d in config.devices if d.snmp] == ["3", "3", "3", "2c"]


def test_yaml_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    """`<<: *anchor` copies settings; keys written beside it win."""
    config = load(
        tmp_path,
        """\
        defaults:
          snmp: &snmp {community: {env: SNMP_COMMUNITY}, port: 1161, retries: 2}
        sites:
          - id: hq
            devices:
              - {id: a, address: 10.0.0.1, snmp: {<<: *snmp, port: 161}}
        """,
    )
    snmp = config.devices[0].snmp
    assert snmp is not None
    assert (snmp.port, snmp.retries) == (161, 2)


# --------------------------------------------------------------------------- the tree

TREE = (
    """\
contacts:
  dc: {email: [dc@cantho.example.gov.vn]}
  nk: {telegram: {chat_id: -100123}}
sites:
  - id: can-tho
    contacts: [dc]
    devices:
      - {id: core-sw, address: 10.10.0.2, role: switch}
      - {id: core-rtr, address: 10.10.0.1, role: router}
      - {id: eoffice, address: 10.10.1.20, role: server}
      - {id: video, address: 10.10.1.30, role: server, depends_on: [eoffice, core-sw]}
    sites:
      - id: ninh-kieu
        contacts: [nk]
        sites:
          - id: an-binh
            devices:
              - {id: ab-pc, address: 10.20.1.101, role: workstation}
              - {id: ab-sw, address: 10.20.1.2, role: switch}
          - id: tan-an
            contacts: []
            gateway: ta-sw
            devices:
              - {id: ta-rtr, address: 10.20.2.1, role: router}
              - {id: ta-sw, address: 10.20.2.2, role: switch}
      - id: cai-rang
"""
    + NOTIFY
)


def test_levels_default_to_one_below_the_parent(tmp_path: Path) -> None:
    """Without `level`, a root is the first level and a child the next one down."""
    config = load(tmp_path, TREE)
    assert {s.id: s.level for s in config.sites} == {
        "can-tho": "province",
        "ninh-kieu": "district",
        "an-binh": "commune",
        "tan-an": "commune",
        "cai-rang": "district",
    }


def test_sites_come_parents_first_with_children_and_devices(tmp_path: Path) -> None:
    """Config.sites is in pre-order and each Site lists its children and devices."""
    config = load(tmp_path, TREE)
    assert [s.id for s in config.sites] == ["can-tho", "ninh-kieu", "an-binh", "tan-an", "cai-rang"]
    sites = {s.id: s for s in config.sites}
    assert sites["can-tho"].children == ("ninh-kieu", "cai-rang")
    assert sites["an-binh"].devices == ("ab-pc", "ab-sw")
    assert sites["an-binh"].parent == "ninh-kieu"


def test_gateway_defaults_to_first_router_then_first_device(tmp_path: Path) -> None:
    """The first router is the gateway; without routers the first device; without devices none."""
    sites = {s.id: s for s in load(tmp_path, TREE).sites}
    assert sites["can-tho"].gateway == "core-rtr"
    assert sites["an-binh"].gateway == "ab-pc"
    assert sites["tan-an"].gateway == "ta-sw"  # explicit
    assert sites["ninh-kieu"].gateway is None


def test_depends_on_follows_the_gateway_chain(tmp_path: Path) -> None:
    """Devices depend on their site's gateway, gateways on the nearest gateway above."""
    by_id = devices(load(tmp_path, TREE))
    assert by_id["core-rtr"].depends_on == ()
    assert by_id["core-sw"].depends_on == ("core-rtr",)
    # ninh-kieu has no devices, so an-binh's gateway hangs off the province's gateway.
    assert by_id["ab-pc"].depends_on == ("core-rtr",)
    assert by_id["ab-sw"].depends_on == ("ab-pc",)
    assert by_id["ta-sw"].depends_on == ("core-rtr",)
    assert by_id["ta-rtr"].depends_on == ("ta-sw",)


def test_explicit_depends_on_replaces_the_gateway(tmp_path: Path) -> None:
    """An explicit depends_on list is used as written."""
    assert devices(load(tmp_path, TREE))["video"].depends_on == ("eoffice", "core-sw")


def test_contacts_are_own_else_nearest_ancestors(tmp_path: Path) -> None:
    """A site without `contacts` inherits them; `contacts: []` means none."""
    sites = {s.id: s for s in load(tmp_path, TREE).sites}
    assert sites["can-tho"].contacts == ("dc",)
    assert sites["ninh-kieu"].contacts == ("nk",)
    assert sites["an-binh"].contacts == ("nk",)
    assert sites["tan-an"].contacts == ()
    assert sites["cai-rang"].contacts == ("dc",)


# --------------------------------------------------------------------------- secrets


def test_secrets_come_from_env_and_files(tmp_path: Path) -> None:
    """{env:} reads the given environment; {file:} is relative to the config and loses one
    trailing newline; an inline community is accepted and marked inline."""
    write(tmp_path, "secrets/token", "tok\n\n")
    write(tmp_path, "secrets/auth", "auth-pass\r\n")
    config = load(
        tmp_path,
        """\
        agent: {api_token: {file: secrets/token}}
        defaults:
          snmp: {version: 3, user: nw, auth_protocol: SHA, auth_password: {file: secrets/auth}}
        contacts:
          hook: {webhook: {url: "https://hooks.example.gov.vn/x", secret: {env: API_TOKEN}}}
        sites:
          - id: hq
            devices:
              - {id: a, address: 10.0.0.1, snmp: {}}
              - {id: b, address: 10.0.0.2, snmp: {version: 2c, community: public}}
        """,
    )
    assert config.agent.api_token == Secret(f"file:{tmp_path}/secrets/token", "tok\n")
    first, second = config.devices
    assert first.snmp is not None
    assert first.snmp.auth_protocol == "sha"
    assert first.snmp.auth_password == Secret(f"file:{tmp_path}/secrets/auth", "auth-pass")
    assert second.snmp is not None
    assert second.snmp.community == Secret("inline", "public")
    assert config.contacts["hook"].webhook_secret == Secret("env:API_TOKEN", "token-test")


def test_environ_defaults_to_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `environ`, {env:} reads os.environ."""
    monkeypatch.setenv("NETWATCH_TEST_TOKEN", "from-os")
    path = write(tmp_path, "n.yaml", "agent: {api_token: {env: NETWATCH_TEST_TOKEN}}\n")
    assert load_config(path).agent.api_token == Secret("env:NETWATCH_TEST_TOKEN", "from-os")


def test_a_config_can_be_read_without_its_secrets_for_commands_that_need_none(
    tmp_path: Path,
) -> None:
    """``report`` runs from a planner's shell, which holds neither the agent's environment
    nor its secret files: with secrets=False they are not read (and are empty)."""
    path = write(
        tmp_path,
        "n.yaml",
        "agent: {api_token: {env: NETWATCH_UNSET_TOKEN}}\n"
        "defaults: {snmp: {community: {file: secrets/missing}}}\n"
        "sites: [{id: hq, devices: [{id: a, address: 10.0.0.1, snmp: {}}]}]\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert len(info.value.problems) == 2  # the default: both are read, and both are missing
    config = load_config(path, environ={}, secrets=False)
    assert config.agent.api_token == Secret("env:NETWATCH_UNSET_TOKEN", "")
    assert config.devices[0].snmp is not None
    assert config.devices[0].snmp.community == Secret(f"file:{tmp_path}/secrets/missing", "")


def test_problems_never_show_a_secret_value(tmp_path: Path) -> None:
    """An inline secret, or a secret that breaks another rule, is reported without its value."""
    with pytest.raises(ConfigError) as info:
        load(
            tmp_path,
            """\
            agent: {api_token: hunter2-inline}
            defaults:
              snmp: {community: {env: SNMP_COMMUNITY}, auth_password: hunter3-inline}
            sites: [{id: hq, devices: [{id: a, address: 10.0.0.1, snmp: {version: 3}}]}]
            """,
        )
    text = str(info.value)
    assert "hunter2" not in text
    assert "hunter3" not in text
    assert "public-test" not in text
    assert "never inline" in text


# --------------------------------------------------------------------------- includes


def test_included_districts_attach_under_their_parent(tmp_path: Path) -> None:
    """Included sites with `parent:` hang under that site; their files, contacts and devices
    join the config, and inheritance flows from the parent."""
    write(
        tmp_path,
        "districts/ninh-kieu.yaml",
        """\
        contacts:
          nk: {email: [cntt@ninhkieu.example.gov.vn]}
        sites:
          - id: ninh-kieu
            parent: can-tho
            contacts: [nk]
            devices: [{id: nk-rtr, address: 10.20.0.1, role: router}]
            sites:
              - id: an-binh
                devices: [{id: ab-rtr, address: 10.20.1.1, role: router}]
        include: [../more/*.yaml]
        """,
    )
    write(
        tmp_path,
        "more/cai-rang.yaml",
        """\
        sites:
          - {id: cai-rang, parent: can-tho, devices: [{id: cr-rtr, address: 10.30.0.1}]}
          - {id: hau-giang, level: province}
        """,
    )
    config = load(
        tmp_path,
        """\
        defaults: {icmp: {interval: 45s}}
        notify: {smtp: {host: mail.example.gov.vn, from: netwatch@example.gov.vn}}
        include: ["districts/*.yaml", "districts/ninh-*.yaml"]
        sites:
          - id: can-tho
            level: province
            icmp: {count: 4}
            devices: [{id: core-rtr, address: 10.10.0.1, role: router}]
        """,
    )
    assert [Path(f).relative_to(tmp_path).as_posix() for f in config.files] == [
        "netwatch.yaml",
        "districts/ninh-kieu.yaml",
        "districts/../more/cai-rang.yaml",
    ]
    assert [s.id for s in config.sites] == [
        "can-tho",
        "ninh-kieu",
        "an-binh",
        "cai-rang",
        "hau-giang",
    ]
    sites = {s.id: s for s in config.sites}
    assert sites["can-tho"].children == ("ninh-kieu", "cai-rang")
    assert (sites["ninh-kieu"].level, sites["an-binh"].level) == ("district", "commune")
    assert sites["an-binh"].contacts == ("nk",)
    by_id = devices(config)
    assert [d.id for d in config.devices] == ["core-rtr", "nk-rtr", "ab-rtr", "cr-rtr"]
    assert by_id["nk-rtr"].depends_on == ("core-rtr",)
    assert by_id["ab-rtr"].icmp == IcmpSettings(interval=45.0, count=4)


def test_include_problems_name_the_included_file(tmp_path: Path) -> None:
    """A problem inside an included file is located in that file."""
    write(
        tmp_path, "d/x.yaml", "sites: [{id: x, parent: hq, devices: [{id: a, address: 1.2.3}]}]\n"
    )
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "include: [d/x.yaml]\nsites: [{id: hq}]\n")
    (problem,) = info.value.problems
    assert problem.file == str(tmp_path / "d/x.yaml")
    assert (problem.line, problem.path) == (1, "sites[0].devices[0].address")


# --------------------------------------------------------------------------- services


def test_service_forms_and_defaults(tmp_path: Path) -> None:
    """Short and long forms give the same specs; hosts default to the device; names to kind+host;
    interval and timeout are inherited from service_interval / service_timeout."""
    config = load(
        tmp_path,
        """\
        defaults: {service_interval: 2m, service_timeout: 5s, cert_warn_days: 30}
        sites:
          - id: hq
            devices:
              - id: mail
                address: 10.10.1.21
                services:
                  - {http: "https://mail.example.gov.vn/owa", expect_status: [200, "300-399"],
                     method: head, headers: {Host: mail}, verify_tls: false}
                  - {name: api, http: {url: "http://10.10.1.21:8080/health", body_contains: ok},
                     interval: 30s}
                  - {tcp: 25, starttls: true, expect_banner: "220 "}
                  - {tcp: "smtp.example.gov.vn:465", tls: true}
                  - {tcp: {port: 993, tls: true}}
                  - {dns: eoffice.example.gov.vn, expect_address: 10.10.1.20}
                  - {dns: {name: mail.example.gov.vn, server: 10.10.1.53, port: 5353}}
        """,
    )
    owa, api, smtp, smtps, imaps, dns, dns2 = config.devices[0].services
    assert owa.name == "http-mail.example.gov.vn"
    assert owa.spec == HttpSpec(
        "https://mail.example.gov.vn/owa",
        method="HEAD",
        expect_status=((200, 200), (300, 399)),
        headers=(("Host", "mail"),),
        verify_tls=False,
    )
    assert (owa.interval, owa.timeout, owa.cert_warn_days) == (120.0, 5.0, 30)
    assert (api.name, api.interval, api.kind) == ("api", 30.0, "http")
    assert smtp.spec == TcpSpec("10.10.1.21", 25, expect_banner="220 ", starttls=True)
    assert smtp.name == "tcp-10.10.1.21:25"
    assert smtps.spec == TcpSpec("smtp.example.gov.vn", 465, tls=True)
    assert imaps.spec == TcpSpec("10.10.1.21", 993, tls=True)
    assert dns.spec == DnsSpec("eoffice.example.gov.vn", "10.10.1.21", expect_address="10.10.1.20")
    assert dns.name == "dns-eoffice.example.gov.vn"
    assert dns2.spec == DnsSpec("mail.example.gov.vn", "10.10.1.53", port=5353)


# --------------------------------------------------------------------------- agent


def test_agent_settings(tmp_path: Path) -> None:
    """Every agent key maps onto AgentSettings; IPv6 listen addresses use brackets."""
    config = load(
        tmp_path,
        """\
        agent:
          listen: "[::1]:9431"
          data_dir: /srv/netwatch
          language: en
          hierarchy: [tinh, huyen, xa, thon]
          timezone: UTC
          api_token: {env: API_TOKEN}
          log_format: json
          log_level: DEBUG
          max_in_flight: 64
          snmp_workers: 3
        """,
    )
    assert config.agent == AgentSettings(
        listen="[::1]:9431",
        data_dir="/srv/netwatch",
        language="en",
        hierarchy=("tinh", "huyen", "xa", "thon"),
        timezone="UTC",
        api_token=Secret("env:API_TOKEN", "token-test"),
        log_format="json",
        log_level="debug",
        max_in_flight=64,
        snmp_workers=3,
    )
    assert config.sites == ()


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Problems in different sections are all collected, sorted by position."""
    found = problems(
        tmp_path,
        """\
        agent: {language: fr}
        defaults: {icmp: {intervall: 30s}}
        sites: [{id: hq, devices: [{id: a, address: 10.0.0.300}, {id: a, address: 10.0.0.2}]}]
        """,
    )
    assert found == [
        "agent.language: invalid value 'fr'; expected one of: vi, en",
        "defaults.icmp.intervall: unknown key 'intervall'; did you mean 'interval'?",
        "sites[0].devices[0].address: invalid IPv4 address '10.0.0.300'",
        "sites[0].devices[1].id: duplicate device id 'a' (first at "
        f"{tmp_path / 'netwatch.yaml'}:3:28)",
    ]


def test_icmp_interval_is_checked_against_the_probers_own_bound(tmp_path: Path) -> None:
    """The interval must cover longest_ping: (count - 1) spacings of at least one 100 ms tick,
    the timeout, and two ticks; not count * spacing + timeout, which refused a fitting config
    and let through one whose requests, under a tick apart, go out a tick apart."""
    fits = load(
        tmp_path,
        """\
        defaults: {icmp: {interval: 1600ms, count: 3, spacing: 500ms, timeout: 300ms}}
        sites: [{id: hq, devices: [{id: a, address: 10.0.0.1}]}]
        """,
    )
    assert fits.devices[0].icmp == IcmpSettings(interval=1.6, count=3, timeout=0.3, spacing=0.5)
    assert problems(
        tmp_path,
        """\
        defaults: {icmp: {interval: 1200ms, count: 5, spacing: 0s, timeout: 1s}}
        sites: [{id: hq, devices: [{id: a, address: 10.0.0.1}]}]
        """,
    ) == [
        "defaults.icmp.interval: ICMP interval 1.2s is shorter than the longest a ping can "
        "take, (count - 1) * 100ms + timeout + 200ms = 1.6s; raise interval or lower count, "
        "spacing or timeout"
    ]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A config file that cannot be read is one problem, not an OSError."""
    with pytest.raises(ConfigError, match="cannot read the configuration"):
        load_config(tmp_path / "missing.yaml")


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
        (" 2 m ", 120.0),
        ("10", 10.0),
        (45, 45.0),
        (0.25, 0.25),
        ("0", 0.0),
    ],
)
def test_parse_duration(text: str | int | float, seconds: float) -> None:
    """Units ms/s/m/h/d, combinations, and plain numbers of seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("30x", "invalid duration '30x'"),
        ("s", "invalid duration 's'"),
        ("", "invalid duration ''"),
        ("-5s", "cannot be negative"),
        (-1, "cannot be negative"),
        (True, "expected a duration"),
        (float("nan"), "finite"),
        ("5 minutes", "invalid duration"),
    ],
)
def test_parse_duration_rejects_nonsense(text: str | int | float, message: str) -> None:
    """Bad durations raise ValueError saying what is wrong."""
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


# --------------------------------------------------------------------------- summary


def test_summary_counts_sites_devices_and_checks(tmp_path: Path) -> None:
    """One line: sites per level, devices per role, checks per kind."""
    assert summarize(load(tmp_path, DESIGN_EXAMPLE)) == (
        "3 sites (1 province, 1 district, 1 commune); "
        "5 devices (3 router, 1 server, 1 workstation); "
        "checks: 5 icmp, 3 snmp, 1 services"
    )


@pytest.mark.parametrize(("text", "expected"), [("auto", None), ("0", 0), ("2", 2)])
def test_snmp_workers_is_auto_or_a_count(tmp_path: Path, text: str, expected: int | None) -> None:
    config = load(tmp_path, f"agent: {{snmp_workers: {text}}}\n")
    assert config.agent.snmp_workers == expected
