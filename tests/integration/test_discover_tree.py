"""netwatch discover inside a network namespace: several SNMP agents (one snmpsim, one engine
per 127.0.x.y address on one port) whose LLDP tables describe a province router, its switch,
and two commune routers behind it (one with a CDP cache); the proposal is that tree, with
the right gateways."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.netns import Netns
from tests.snmpsim import start_agents_in

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "snmprec" / "province"
PORT = 1161  # snmpsim, dropped to nobody, does not answer on 161
COMMUNITY = "disc"  # each agent's recording is disc.snmprec


@pytest.fixture(scope="module")
def province() -> Iterator[Netns]:
    """The namespace with the agents answering; a spare 127.0.1.3 answers ping only."""
    with tempfile.TemporaryDirectory(prefix="netwatch-disc-") as tmp, Netns() as ns:
        agents = {path.name: path for path in sorted(DATA.iterdir())}
        start_agents_in(ns, agents, Path(tmp), port=PORT, community=COMMUNITY)
        yield ns


def discover(ns: Netns, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DISC_COMMUNITY": COMMUNITY}
    return ns.run(
        [sys.executable, "-m", "netwatch", "discover", *args], check=False, timeout=120, env=env
    )


def sites(site: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield site
    for child in site.get("sites", ()):
        yield from sites(child)


@pytest.mark.peer
def test_lldp_tables_become_the_province_tree(province: Netns, tmp_path: Path) -> None:
    """The province router (the most links) is the top site's gateway; each commune router
    reached through LLDP (one by management address, one by name with a domain) is the
    gateway of a commune site holding its switch (one known only from the router's CDP
    cache); the spare address stays at the top."""
    out = tmp_path / "proposed.yaml"
    done = discover(
        province, "127.0.1.0/30", "127.0.2.0/30", "127.0.3.0/30", "127.0.1.3/32",
        "--community", "env:DISC_COMMUNITY", "--rate", "100", "--timeout", "2",
        "--site", "Cà Mau", "--snmp-port", str(PORT), "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "7 of 7 answered the ping, 6 SNMP" in done.stderr
    config = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert config["agent"]["hierarchy"] == ["province", "commune"]
    (top,) = config["sites"]
    assert (top["level"], top["gateway"]) == ("province", "ca-mau-rtr")
    assert [d["address"] for d in top["devices"]] == ["127.0.1.1", "127.0.1.2", "127.0.1.3"]
    tree = {site["name"]: site for site in sites(top)}
    assert set(tree) == {"Cà Mau", "lai-hieu-rtr", "tan-thanh-rtr"}
    lai_hieu = tree["lai-hieu-rtr"]
    assert (lai_hieu["level"], lai_hieu["gateway"]) == ("commune", "lai-hieu-rtr")
    assert [d["id"] for d in lai_hieu["devices"]] == ["lai-hieu-rtr", "lai-hieu-sw"]
    assert [d["role"] for d in lai_hieu["devices"]] == ["router", "switch"]
    assert tree["tan-thanh-rtr"]["gateway"] == "tan-thanh-rtr"
    # its switch has no LLDP; the router's CDP cache names it by serial, found by address
    assert [d["address"] for d in tree["tan-thanh-rtr"]["devices"]] == ["127.0.3.1", "127.0.3.2"]
    assert "CDP: FOC2231X0AB (GigabitEthernet1/0/24)" in out.read_text(encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "DISC_COMMUNITY": COMMUNITY}
    check = subprocess.run(
        [sys.executable, "-m", "netwatch", "check-config", "-c", str(out)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr


CURRENT = """\
sites:
  - id: ca-mau
    gateway: ca-mau-rtr
    devices:
      - {id: ca-mau-rtr, address: 127.0.1.1, role: router}
      - {id: old-ap, address: 127.0.1.5, role: other}
      - {id: far-rtr, address: 10.9.9.9, role: router}
    sites:
      - id: lai-hieu
        gateway: lai-hieu-rtr
        devices:
          - {id: lai-hieu-rtr, name: "Lai Hieu RTR", address: 127.0.9.1, role: router}
"""


@pytest.mark.peer
def test_compared_with_the_current_config(province: Netns, tmp_path: Path) -> None:
    """With -c: the commune router answers at a new address (found by its sysName), the
    access point's address is swept but dropped (not seen), the far router is outside the
    swept networks (not reported), the rest is new; the lines head the proposal too."""
    config = tmp_path / "netwatch.yaml"
    config.write_text(CURRENT, encoding="utf-8")
    province.drop("127.0.1.5")
    try:
        done = discover(
            province, "127.0.1.0/29", "127.0.2.1/32", "--community", "env:DISC_COMMUNITY",
            "--rate", "100", "--timeout", "1", "--snmp-port", str(PORT), "-c", str(config),
        )  # fmt: skip
    finally:
        province.restore("127.0.1.5")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    start = lines.index(f"compared with {config}: 4 new, 1 address changed, 1 not seen")
    assert lines[start + 1 :][:6] == [
        "  address changed: lai-hieu-rtr 127.0.9.1 -> 127.0.2.1 (sysName lai-hieu-rtr)",
        "  not seen: old-ap 127.0.1.5",
        "  new: 127.0.1.2 (ca-mau-sw)",
        "  new: 127.0.1.3",
        "  new: 127.0.1.4",
        "  new: 127.0.1.6",
    ]
    assert "# compared with" in done.stdout
    assert "#   not seen: old-ap 127.0.1.5" in done.stdout
