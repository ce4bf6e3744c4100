"""README's "Configuration reference" names every key the loader accepts, in the right section,
and its tables name no key the loader refuses.

The accepted keys are not copied here: every ``Checker.mapping`` call made while loading a config
that uses every part of the format is recorded with the keys it allows, and a static scan of
``netwatch/configuration`` checks that no call site was missed, so a new key or a new mapping
shows up here by itself.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest
from yaml.nodes import Node

from netwatch.alerting.notifiers.webhook import _example, payload
from netwatch.config import load_config
from netwatch.configuration import source
from netwatch.configuration.settings import INHERITABLE

PROJECT = Path(__file__).resolve().parents[2]
PACKAGE = PROJECT / "netwatch" / "configuration"
README = PROJECT / "README.md"

# Every section of the format, every form of every mapping (services in their long form too).
MAIN = """\
agent:
  listen: "127.0.0.1:9430"
  data_dir: /tmp/nw
  language: en
  hierarchy: [province, district, commune]
  timezone: Asia/Ho_Chi_Minh
  api_token: {env: TOKEN}
  log_format: plain
  log_level: info
  max_in_flight: 64
  snmp_workers: 0
  web_basic_auth: {user: xem, password: {file: secrets/web}}
  tls_cert: tls/cert.pem
  tls_key: tls/key.pem
  web_max_connections: 64
  web_header_timeout: 10s
defaults:
  icmp: {interval: 30s, count: 3, timeout: 1s, spacing: 200ms}
  snmp:
    interval: 60s
    timeout: 2s
    retries: 1
    version: 3
    port: 161
    user: nw
    auth_protocol: sha
    auth_password: {env: TOKEN}
    priv_protocol: aes
    priv_password: {credential: snmp-priv}
    context: ""
    max_repetitions: 25
    collect: [system]
    interfaces: {include: ["^Gi"], exclude: ["^lo$"], admin_up_only: true}
  down_after: 3
  up_after: 2
  retry_interval: 10s
  service_interval: 60s
  service_timeout: 10s
  cert_warn_days: 14
  up_checks: {server: [icmp, snmp]}
contacts:
  ops:
    email: [ops@example.gov.vn]
    telegram: {chat_id: "-100"}
    webhook: {url: "https://hooks.example.gov.vn/x", secret: {env: TOKEN}}
    alertmanager: true
alerting:
  repeat_interval: 4h
  escalate_after: 30m
  escalate: [critical]
  flap_window: 10m
  flap_threshold: 4
  hold: 1m
  recheck_timeout: 5m
  digest_time: "08:00"
  digest_roles: [workstation]
  severity: {other: info}
  external_url: "https://nw.example.gov.vn/"
maintenance:
  - {id: w1, target: hq, every: sunday, at: "22:00", duration: 2h, reason: r}
  - {id: w2, target: r1, start: "2026-12-06 22:00", duration: 1h}
notify:
  external_url: "https://nw.example.gov.vn/"
  language: vi
  timezone: Asia/Ho_Chi_Minh
  webhook_timeout: 10s
  smtp: {host: mail.example.gov.vn, from: nw@example.gov.vn, security: tls, port: 465,
         user: nw, password: {env: TOKEN}, timeout: 30s, ca_file: tls/cert.pem}
  telegram: {bot_token: {env: TOKEN}, api_base: "https://api.telegram.org", timeout: 10s}
  alertmanager: {urls: ["http://127.0.0.1:9093"], resend_interval: 1m, timeout: 10s}
traps: {listen: "127.0.0.1:1162", communities: [{env: TOKEN}],
        users: [{name: ops, auth_protocol: sha256, auth_password: {env: TOKEN},
                 priv_protocol: aes, priv_password: {env: TOKEN}}]}
include: [district.yaml]
sites:
  - id: hq
    name: HQ
    level: province
    contacts: [ops]
    gateway: r1
    icmp: {count: 2}
    devices:
      - id: r1
        name: R1
        address: 127.0.0.1
        role: router
        icmp: {count: 1}
        snmp: {port: 1161}
        depends_on: []
        shared_address: false
        down_after: 2
        services:
          - {name: a, http: {url: "https://127.0.0.1/", method: GET, expect_status: 200,
             body_contains: x, body_regex: x, follow_redirects: true, headers: {X-A: b},
             basic_auth: {user: u, password: {env: TOKEN}}, verify_tls: true,
             ca_file: tls/cert.pem}, interval: 60s, timeout: 5s, cert_warn_days: 7}
          - {name: b, tcp: {host: 127.0.0.1, port: 25, expect_banner: "220", starttls: true,
             verify_tls: true, ca_file: tls/cert.pem}}
          - {name: c, tcp: {port: 465, tls: true}}
          - {name: d, dns: {name: example.gov.vn, server: 127.0.0.1, port: 53,
             expect_address: 127.0.0.1}}
"""
DISTRICT = """\
contacts:
  d-ops: {email: d@example.gov.vn}
sites:
  - {id: d1, parent: hq, level: district, devices: [{id: d1-rtr, address: 127.0.0.2}]}
"""


def _record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, str, Any]]:
    """(file, line, path, allowed) of every Checker.mapping call made loading MAIN."""
    for name, text in {"netwatch.yaml": MAIN, "district.yaml": DISTRICT}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    for name in ("secrets/web", "tls/cert.pem", "tls/key.pem", "creds/snmp-priv"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x\n", encoding="utf-8")
    calls: list[tuple[str, int, str, Any]] = []
    original = source.Checker.mapping

    def mapping(
        self: source.Checker,
        node: Node,
        path: str,
        allowed: Collection[str] | None,
        *,
        required: Any = (),
    ) -> Any:
        caller = sys._getframe(1)
        calls.append((caller.f_code.co_filename, caller.f_lineno, path, allowed))
        return original(self, node, path, allowed, required=required)

    monkeypatch.setattr(source.Checker, "mapping", mapping)
    environ = {"TOKEN": "t", "CREDENTIALS_DIRECTORY": str(tmp_path / "creds")}
    load_config(tmp_path / "netwatch.yaml", environ=environ)  # valid: every part was read
    return calls


def _call_sites() -> set[tuple[str, int, int]]:
    """Every ``.mapping(node, path, KEYS)`` call in the configuration package, except those
    that accept any key (``None``): (file, first line, last line). ``profiles.py`` is left out:
    it reads the device profiles' own file format with its own parser, not the config file."""
    sites = set()
    for file in PACKAGE.glob("*.py"):
        if file.name == "profiles.py":
            continue
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != "mapping" or len(node.args) < 3:
                continue
            allowed = node.args[2]
            if isinstance(allowed, ast.Constant) and allowed.value is None:
                continue
            sites.add((str(file), node.lineno, node.end_lineno or node.lineno))
    return sites


def _section_of(path: str, allowed: Collection[str]) -> str | None:
    """The README section a mapping at ``path`` belongs in (None: anywhere in the reference)."""
    if tuple(allowed) == source.SECRET_SOURCES or path == "" or path.endswith("up_checks"):
        return None
    parts = re.sub(r"\[\d+\]", "", path).split(".")
    if parts[0] != "sites":
        return parts[0]
    if "services" in parts:
        return "services"
    # What a site or device inherits (icmp, snmp, ...) is documented under defaults.
    tail = parts[max(i for i, p in enumerate(parts) if p in ("sites", "devices")) + 1 :]
    return "defaults" if tail and tail[0] in INHERITABLE else "sites"


def _reference() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Configuration reference")
    return text[start : text.index("\n## ", start + 1)]


def _section(name: str | None) -> str:
    reference = _reference()
    if name is None:
        return reference
    start = reference.index(f"### `{name}`")
    end = reference.find("\n### ", start + 1)
    return reference[start : end if end >= 0 else None]


def _accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str | None, set[str]]:
    calls = _record(tmp_path, monkeypatch)
    accepted: dict[str | None, set[str]] = {}
    for _, _, path, allowed in calls:
        if allowed is None:
            continue
        keys = set(allowed)
        if _section_of(path, allowed) == "sites":
            keys -= set(INHERITABLE)  # "any key of defaults": checked under defaults
        accepted.setdefault(_section_of(path, allowed), set()).update(keys)
    return accepted


def test_every_mapping_of_the_loader_is_exercised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each call site that restricts keys ran at least once while loading MAIN: a new one
    makes this fail until MAIN uses it (and so the README check below covers it)."""
    ran = {(file, line) for file, line, _, _ in _record(tmp_path, monkeypatch)}
    missed = [
        f"{Path(file).name}:{first}"
        for file, first, last in sorted(_call_sites())
        if not any(f == file and first <= line <= last for f, line in ran)
    ]
    assert missed == []


def test_readme_reference_names_every_accepted_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each key the loader accepts is written as `key` in its README section."""
    missing = [
        f"{section or 'reference'}: {key}"
        for section, keys in _accepted(tmp_path, monkeypatch).items()
        for key in sorted(keys)
        if f"`{key}`" not in _section(section)
    ]
    assert missing == [], "\n".join(missing)


def test_readme_reference_tables_name_no_unknown_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first column of every table in a section holds only keys that section accepts."""
    accepted = _accepted(tmp_path, monkeypatch)
    unknown = []
    for section in (s for s in accepted if s is not None):
        for line in _section(section).splitlines():
            if line.startswith("| `"):
                first = line.split("|")[1]
                for key in re.findall(r"`([^`]+)`", first):
                    if key not in accepted[section]:
                        unknown.append(f"{section}: {key}")
    assert unknown == [], "\n".join(unknown)
    assert set(accepted) >= {"agent", "defaults", "contacts", "services", "sites", "notify"}


def test_readme_lists_every_webhook_payload_field() -> None:
    """The contacts section names each field of the webhook's JSON body."""
    text = _section("contacts")
    doc = payload(_example(), "https://nw.example.gov.vn", "en", "UTC")
    assert [field for field in doc if f"`{field}`" not in text] == []
    assert "X-Netwatch-Signature: sha256=<hex>" in text
