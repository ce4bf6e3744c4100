"""``agent.web_basic_auth`` and ``agent.tls_cert``/``tls_key``: read, checked, never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwatch.config import load_config
from netwatch.errors import ConfigError

SITES = """
sites:
  - {id: p, name: "Tỉnh", level: province, devices: [{id: r, address: 127.0.0.1, role: router}]}
"""


def write(tmp_path: Path, agent: str) -> Path:
    path = tmp_path / "netwatch.yaml"
    path.write_text(f"agent:\n{agent}\n{SITES}", encoding="utf-8")
    return path


def test_basic_auth_and_tls_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("cert")
    (tmp_path / "key.pem").write_text("key")
    path = write(
        tmp_path,
        "  web_basic_auth: {user: xem, password: {env: NW_WEB_PW}}\n"
        "  tls_cert: cert.pem\n  tls_key: key.pem",
    )
    agent = load_config(path, environ={"NW_WEB_PW": "mat-khau-xem"}).agent
    assert agent.web_user == "xem"
    assert agent.web_password is not None
    assert agent.web_password.reveal() == "mat-khau-xem"
    assert agent.tls_cert == str(tmp_path / "cert.pem")
    assert agent.tls_key == str(tmp_path / "key.pem")


def test_without_them_the_page_is_open_and_plain_http(tmp_path: Path) -> None:
    agent = load_config(write(tmp_path, "  language: vi"), environ={}).agent
    assert (agent.web_user, agent.web_password, agent.tls_cert, agent.tls_key) == (None,) * 4


def test_an_inline_password_a_lone_cert_and_a_missing_file_are_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "  web_basic_auth: {user: xem, password: hunter2-inline}\n  tls_cert: nowhere.pem",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    text = "\n".join(str(p) for p in caught.value.problems)
    assert "agent.web_basic_auth.password" in text
    assert "hunter2-inline" not in text  # the secret written inline is never echoed
    assert "agent.tls_cert: cannot read file" in text
    assert "tls_cert and tls_key go together" in text


def test_connection_limit_and_header_timeout_are_read_with_defaults(tmp_path: Path) -> None:
    default = load_config(write(tmp_path, "  language: vi"), environ={}).agent
    assert (default.web_max_connections, default.web_header_timeout) == (512, 10.0)
    path = write(tmp_path, "  web_max_connections: 2000\n  web_header_timeout: 30s")
    agent = load_config(path, environ={}).agent
    assert (agent.web_max_connections, agent.web_header_timeout) == (2000, 30.0)


def test_a_tiny_connection_limit_and_a_long_header_timeout_are_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "  web_max_connections: 3\n  web_header_timeout: 1h")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    text = "\n".join(str(p) for p in caught.value.problems)
    assert "agent.web_max_connections" in text
    assert "agent.web_header_timeout: must be between 1s and 5m" in text
