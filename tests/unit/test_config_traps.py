"""The ``traps`` section and ``snmp.version: 1``: what loads, and every problem reported."""

from __future__ import annotations

from pathlib import Path

from netwatch.models import Secret, TrapSettings
from tests.unit.test_config import load, problems

SITES = """
sites:
  - id: hq
    devices: [{id: old-sw, address: 10.0.0.2, snmp: {version: 1, community: {env: SNMP_COMMUNITY}}}]
"""
ENV = {"SNMP_COMMUNITY": "public-test", "TRAP_COMMUNITY": "trap-test"}


def test_no_traps_section_means_no_receiver(tmp_path: Path) -> None:
    assert load(tmp_path, SITES, ENV).traps is None


def test_traps_section_loads_with_its_secrets_and_default_port(tmp_path: Path) -> None:
    secret = tmp_path / "community"
    secret.write_text("from-file\n")
    text = f"traps: {{communities: [{{env: TRAP_COMMUNITY}}, {{file: {secret}}}]}}\n" + SITES
    traps = load(tmp_path, text, ENV).traps
    assert traps == TrapSettings(
        listen="0.0.0.0:162",
        communities=(Secret("env:TRAP_COMMUNITY", "trap-test"), traps.communities[1]),  # type: ignore[union-attr]
    )
    assert traps is not None
    assert traps.communities[1].reveal() == "from-file"


def test_snmp_version_1_loads(tmp_path: Path) -> None:
    device = load(tmp_path, SITES, ENV).devices[0]
    assert device.snmp is not None
    assert device.snmp.version == "1"


def test_traps_problems_are_all_reported_and_no_secret_is_echoed(tmp_path: Path) -> None:
    text = (
        "traps: {listen: 'nowhere', communities: [inline-s3cret, {env: MISSING}], extra: 1}\n"
        + SITES
    )
    found = "\n".join(problems(tmp_path, text, ENV))
    assert "traps.listen" in found
    assert "traps.communities[0]: write this secret as {env: NAME} or {file: PATH}" in found
    assert "traps.communities[1]" in found
    assert "MISSING" in found
    assert "traps.extra" in found
    assert "inline-s3cret" not in found


def test_traps_need_a_community(tmp_path: Path) -> None:
    assert "missing required key 'communities'" in "\n".join(
        problems(tmp_path, "traps: {listen: '127.0.0.1:1162'}\n" + SITES, ENV)
    )
    assert "list at least one community" in "\n".join(
        problems(tmp_path, "traps: {communities: []}\n" + SITES, ENV)
    )


def test_snmp_version_1_needs_a_community(tmp_path: Path) -> None:
    text = SITES.replace(", community: {env: SNMP_COMMUNITY}", "")
    assert "SNMP v1 needs a community" in "\n".join(problems(tmp_path, text, ENV))
