"""Load the YAML configuration into a validated, frozen :class:`~netwatch.settings.config.Config`.

Every check of the input happens here (the work is split across ``netwatch.configuration``);
nothing downstream sees raw YAML. All problems are reported together as one ``ConfigError``,
each as ``FILE:LINE:COL: yaml.path: message``; secret values never appear in a message.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "netwatch.yaml"
>>> _ = path.write_text('''
... sites:
...   - id: can-tho
...     level: province
...     devices: [{id: core-rtr, address: 10.10.0.1, role: router}]
... ''')
>>> for part in summarize(load_config(path)).split("; "):
...     print(part)
1 sites (1 province, 0 district, 0 commune)
1 devices (1 router)
checks: 1 icmp, 0 snmp, 0 services
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping

from netwatch.configuration.tree import Builder
from netwatch.configuration.values import parse_duration
from netwatch.errors import ConfigError, Problem
from netwatch.models import Role
from netwatch.settings.config import Config

__all__ = ["load_config", "parse_duration", "summarize"]


def load_config(
    path: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    secrets: bool = True,
) -> Config:
    """Read, check and resolve the configuration at ``path`` and every file it includes.

    ``environ`` supplies ``{env: NAME}`` secrets (default: ``os.environ``); with
    ``secrets=False`` none is read and each is empty (for ``report``, which needs none).
    Raises ``ConfigError`` listing every problem found.
    """
    environ = os.environ if environ is None else environ
    path = os.fspath(path)
    try:
        return Builder(environ, read_secrets=secrets).build(path)
    except RecursionError as exc:
        # The last guard: the loader's limits keep values shallow, but a chain they do not see
        # (sites adopted with `parent:` through hundreds of includes) must not end in a traceback.
        message = "the configuration nests too deeply to check; flatten its sites or includes"
        raise ConfigError([Problem(path, 1, 1, "", message)]) from exc


def summarize(config: Config) -> str:
    """One line for logs and ``check-config``: sites per level, devices per role, checks."""
    levels = Counter(site.level for site in config.sites)
    per_level = ", ".join(f"{levels[level]} {level}" for level in config.agent.hierarchy)
    roles = Counter(device.role for device in config.devices)
    per_role = ", ".join(f"{roles[role]} {role.value}" for role in Role if roles[role])
    icmp = sum(1 for device in config.devices if device.icmp is not None)
    snmp = sum(1 for device in config.devices if device.snmp is not None)
    services = sum(len(device.services) for device in config.devices)
    return (
        f"{len(config.sites)} sites ({per_level}); "
        f"{len(config.devices)} devices ({per_role or 'none'}); "
        f"checks: {icmp} icmp, {snmp} snmp, {services} services"
    )
