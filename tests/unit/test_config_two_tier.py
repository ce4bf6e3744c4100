"""A two-tier province (province, commune: local government since July 2025) and merged sites
(``formerly:``) in the configuration, the inventory and the alerting table."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from netwatch.config import load_config, summarize
from netwatch.configuration.values import parse_local_date
from netwatch.errors import ConfigError
from netwatch.inventory import AGENT_SHARD, build_inventory
from netwatch.settings.config import Config

TWO_TIER = """
agent: {hierarchy: [province, commune]}
alerting:
  severity: {commune/gateway: critical, province/gateway: critical}
sites:
  - id: ca-mau
    level: province
    devices: [{id: core, address: 10.0.0.1, role: router}]
    sites:
      - id: lai-hieu
        name: "Phường Lái Hiếu"
        formerly: [phuong-1, phuong-2]
        merged: "2025-07-01"
        devices: [{id: lh-rtr, address: 10.0.1.1, role: router}]
      - id: tan-dan
        devices: [{id: td-rtr, address: 10.0.2.1, role: router},
                  {id: td-pc, address: 10.0.2.101, role: workstation}]
"""


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "netwatch.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(path, environ={})


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return [f"{p.path}: {p.message}" for p in caught.value.problems]


def test_two_levels_label_shard_and_summarise(tmp_path: Path) -> None:
    """Levels default from the parent, labels are province and commune only, each commune is
    a metrics shard and the province's own devices are the agent's."""
    config = load(tmp_path, TWO_TIER)
    inventory = build_inventory(config)
    assert [(s.id, s.level) for s in config.sites] == [
        ("ca-mau", "province"),
        ("lai-hieu", "commune"),
        ("tan-dan", "commune"),
    ]
    assert inventory.labels("td-pc") == {
        "device": "td-pc",
        "site": "tan-dan",
        "role": "workstation",
        "province": "ca-mau",
        "commune": "tan-dan",
    }
    assert inventory.shards == (AGENT_SHARD, "lai-hieu", "tan-dan")
    assert inventory.shard_of("ca-mau") == AGENT_SHARD
    assert summarize(config).startswith("3 sites (1 province, 2 commune)")


def test_commune_severity_keys(tmp_path: Path) -> None:
    """commune/gateway grades a commune's link; the built-in district keys never match."""
    alerting = load(tmp_path, TWO_TIER).alerting
    assert alerting.severity_of("commune", "router", gateway=True) == ("critical", False)
    assert alerting.severity_of("commune", "router", gateway=False) == ("warning", False)


def test_a_district_key_left_from_three_levels_is_a_problem(tmp_path: Path) -> None:
    """A severity key for a level the province no longer has is named, with the levels."""
    text = TWO_TIER.replace("commune/gateway: critical", "district/gateway: critical")
    found = problems(tmp_path, text)
    assert len(found) == 1
    assert "level 'district' is not in agent.hierarchy (province, commune)" in found[0]


def test_formerly_and_merged_are_read(tmp_path: Path) -> None:
    """The merged commune keeps its former units' ids and the merge instant (local time)."""
    site = {s.id: s for s in load(tmp_path, TWO_TIER).sites}["lai-hieu"]
    assert site.formerly == ("phuong-1", "phuong-2")
    assert site.merged_at == parse_local_date("2025-07-01", "Asia/Ho_Chi_Minh")
    assert {s.id: s for s in load(tmp_path, TWO_TIER).sites}["tan-dan"].formerly == ()


def test_formerly_problems(tmp_path: Path) -> None:
    """A former unit that still exists, one merged twice, a bad id or date, merged or formerly
    alone; a site may list its own id (it kept one unit's)."""
    text = TWO_TIER.replace(
        "      - id: tan-dan\n",
        "      - id: tan-dan\n"
        "        formerly: [phuong-2, ca-mau, 'bad id']\n"
        "        merged: '2025-07-32'\n"
        "      - id: khanh-an\n"
        "        merged: '2025-07-01'\n"
        "      - id: tan-hung\n"
        "        formerly: [tan-hung, tan-hung-dong]\n",
    )
    assert sorted(problems(tmp_path, text)) == [
        "sites[0].sites[1].formerly: 'phuong-2' is already merged into site 'lai-hieu'",
        "sites[0].sites[1].formerly: site 'ca-mau' still exists; 'formerly' lists the ids of "
        "units that are gone (merged into this one)",
        "sites[0].sites[1].formerly[2]: invalid id 'bad id'; use only letters, digits, '.', '_' "
        "and '-' (put the full name with diacritics in 'name')",
        "sites[0].sites[1].merged: invalid date '2025-07-32': day is out of range for month",
        "sites[0].sites[2].merged: 'merged' needs 'formerly': the ids of the units merged",
        "sites[0].sites[3].formerly: 'formerly' needs 'merged': when this site took over from "
        'those units (local time, e.g. "2025-07-01 08:00", when this config was loaded)',
    ]
