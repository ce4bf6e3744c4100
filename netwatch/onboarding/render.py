"""The imported site tree written as a netwatch configuration, by hand rather than by a YAML
dumper: one device per line, as a person would write it, and the same text for the same tree
(so import -> export -> import can be compared byte for byte).

When every device polled by SNMP has the same settings, they go once under ``defaults.snmp`` and
each device says ``snmp: {}``. Secrets stay references: ``{env: NAME}`` or ``{file: PATH}``.

>>> from netwatch.models import Role
>>> from netwatch.onboarding.rows import ImportedDevice, ImportedSite, ImportResult
>>> site = ImportedSite("ca-mau", "Tỉnh Cà Mau", "province", 2, gateway="r1")
>>> site.devices.append(ImportedDevice("r1", "Router", "10.0.0.1", Role.ROUTER, None, 2))
>>> print(render_files(ImportResult(("province",), [site], []), split=False)[MAIN_FILE], end="")
# Made by `netwatch import`. Check it with: netwatch check-config -c FILE
agent:
  hierarchy: [province]
sites:
  - id: ca-mau
    name: "Tỉnh Cà Mau"
    level: province
    gateway: r1
    devices:
      - {id: r1, name: "Router", address: 10.0.0.1, role: router}
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from .cells import SnmpCells
from .rows import ImportedDevice, ImportedSite, ImportResult

MAIN_FILE = "netwatch.yaml"
HEADER = "# Made by `netwatch import`. Check it with: netwatch check-config -c FILE\n"
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_IPV4 = re.compile(r"\d+(?:\.\d+){3}")
_NOT_TEXT = re.compile(
    r"0[xob].*|[-+]?[\d_]*\.?[\d_]*(?:e[-+]?\d+)?|y|n|yes|no|on|off|true|false|null"
)


def render_files(result: ImportResult, *, split: bool, header: str = HEADER) -> dict[str, str]:
    """File name -> YAML text. One file (``netwatch.yaml``), or with ``split`` the main file and
    one file per site below the top (a district, or a commune of a two-tier province), joined by
    ``include:``."""
    snmp = _shared_snmp(result.roots)
    head = [header, "agent:\n", f"  hierarchy: [{', '.join(map(_scalar, result.levels))}]\n"]
    if snmp is not None:
        head += ["defaults:\n", f"  snmp: {_snmp(snmp)}\n"]
    if not split:
        body = "".join(_site(site, snmp, "  ", parent=None) for site in result.roots)
        return {MAIN_FILE: "".join(head) + "sites:\n" + body}
    files: dict[str, str] = {}
    for root in result.roots:
        for child in root.children:
            name = (
                f"{child.id}.yaml" if f"{child.id}.yaml" != MAIN_FILE else f"{child.id}-site.yaml"
            )
            files[name] = header + "sites:\n" + _site(child, snmp, "  ", parent=root.id)
    if files:
        head.append("include:\n" + "".join(f"  - {_scalar(name)}\n" for name in files))
    tops = [
        ImportedSite(r.id, r.name, r.level, r.row, r.devices, [], r.gateway) for r in result.roots
    ]
    body = "".join(_site(site, snmp, "  ", parent=None) for site in tops)
    return {MAIN_FILE: "".join(head) + "sites:\n" + body, **files}


def _all_devices(sites: list[ImportedSite]) -> Iterator[ImportedDevice]:
    for site in sites:
        yield from site.devices
        yield from _all_devices(site.children)


def _shared_snmp(roots: list[ImportedSite]) -> SnmpCells | None:
    settings = {device.snmp for device in _all_devices(roots) if device.snmp is not None}
    return settings.pop() if len(settings) == 1 else None


def _site(site: ImportedSite, shared: SnmpCells | None, indent: str, *, parent: str | None) -> str:
    inner = indent + "  "
    out = [f"{indent}- id: {_scalar(site.id)}\n"]
    if parent is not None:
        out.append(f"{inner}parent: {_scalar(parent)}\n")
    out.append(f"{inner}name: {_quoted(site.name)}\n")
    out.append(f"{inner}level: {_scalar(site.level)}\n")
    if site.gateway is not None:
        out.append(f"{inner}gateway: {_scalar(site.gateway)}\n")
    if site.devices:
        out.append(f"{inner}devices:\n")
        out.extend(
            f"{inner}  - {_device(device, shared)}{_comment(device.comment)}\n"
            for device in site.devices
        )
    if site.children:
        out.append(f"{inner}sites:\n")
        out.extend(_site(child, shared, inner + "  ", parent=None) for child in site.children)
    return "".join(out)


def _device(device: ImportedDevice, shared: SnmpCells | None) -> str:
    parts = [f"id: {_scalar(device.id)}"]
    if device.name:
        parts.append(f"name: {_quoted(device.name)}")
    parts.append(f"address: {_scalar(device.address)}")
    parts.append(f"role: {device.role.value}")
    if device.snmp is not None:
        parts.append("snmp: {}" if device.snmp == shared else f"snmp: {_snmp(device.snmp)}")
    return "{" + ", ".join(parts) + "}"


def _comment(text: str) -> str:
    return "  # " + " ".join(text.split()) if text else ""


def _snmp(cells: SnmpCells) -> str:
    parts = [f"version: {_scalar(cells.version)}"]
    if cells.community is not None:
        parts.append(f"community: {_reference(cells.community)}")
    if cells.user:
        parts.append(f"user: {_scalar(cells.user)}")
    if cells.auth_protocol:
        parts.append(f"auth_protocol: {cells.auth_protocol}")
    if cells.auth_password is not None:
        parts.append(f"auth_password: {_reference(cells.auth_password)}")
    if cells.priv_protocol:
        parts.append(f"priv_protocol: {cells.priv_protocol}")
    if cells.priv_password is not None:
        parts.append(f"priv_password: {_reference(cells.priv_password)}")
    return "{" + ", ".join(parts) + "}"


def _reference(ref: tuple[str, str]) -> str:
    return f"{{{ref[0]}: {_scalar(ref[1])}}}"


def _scalar(text: str) -> str:
    """Plain where YAML reads it back as the same text, else double-quoted."""
    if _IPV4.fullmatch(text) or (_PLAIN.fullmatch(text) and not _NOT_TEXT.fullmatch(text.lower())):
        return text
    return _quoted(text)


def _quoted(text: str) -> str:
    # A JSON string is a YAML double-quoted scalar; diacritics are kept as they are.
    return json.dumps(text, ensure_ascii=False)
