"""Every example config under config/ is valid.

The examples take their secrets from the environment variables below (given through the
``environ`` argument) and from the placeholder files in config/secrets/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netwatch.config import load_config, summarize
from netwatch.inventory import AGENT_SHARD, build_inventory
from netwatch.models import Secret, TcpSpec

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
EXAMPLES = sorted([*CONFIG_DIR.glob("*.yaml"), *CONFIG_DIR.glob("split/agent-*.yaml")])
ENVIRON = {
    "SNMP_COMMUNITY": "example-community",
    "NETWATCH_API_TOKEN": "example-token",
    "EOFFICE_API_PASSWORD": "example-password",
    "NETWATCH_SMTP_PASSWORD": "example-smtp-password",
}


def test_there_are_examples() -> None:
    """The glob finds the examples (a moved folder must not pass silently)."""
    assert CONFIG_DIR / "example.yaml" in EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.relative_to(CONFIG_DIR).as_posix())
def test_example_is_valid(path: Path) -> None:
    """The example loads without problems and indexes into an inventory."""
    config = load_config(path, environ=ENVIRON)
    inventory = build_inventory(config)
    assert config.devices
    assert set(inventory.devices) == {device.id for device in config.devices}


def test_example_includes_its_district_file() -> None:
    """config/example.yaml pulls in config/districts/ninh-kieu.yaml under the province."""
    config = load_config(CONFIG_DIR / "example.yaml", environ=ENVIRON)
    assert str(CONFIG_DIR / "districts" / "ninh-kieu.yaml") in config.files
    assert {site.id: site.parent for site in config.sites}["ninh-kieu"] == "can-tho"
    assert summarize(config) == (
        "8 sites (1 province, 2 district, 5 commune); "
        "24 devices (8 router, 3 switch, 1 firewall, 6 server, 5 workstation, 1 other); "
        "checks: 23 icmp, 8 snmp, 9 services"
    )


def test_example_sets_alerting_maintenance_notify_and_up_checks() -> None:
    """The example's alerting, maintenance, notify, up_checks and TCP TLS keys reach the model."""
    config = load_config(CONFIG_DIR / "example.yaml", environ=ENVIRON)
    assert config.alerting.severity_of("commune", "router", gateway=True) == ("critical", False)
    assert config.alerting.external_url == config.notify.external_url != ""
    assert [(w.id, w.target, w.recurrence) for w in config.maintenance] == [
        ("bao-tri-chu-nhat", "ninh-kieu", "weekly"),
        ("nang-cap-router-cai-rang", "cai-rang-rtr", "none"),
    ]
    smtp, telegram = config.notify.smtp, config.notify.telegram
    assert smtp is not None
    assert telegram is not None
    assert config.notify.alertmanager is not None
    assert smtp.password == Secret("env:NETWATCH_SMTP_PASSWORD", "example-smtp-password")
    assert smtp.ca_file == str(CONFIG_DIR / "secrets" / "ca-tinh.example.pem")
    assert telegram.bot_token.source.endswith("telegram-bot-token.example")
    devices = {device.id: device for device in config.devices}
    assert devices["core-fw"].up_checks == ("snmp",)
    assert devices["le-binh-pc-01"].up_checks == ("icmp",)
    assert devices["core-rtr"].up_checks == ("icmp", "snmp")
    mcu = devices["hop-truc-tuyen"].services[0].spec
    assert isinstance(mcu, TcpSpec)
    assert (mcu.tls, mcu.verify_tls) == (True, False)


def test_the_split_province_gives_each_district_to_one_agent_and_the_core_to_both() -> None:
    """config/split/: README's "Past one machine". Shards (Prometheus targets) do not overlap
    but for the agent's own; the core router is in both (topology), with contacts in one."""
    one, two = (
        build_inventory(load_config(CONFIG_DIR / "split" / f"agent-{n}.yaml", environ=ENVIRON))
        for n in (1, 2)
    )
    districts = [{s.id for s in inv.config.sites if s.level == "district"} for inv in (one, two)]
    assert districts == [{"ninh-kieu"}, {"o-mon"}]
    assert set(one.shards) & set(two.shards) == {AGENT_SHARD}
    assert set(one.devices) & set(two.devices) == {"core-rtr"}
    assert {a.config.agent.hierarchy for a in (one, two)} == {("province", "district", "commune")}
    provinces = [{s.id: s for s in inv.config.sites}["can-tho"] for inv in (one, two)]
    assert [p.contacts for p in provinces] == [("trung-tam-du-lieu",), ()]
