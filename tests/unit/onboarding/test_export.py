"""export writes back what import reads: the same config after a round trip, in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwatch.config import load_config
from netwatch.errors import NetwatchError
from netwatch.onboarding import export_csv, import_table, read_table, render_files
from netwatch.onboarding.render import MAIN_FILE

ENVIRON = {"SNMP_COMMUNITY": "c", "SNMP_AUTH": "a", "SNMP_PRIV": "p"}


def _import(sheet: Path, out: Path, *, split: bool = False) -> dict[str, str]:
    files = render_files(import_table(read_table(sheet)), split=split)
    out.mkdir(exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    return files


def test_round_trip_with_v3_hostnames_ipv6_and_a_site_without_devices(tmp_path: Path) -> None:
    """SNMPv3 references, a file secret, a host name, an IPv6 address, a formula-looking name
    and a commune with no device yet all survive import -> export -> import unchanged."""
    secret = tmp_path / "community"
    secret.write_text("c\n")
    sheet = tmp_path / "in.csv"
    sheet.write_text(
        "Tỉnh,Xã,Tên,IP,Vai trò,SNMP,Community,snmp_user,snmp_auth_protocol,"
        "snmp_auth_password,snmp_priv_protocol,snmp_priv_password\n"
        "Tỉnh A,Phường 1,Router,10.0.0.1,router,3,,nw,sha,env:SNMP_AUTH,aes,env:SNMP_PRIV\n"
        f",,Switch,sw1.phuong1.example.gov.vn,switch,2c,file:{secret},,,,,\n"
        ",,=Máy in,fd00::0001,other,,,,,,,\n"
        ",Phường 2,,,,,,,,,,\n",
        encoding="utf-8",
    )
    first = _import(sheet, tmp_path / "one")
    assert 'address: "fd00::1"' in first[MAIN_FILE]
    assert "id: phuong-2" in first[MAIN_FILE]
    config = load_config(tmp_path / "one" / MAIN_FILE, environ=ENVIRON)
    assert len(config.devices) == 3
    exported = tmp_path / "out.csv"
    exported.write_bytes(export_csv(config, str(tmp_path / "one" / MAIN_FILE)))
    assert b"'=M\xc3\xa1y in" in exported.read_bytes()  # shown by a spreadsheet, not run
    assert b",c," not in exported.read_bytes()  # the community's value is not exported
    second = _import(exported, tmp_path / "two")
    assert second == first


def test_two_tier_province_in_commune_files(tmp_path: Path) -> None:
    """Tỉnh and Xã alone make [province, commune]; -o DIR splits it one file per commune."""
    sheet = tmp_path / "in.csv"
    sheet.write_text(
        "Tỉnh;Xã/Phường;Tên;IP\nTỉnh A;;Lõi;10.0.0.1\n"
        ";Xã B;Router;10.0.1.1\n;Xã C;Router;10.0.2.1\n",
        encoding="utf-8",
    )
    files = _import(sheet, tmp_path / "out", split=True)
    assert sorted(files) == ["netwatch.yaml", "xa-b.yaml", "xa-c.yaml"]
    assert "hierarchy: [province, commune]" in files[MAIN_FILE]
    config = load_config(tmp_path / "out" / MAIN_FILE, environ=ENVIRON)
    assert [(s.id, s.level, s.parent) for s in config.sites] == [
        ("tinh-a", "province", None),
        ("xa-b", "commune", "tinh-a"),
        ("xa-c", "commune", "tinh-a"),
    ]


def test_a_site_that_skips_a_level_cannot_be_a_row(tmp_path: Path) -> None:
    """A commune hung straight under the province of a three-level config is refused by name,
    not written as a row that would read back differently."""
    path = tmp_path / "n.yaml"
    path.write_text(
        "sites: [{id: p, level: province, sites: [{id: c, level: commune,"
        " devices: [{id: r, address: 10.0.0.1}]}]}]\n"
    )
    with pytest.raises(NetwatchError, match="'c' cannot be a row"):
        export_csv(load_config(path), str(path))
