"""Every example config under config/ is valid.

The examples take their secrets from the environment variables below (given through the
``environ`` argument) and from the placeholder files in config/secrets/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netwatch.config import load_config, summarize
from netwatch.inventory import build_inventory

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
EXAMPLES = sorted(CONFIG_DIR.glob("*.yaml"))
ENVIRON = {
    "SNMP_COMMUNITY": "example-community",
    "NETWATCH_API_TOKEN": "example-token",
    "EOFFICE_API_PASSWORD": "example-password",
}


def test_there_are_examples() -> None:
    """The glob finds the examples (a moved folder must not pass silently)."""
    assert CONFIG_DIR / "example.yaml" in EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
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
        "checks: 23 icmp, 8 snmp, 8 services"
    )
