"""A loaded configuration written back as the device list ``netwatch import`` reads.

One row per device with every level filled in (names and ids), so the sheet can be sorted and
filtered, and read back to the same configuration; a site without devices gets a row of its own.
What the columns cannot hold (services, depends_on, contacts, per-site settings, maintenance)
stays only in the YAML. Secrets are written as where they are (``env:NAME``, ``file:PATH``),
never their values: export reads none of them.

CSV as the reports write it: UTF-8 with a BOM, CRLF, and a ``'`` before a cell that a
spreadsheet would run as a formula (import takes it off again).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence

from netwatch.errors import NetwatchError
from netwatch.history.formats import text_cell
from netwatch.models import Device, Secret, Site
from netwatch.settings.config import Config

from .columns import DEVICE_FIELDS, level_id

FORMATS = ("csv",)


def export_csv(config: Config, config_path: str) -> bytes:
    """The configuration's devices as CSV bytes. Raises ``NetwatchError`` for a tree the columns
    cannot express (a site that skips a level of ``agent.hierarchy``)."""
    levels = config.agent.hierarchy
    sites = {site.id: site for site in config.sites}
    devices = {device.id: device for device in config.devices}
    polled = [d.snmp for d in config.devices if d.snmp is not None]
    snmp_fields = []
    if polled:
        snmp_fields = ["snmp_version", "snmp_community"]
        if any(s.version == "3" for s in polled):
            snmp_fields += [
                "snmp_user",
                "snmp_auth_protocol",
                "snmp_auth_password",
                "snmp_priv_protocol",
                "snmp_priv_password",
            ]
    head = [name for level in levels for name in (level, level_id(level))]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([*head, *DEVICE_FIELDS, *snmp_fields])
    base = os.path.dirname(os.path.abspath(config_path))
    for site in config.sites:
        place = _place(site, sites, levels)
        if not site.devices and not site.children:
            writer.writerow([text_cell(cell) for cell in place])
        for device_id in site.devices:
            device = devices[device_id]
            cells = [
                *place,
                "" if device.name == device.id else device.name,
                device.id,
                device.address,
                device.role.value,
                "x" if site.gateway == device.id else "",
                *(_snmp(device, snmp_fields, base) if snmp_fields else []),
            ]
            writer.writerow([text_cell(cell) for cell in cells])
    return buf.getvalue().encode("utf-8-sig")


def _place(site: Site, sites: dict[str, Site], levels: Sequence[str]) -> list[str]:
    chain = [site]
    while chain[-1].parent is not None:
        chain.append(sites[chain[-1].parent])
    chain.reverse()
    if [s.level for s in chain] != list(levels[: len(chain)]):
        path = " > ".join(f"{s.id} ({s.level})" for s in chain)
        raise NetwatchError(
            f"site {site.id!r} cannot be a row: its place {path} skips a level of "
            f"agent.hierarchy ({', '.join(levels)}), and a sheet's level columns cannot say so"
        )
    cells = []
    for index in range(len(levels)):
        cells += [chain[index].name, chain[index].id] if index < len(chain) else ["", ""]
    return cells


def _snmp(device: Device, fields: list[str], base: str) -> list[str]:
    s = device.snmp
    if s is None:
        return ["no", *[""] * (len(fields) - 1)]
    values = {
        "snmp_version": s.version,
        "snmp_community": _reference(s.community, base),
        "snmp_user": s.user or "",
        "snmp_auth_protocol": s.auth_protocol or "",
        "snmp_auth_password": _reference(s.auth_password, base),
        "snmp_priv_protocol": s.priv_protocol or "",
        "snmp_priv_password": _reference(s.priv_password, base),
    }
    return [values[name] for name in fields]


def _reference(secret: Secret | None, base: str) -> str:
    """Where the secret is: ``env:NAME``, or ``file:PATH`` relative to the configuration when
    the file is beside or below it (as the loader resolves ``{file:}``)."""
    if secret is None:
        return ""
    kind, _, where = secret.source.partition(":")
    if kind == "file":
        full = os.path.abspath(where)
        if not os.path.isabs(where) or full.startswith(base + os.sep):
            where = os.path.relpath(full, base)
    return f"{kind}:{where}"
