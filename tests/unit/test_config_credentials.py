"""``{credential: NAME}`` secrets: systemd's LoadCredential= hands the service
``$CREDENTIALS_DIRECTORY/NAME``; every way it can be missing is a located problem that names the
credential and the fix, never the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwatch.config import load_config
from netwatch.errors import ConfigError
from netwatch.models import Secret

CONFIG = """\
agent: {api_token: {credential: api-token}}
defaults: {snmp: {community: {credential: snmp-community}}}
sites: [{id: hq, devices: [{id: a, address: 10.0.0.1, snmp: {}}]}]
"""


def _write(folder: Path, text: str = CONFIG) -> Path:
    path = folder / "netwatch.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _credentials(folder: Path, **values: str) -> Path:
    directory = folder / "credentials"
    directory.mkdir()
    for name, value in values.items():
        (directory / name.replace("_", "-")).write_text(value, encoding="utf-8")
    return directory


def _problems(path: Path, environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=environ)
    return [f"{p.line}:{p.column}: {p.path}: {p.message}" for p in info.value.problems]


def test_credentials_are_read_from_the_credentials_directory(tmp_path: Path) -> None:
    """Each credential is the file of its name in $CREDENTIALS_DIRECTORY, one newline removed."""
    directory = _credentials(tmp_path, api_token="tok-123\n", snmp_community="c0mmunity")
    config = load_config(_write(tmp_path), environ={"CREDENTIALS_DIRECTORY": str(directory)})
    assert config.agent.api_token == Secret("credential:api-token", "tok-123")
    assert config.devices[0].snmp is not None
    assert config.devices[0].snmp.community == Secret("credential:snmp-community", "c0mmunity")
    assert "c0mmunity" not in repr(config.devices[0].snmp)


def test_without_credentials_directory_each_credential_is_a_problem_naming_the_fix(
    tmp_path: Path,
) -> None:
    """Outside systemd (no $CREDENTIALS_DIRECTORY) each credential says how to provide it."""
    assert _problems(_write(tmp_path), {}) == [
        "1:33: agent.api_token.credential: credential api-token: $CREDENTIALS_DIRECTORY is not "
        "set; run netwatch under its systemd unit with LoadCredential=api-token:PATH, or set "
        "CREDENTIALS_DIRECTORY to the directory that holds the file",
        "2:43: defaults.snmp.community.credential: credential snmp-community: "
        "$CREDENTIALS_DIRECTORY is not set; run netwatch under its systemd unit with "
        "LoadCredential=snmp-community:PATH, or set CREDENTIALS_DIRECTORY to the directory "
        "that holds the file",
    ]


def test_a_missing_or_empty_credential_is_a_problem_without_the_value(tmp_path: Path) -> None:
    """A credential the unit does not load, and an empty one, are reported; the value of the
    one that exists appears nowhere."""
    directory = _credentials(tmp_path, snmp_community="\n")
    problems = _problems(_write(tmp_path), {"CREDENTIALS_DIRECTORY": str(directory)})
    assert problems == [
        f"1:33: agent.api_token.credential: credential api-token not found in "
        f"$CREDENTIALS_DIRECTORY ({directory}); add LoadCredential=api-token:PATH to the unit",
        f"2:43: defaults.snmp.community.credential: secret file {directory}/snmp-community "
        "is empty",
    ]


def test_a_credential_name_cannot_leave_the_directory(tmp_path: Path) -> None:
    """A name with a slash or '..' is refused before anything is read."""
    (tmp_path / "credentials").mkdir()
    (tmp_path / "outside").write_text("leaked-value", encoding="utf-8")
    path = _write(tmp_path, "agent: {api_token: {credential: ../outside}}\n")
    problems = _problems(path, {"CREDENTIALS_DIRECTORY": str(tmp_path / "credentials")})
    assert problems == [
        "1:33: agent.api_token.credential: invalid credential name '../outside': letters, "
        "digits, '.', '_', '-' and '@'"
    ]


def test_credentials_are_not_read_for_commands_that_need_no_secret(tmp_path: Path) -> None:
    """`report` runs outside the unit: with secrets=False a credential is not looked up."""
    config = load_config(_write(tmp_path), environ={}, secrets=False)
    assert config.agent.api_token == Secret("credential:api-token", "")


def test_a_secret_with_two_sources_is_refused(tmp_path: Path) -> None:
    """{env, credential} together is ambiguous."""
    path = _write(tmp_path, "agent: {api_token: {env: X, credential: y}}\n")
    assert _problems(path, {"X": "1"}) == [
        "1:20: agent.api_token: a secret needs exactly one of 'env', 'file' or 'credential'"
    ]
