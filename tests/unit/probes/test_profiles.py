"""Device profiles: the built-in file loads, bad files fail with every problem located, and
a device gets the profile of the longest matching sysObjectID prefix."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwatch.configuration.profiles import load_profiles
from netwatch.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    return path


def test_builtin_profiles_load_and_match_by_longest_prefix() -> None:
    """Cisco, Huawei, Juniper... by sysObjectID; an unknown one gets ``default``."""
    profiles = load_profiles()
    assert profiles.match(".1.3.6.1.4.1.9.1.634").name == "cisco"
    assert profiles.match("1.3.6.1.4.1.2011.2.23.291").name == "huawei-vrp"
    assert profiles.match("1.3.6.1.4.1.2636.1.1.1.2.90").name == "juniper"
    assert profiles.match("1.3.6.1.4.1.7367").name == "draytek"
    assert profiles.match("1.3.6.1.4.1.73670").name == "default"  # arcs, not characters
    assert profiles.match("").name == "default"
    assert profiles.match("not an oid").name == "default"


def test_vendor_sources_come_before_included_ones() -> None:
    """A profile's own CPU sources come before those it includes (vendor wins)."""
    cisco = load_profiles().profiles["cisco"]
    kinds = [s.kind for s in cisco.sources]
    assert kinds.index("cpu") < len(kinds) - 1
    assert cisco.sources[-1].entity_sensor == 8


def test_extra_file_adds_and_replaces(tmp_path: Path) -> None:
    """``agent.profiles`` adds a profile and replaces a built-in one of the same name."""
    path = write(
        tmp_path,
        """
profiles:
  acme:
    match: [1.3.6.1.4.1.99999]
    cpu:
      - {value: 1.3.6.1.4.1.99999.1.1.0, label: system}  # ACME-MIB acmeCpu
  cisco:
    match: [1.3.6.1.4.1.9]
""",
    )
    profiles = load_profiles(path)
    acme = profiles.match("1.3.6.1.4.1.99999.7")
    assert acme.name == "acme"
    assert acme.sources[0].scalar
    assert profiles.match("1.3.6.1.4.1.9.1.1").sources == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("profiles: [\n", "not valid YAML"),
        ("profiles: 3\n", "expected a mapping of profiles"),
        ("other: {}\n", "'profiles' key"),
        (
            "profiles:\n  x:\n    cpu: [{value: 1.3.6.x}]\n",
            "x.cpu[0].value: expected a numeric OID",
        ),
        ("profiles:\n  x:\n    colour: red\n", "x.colour: unknown key"),
        ("profiles:\n  x:\n    memory: [{used: 1.3.6.1.1}]\n", "two of used/free/total"),
        ("profiles:\n  x:\n    fan: [{value: 1.3.6.1.1}]\n", "needs 'ok'"),
        ("profiles:\n  x:\n    include: [nope]\n", "no profile named 'nope'"),
        ("profiles:\n  x:\n    include: [x]\n", "includes itself"),
        ("profiles:\n  x:\n    ups: {charge: {oid: 1.3.6.1.2.1.33.1.2.4}}\n", "ends in .0"),
        ("profiles:\n  x:\n    temperature: [{value: 1.3.6.1.1, where: {match: '('}}]\n", "regex"),
        ("profiles:\n  x:\n    cpu: [{value: 1.3.6.1.1, scale: lots}]\n", "expected a number"),
    ],
)
def test_bad_file_is_a_located_config_error(tmp_path: Path, text: str, message: str) -> None:
    """Each mistake is reported with the file, line and column, and what is wrong."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_profiles(path)
    first = str(caught.value.problems[0])
    assert first.startswith(f"{path}:"), first
    assert message in str(caught.value), str(caught.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Two bad sources in one file: two problems, in file order."""
    path = write(tmp_path, "profiles:\n  x:\n    cpu: [{value: bad}, {value: worse}]\n")
    with pytest.raises(ConfigError) as caught:
        load_profiles(path)
    assert len(caught.value.problems) == 2


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A profiles file that cannot be read says so."""
    with pytest.raises(ConfigError, match="cannot read the profiles file"):
        load_profiles(tmp_path / "absent.yaml")


MINIMAL = """
agent: {{profiles: {profiles}}}
sites:
  - id: p
    devices: [{{id: r, address: 127.0.0.1, role: ups}}]
"""


def test_agent_profiles_key_is_checked_with_the_config(tmp_path: Path) -> None:
    """``agent.profiles`` names a readable, valid file; its problems join the config's."""
    from netwatch.config import load_config

    good = write(tmp_path, "profiles:\n  acme: {match: [1.3.6.1.4.1.99999]}\n")
    config_path = tmp_path / "netwatch.yaml"
    config_path.write_text(MINIMAL.format(profiles=good.name))
    assert load_config(config_path, environ={}).agent.profiles == str(good)
    assert load_config(config_path, environ={}).devices[0].role.value == "ups"
    bad = tmp_path / "bad.yaml"
    bad.write_text("profiles:\n  acme: {cpu: [{value: nope}]}\n")
    config_path.write_text(MINIMAL.format(profiles=bad.name))
    with pytest.raises(ConfigError) as caught:
        load_config(config_path, environ={})
    text = str(caught.value)
    assert "agent.profiles" in text
    assert "bad.yaml:2:" in text
    assert "expected a numeric OID" in text
