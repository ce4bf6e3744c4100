"""The device cells of one row checked: address, role, gateway mark, SNMP settings.

Each problem goes to ``report(column, message)``; a checker returns a usable value anyway (empty,
``other``, no SNMP), so one row can show all its problems at once.

>>> found = []
>>> cells = Cells(lambda name: "", lambda column, message: found.append(column))
>>> cells.address("010.0.0.1"), cells.address("10.0.0.1"), cells.role("Máy chủ"), found
('', '10.0.0.1', <Role.SERVER: 'server'>, ['address'])
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from netwatch.configuration.values import check_address
from netwatch.models import Role

from .text import fold

FORMULA_START = ("=", "+", "-", "@")  # export writes '= for a cell starting so

ROLE_WORDS: dict[str, Role] = {
    **{role.value: role for role in Role},
    "bo dinh tuyen": Role.ROUTER,
    "dinh tuyen": Role.ROUTER,
    "bo chuyen mach": Role.SWITCH,
    "chuyen mach": Role.SWITCH,
    "tuong lua": Role.FIREWALL,
    "may chu": Role.SERVER,
    "may tram": Role.WORKSTATION,
    "may tinh": Role.WORKSTATION,
    "pc": Role.WORKSTATION,
    "bo luu dien": Role.UPS,
    "luu dien": Role.UPS,
    "khac": Role.OTHER,
}
VIETNAMESE_ROLES = "bộ định tuyến, bộ chuyển mạch, tường lửa, máy chủ, máy trạm, bộ lưu điện, khác"
_YES = {"x", "yes", "y", "1", "true", "co", "gateway"}
_NO = {"", "no", "n", "0", "false", "khong"}
_SNMP_OFF = {"no", "off", "khong", "0", "false", "none"}
_SNMP_VERSIONS = {"2c": "2c", "2": "2c", "v2c": "2c", "v2": "2c", "3": "3", "v3": "3"}
AUTH_PROTOCOLS = ("md5", "sha", "sha224", "sha256", "sha384", "sha512")
PRIV_PROTOCOLS = ("des", "aes", "aes192", "aes256", "aes192c", "aes256c")
_REFERENCE = re.compile(r"\{?\s*(env|file)\s*:\s*(.+?)\s*\}?")
_LEADING_ZERO = re.compile(r"(?:^|\.)0\d")
_DOTTED = re.compile(r"\d+(?:\.\d+){3}")

Get = Callable[[str], str]
Report = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class SnmpCells:
    """A device's SNMP settings from its row; secrets only as references (``env:``/``file:``)."""

    version: str
    community: tuple[str, str] | None = None  # ("env", "SNMP_COMMUNITY")
    user: str = ""
    auth_protocol: str = ""
    auth_password: tuple[str, str] | None = None
    priv_protocol: str = ""
    priv_password: tuple[str, str] | None = None


class Cells:
    """Checks the cells of one row, read through ``get(field)``."""

    def __init__(self, get: Get, report: Report) -> None:
        self.get = get
        self.report = report

    def address(self, text: str) -> str:
        if not text:
            self.report("address", "missing: the device's address")
            return ""
        if _DOTTED.fullmatch(text) and _LEADING_ZERO.search(text):
            plain = ".".join(str(int(part)) for part in text.split("."))
            self.report(
                "address",
                f"{text!r} has leading zeros, which some programs read as octal (010 = 8); "
                f"write {plain} if that is the device",
            )
            return ""
        try:
            check_address(text)
        except ValueError as exc:
            self.report("address", str(exc))
            return ""
        try:
            return str(ipaddress.ip_address(text))  # one spelling of an IPv6 address
        except ValueError:
            return text.lower()

    def role(self, text: str) -> Role:
        if not text:
            return Role.OTHER
        role = ROLE_WORDS.get(fold(text))
        if role is None:
            roles = ", ".join(r.value for r in Role)
            self.report("role", f"unknown role {text!r}; roles: {roles} (or {VIETNAMESE_ROLES})")
            return Role.OTHER
        return role

    def yes(self, column: str, text: str) -> bool:
        word = fold(text)
        if word in _YES:
            return True
        if word not in _NO:
            self.report(column, f"{text!r}: write x (or yes) for the gateway, or nothing")
        return False

    def snmp(self) -> SnmpCells | None:
        version_text = fold(self.get("snmp_version"))
        if version_text in _SNMP_OFF:
            return None
        user = self.get("snmp_user")
        community = self._reference("snmp_community", self.get("snmp_community"))
        if not version_text and not user and community is None:
            return None
        version = _SNMP_VERSIONS.get(version_text.replace(" ", ""), "")
        if version_text and not version:
            self.report("snmp_version", f"{self.get('snmp_version')!r}: write 2c, 3 or no")
            return None
        version = version or ("3" if user else "2c")
        cells = SnmpCells(
            version,
            community=community,
            user=user,
            auth_protocol=self._choice("snmp_auth_protocol", AUTH_PROTOCOLS),
            auth_password=self._reference("snmp_auth_password", self.get("snmp_auth_password")),
            priv_protocol=self._choice("snmp_priv_protocol", PRIV_PROTOCOLS),
            priv_password=self._reference("snmp_priv_password", self.get("snmp_priv_password")),
        )
        if version == "2c" and community is None and not self.get("snmp_community"):
            self.report("snmp_version", "SNMP v2c needs a community (env:NAME or file:PATH)")
        if version == "3" and not user:
            self.report("snmp_version", "SNMP v3 needs a user (snmp_user)")
        if bool(cells.auth_protocol) != (cells.auth_password is not None):
            self.report("snmp_user", "SNMP v3: give both snmp_auth_protocol and snmp_auth_password")
        if bool(cells.priv_protocol) != (cells.priv_password is not None) or (
            cells.priv_protocol and not cells.auth_protocol
        ):
            self.report(
                "snmp_user",
                "SNMP v3: privacy needs snmp_priv_protocol, snmp_priv_password and authentication",
            )
        return cells

    def _reference(self, column: str, text: str) -> tuple[str, str] | None:
        if not text:
            return None
        match = _REFERENCE.fullmatch(text)
        if match is None:
            # Never echo the cell: it may be the very secret.
            self.report(
                column,
                "write where the secret is, env:NAME or file:PATH, never the secret itself "
                "(netwatch writes no secret into a config)",
            )
            return None
        return match.group(1), match.group(2)

    def _choice(self, column: str, options: tuple[str, ...]) -> str:
        text = self.get(column).lower()
        if text and text not in options:
            self.report(column, f"{text!r}: expected one of {', '.join(options)}")
            return ""
        return text


def getter(fields: Mapping[str, int], cells: list[str]) -> Callable[[str], str]:
    def get(name: str) -> str:
        index = fields.get(name)
        if index is None or index >= len(cells):
            return ""
        text = cells[index].strip()
        # Export writes '=... so a spreadsheet shows the cell instead of running it.
        return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text

    return get
