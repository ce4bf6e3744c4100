"""The ``traps`` section and ``snmp.version: 1``: what loads, and every problem reported."""

from __future__ import annotations

from pathlib import Path

from netwatch.models import Secret, TrapSettings, TrapUser
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
    assert "traps: list at least one community or SNMPv3 user (users:)" in "\n".join(
        problems(tmp_path, "traps: {listen: '127.0.0.1:1162'}\n" + SITES, ENV)
    )
    assert "list at least one community" in "\n".join(
        problems(tmp_path, "traps: {communities: []}\n" + SITES, ENV)
    )


def test_snmp_version_1_needs_a_community(tmp_path: Path) -> None:
    text = SITES.replace(", community: {env: SNMP_COMMUNITY}", "")
    assert "SNMP v1 needs a community" in "\n".join(problems(tmp_path, text, ENV))


def test_v3_users_load_with_their_secrets(tmp_path: Path) -> None:
    """A users-only section loads; the passwords are secrets, the protocols checked."""
    text = (
        "traps:\n  users:\n"
        "    - {name: ops, auth_protocol: sha256, auth_password: {env: TRAP_COMMUNITY},"
        " priv_protocol: aes, priv_password: {env: SNMP_COMMUNITY}}\n"
        "    - {name: legacy, auth_protocol: sha, auth_password: {env: TRAP_COMMUNITY}}\n"
    ) + SITES
    traps = load(tmp_path, text, ENV).traps
    assert traps is not None
    assert traps.communities == ()
    ops, legacy = traps.users
    assert ops == TrapUser(
        "ops", "sha256", Secret("env:TRAP_COMMUNITY", "trap-test"), "aes",
        Secret("env:SNMP_COMMUNITY", "public-test"),
    )  # fmt: skip
    assert (legacy.name, legacy.auth_protocol, legacy.priv_protocol) == ("legacy", "sha", None)


def test_v3_user_problems_are_all_reported_without_a_secret(tmp_path: Path) -> None:
    text = (
        "traps:\n  users:\n"
        "    - {name: a, auth_protocol: sha256, priv_password: {env: TRAP_COMMUNITY}}\n"
        "    - {name: b, auth_protocol: sha3, auth_password: inline-s3cret}\n"
        "    - {auth_protocol: sha}\n"
        "    - {name: c, auth_protocol: md5, auth_password: {env: TRAP_COMMUNITY}}\n"
        "    - {name: c, auth_protocol: md5, auth_password: {env: TRAP_COMMUNITY}}\n"
    ) + SITES
    found = "\n".join(problems(tmp_path, text, ENV))
    assert "traps.users[0].auth_protocol: auth_protocol needs an auth_password" in found
    assert "traps.users[0].priv_password: priv_password needs a priv_protocol" in found
    assert "traps.users[1].auth_protocol" in found
    assert "traps.users[1].auth_password" in found
    assert "traps.users[2]" in found
    assert "traps.users[4]: user 'c' listed twice" in found
    assert "inline-s3cret" not in found
