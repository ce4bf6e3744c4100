"""The inventory: labels per hierarchy level, ancestors, dependents and the reload diff."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from netwatch.config import load_config
from netwatch.inventory import Inventory, InventoryDiff, build_inventory, diff

PROVINCE = """\
defaults:
  snmp: {community: {env: SNMP_COMMUNITY}}
sites:
  - id: can-tho
    devices:
      - {id: core-rtr, address: 10.10.0.1, role: router}
      - {id: eoffice, address: 10.10.1.20, role: server}
      - {id: video, address: 10.10.1.30, role: server, depends_on: [eoffice, core-rtr]}
    sites:
      - id: ninh-kieu
        devices: [{id: nk-rtr, address: 10.20.0.1, role: router}]
        sites:
          - id: an-binh
            devices:
              - {id: ab-rtr, address: 10.20.1.1, role: router}
              - {id: ab-pc, address: 10.20.1.101, role: workstation}
      - id: cai-rang
"""


def inventory(folder: Path, text: str = PROVINCE, name: str = "netwatch.yaml") -> Inventory:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return build_inventory(load_config(path, environ={"SNMP_COMMUNITY": "c"}))


@pytest.fixture
def inv(tmp_path: Path) -> Inventory:
    return inventory(tmp_path)


def test_labels_name_every_hierarchy_level(inv: Inventory) -> None:
    """A device's labels: device, site, role and one per level (ancestor id or "")."""
    assert inv.labels("ab-pc") == {
        "device": "ab-pc",
        "site": "an-binh",
        "role": "workstation",
        "province": "can-tho",
        "district": "ninh-kieu",
        "commune": "an-binh",
    }
    assert inv.labels("core-rtr") == {
        "device": "core-rtr",
        "site": "can-tho",
        "role": "router",
        "province": "can-tho",
        "district": "",
        "commune": "",
    }


def test_site_labels(inv: Inventory) -> None:
    """A site's labels: site and one per level."""
    assert inv.site_labels("ninh-kieu") == {
        "site": "ninh-kieu",
        "province": "can-tho",
        "district": "ninh-kieu",
        "commune": "",
    }


def test_labels_are_copies(inv: Inventory) -> None:
    """Changing a returned label dict does not change the inventory."""
    inv.labels("ab-pc")["site"] = "elsewhere"
    inv.site_labels("an-binh")["province"] = "elsewhere"
    assert inv.labels("ab-pc")["site"] == "an-binh"
    assert inv.site_labels("an-binh")["province"] == "can-tho"


def test_ancestors_root_first_including_the_site(inv: Inventory) -> None:
    """ancestors() runs from the root down to the site itself."""
    assert [s.id for s in inv.ancestors("an-binh")] == ["can-tho", "ninh-kieu", "an-binh"]
    assert [s.id for s in inv.ancestors("can-tho")] == ["can-tho"]


def test_dependents(inv: Inventory) -> None:
    """dependents() lists the devices whose depends_on names the device, in config order."""
    assert inv.dependents("core-rtr") == ("eoffice", "video", "nk-rtr")
    assert inv.dependents("eoffice") == ("video",)
    assert inv.dependents("nk-rtr") == ("ab-rtr",)
    assert inv.dependents("ab-pc") == ()


def test_lookups_by_id(inv: Inventory) -> None:
    """sites and devices are indexed by id and read-only."""
    assert inv.sites["cai-rang"].parent == "can-tho"
    assert inv.devices["video"].depends_on == ("eoffice", "core-rtr")
    with pytest.raises(TypeError):
        inv.devices["x"] = inv.devices["video"]  # type: ignore[index]


def test_diff_of_identical_configs_is_empty(tmp_path: Path, inv: Inventory) -> None:
    """Reloading the same file changes nothing."""
    again = inventory(tmp_path, name="again.yaml")
    result = diff(inv, again)
    assert result.empty
    assert result.unchanged == tuple(again.devices)


EDITED = """\
defaults:
  snmp: {community: {env: SNMP_COMMUNITY}}
sites:
  - id: can-tho
    devices:
      - {id: core-rtr, address: 10.10.0.1, role: router}
      - {id: eoffice, address: 10.10.1.21, role: server}
      - {id: video, address: 10.10.1.30, role: server, depends_on: [eoffice, core-rtr]}
    sites:
      - id: ninh-kieu
        devices: [{id: nk-rtr, address: 10.20.0.1, role: router}]
        sites:
          - id: an-binh
            devices:
              - {id: ab-rtr, address: 10.20.1.1, role: router}
      - id: cai-rang
        devices: [{id: cr-rtr, address: 10.30.0.1, role: router}]
"""

# an-binh moved from ninh-kieu to cai-rang; ab-rtr itself is written the same.
MOVED = EDITED.replace(
    """\
        sites:
          - id: an-binh
            devices:
              - {id: ab-rtr, address: 10.20.1.1, role: router}
      - id: cai-rang
        devices: [{id: cr-rtr, address: 10.30.0.1, role: router}]
""",
    """\
      - id: cai-rang
        devices: [{id: cr-rtr, address: 10.30.0.1, role: router}]
        sites:
          - id: an-binh
            devices:
              - {id: ab-rtr, address: 10.20.1.1, role: router}
""",
)


def test_diff_finds_added_removed_and_changed(tmp_path: Path, inv: Inventory) -> None:
    """A new address is a change; a device gone is removed; a new one is added."""
    assert diff(inv, inventory(tmp_path, EDITED, "edited.yaml")) == InventoryDiff(
        added=("cr-rtr",),
        removed=("ab-pc",),
        changed=("eoffice",),
        unchanged=("core-rtr", "video", "nk-rtr", "ab-rtr"),
    )


def test_diff_sees_a_device_whose_site_moved(tmp_path: Path) -> None:
    """Moving a commune to another district changes its devices (labels, upstream gateway)."""
    assert MOVED != EDITED
    before = inventory(tmp_path, EDITED, "edited.yaml")
    after = inventory(tmp_path, MOVED, "moved.yaml")
    assert before.labels("ab-rtr")["district"] == "ninh-kieu"
    assert after.labels("ab-rtr")["district"] == "cai-rang"
    assert diff(before, after).changed == ("ab-rtr",)
