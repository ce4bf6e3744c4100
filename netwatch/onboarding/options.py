"""The command lines of ``netwatch import``, ``export`` and ``discover``, and what they mean.

``add_onboarding_parsers`` adds the three commands to the CLI's parser (as ``demo.run`` adds
``demo``). ``discover_hosts`` and ``discover_snmp`` turn discover's options into the addresses
to sweep, the SNMP settings to ask with and the cells the proposal writes, raising
``ValueError`` for options that are out of range or do not go together. Nothing here prints or
exits: the CLI parses, runs the command and says what came of it.
"""

from __future__ import annotations

import argparse
import os
from typing import TypeAlias, get_args

from netwatch.models import AuthProtocol, PrivProtocol, SnmpSettings

from .cells import SnmpCells
from .discover import MAX_HOSTS, hosts_of, read_reference
from .export import FORMATS

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
AUTH_PROTOCOLS = get_args(AuthProtocol)
PRIV_PROTOCOLS = get_args(PrivProtocol)


def add_onboarding_parsers(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """``import``, ``export`` (with the ``common`` options: it reads a config) and
    ``discover``."""
    _add_import(sub)
    exp = sub.add_parser(
        "export",
        parents=[common],
        help="the config's devices as a spreadsheet that import reads back",
    )
    exp.add_argument("--format", choices=FORMATS, default="csv", dest="fmt")
    exp.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    _add_discover(sub)


def _add_import(sub: Subparsers) -> None:
    imp = sub.add_parser(
        "import",
        help="a province's device list (CSV or XLSX) as a netwatch config",
        description="One row per device: its place (province/district/commune columns, or one "
        "site path column), name, address, role and optional SNMP settings. Headers in "
        "Vietnamese or English. Bad rows are all reported with their row number (exit 2).",
    )
    imp.add_argument("file", metavar="FILE", help=".csv, .xlsx (needs netwatch[xlsx])")
    imp.add_argument(
        "-o",
        "--output",
        metavar="FILE|DIR/",
        help="write here instead of stdout; a directory (existing, or ending in /) gets "
        "netwatch.yaml and one file per district",
    )
    imp.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=FIELD",
        help="read COLUMN as FIELD (or COLUMN=- to ignore it); repeatable",
    )
    imp.add_argument(
        "--levels",
        metavar="L1,L2,...",
        help="the levels, top first (default: the level columns found, e.g. province,commune)",
    )
    imp.add_argument("--sheet", metavar="NAME", help="XLSX: this sheet (default: the first)")


def _add_discover(sub: Subparsers) -> None:
    disc = sub.add_parser(
        "discover",
        help="ping networks, ask what answers by SNMP, propose a config",
        description="Each address is pinged once, at most --rate a second; those that answer "
        "are asked by SNMP (--community, or --v3-user) for sysName, sysDescr, sysObjectID and "
        "LLDP/CDP neighbours. The proposal (YAML) is the tree those links describe, or one site. "
        "Ctrl-C stops the sweep and still prints what was found.",
    )
    disc.add_argument("networks", nargs="+", metavar="CIDR", help="e.g. 10.20.1.0/24")
    disc.add_argument("--rate", type=float, default=50.0, help="pings a second (default 50)")
    disc.add_argument("--max-hosts", type=int, default=MAX_HOSTS, metavar="N")
    disc.add_argument(
        "--progress",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how far the sweep is, on stderr, this often (default 5)",
    )
    disc.add_argument("--timeout", type=float, default=1.0, help="ping and SNMP wait, seconds")
    disc.add_argument("--community", metavar="env:NAME|file:PATH", help="SNMP v2c community")
    _add_v3(disc)
    disc.add_argument("--snmp-port", type=int, default=161, metavar="PORT")
    disc.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help="compare with this config: new devices, changed addresses, devices not seen",
    )
    disc.add_argument("--site", default="Discovered", metavar="NAME", help="the site's name")
    disc.add_argument("--level", default="province", help="the top site's level (default province)")
    disc.add_argument(
        "--levels",
        default="commune",
        metavar="L2,L3,...",
        help="the levels below it, for the sites of routers reached through LLDP/CDP links "
        "(default commune)",
    )
    disc.add_argument(
        "--root",
        metavar="ADDRESS",
        help="the top site's gateway (default: the router with the most LLDP/CDP links)",
    )
    disc.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")


def _add_v3(disc: argparse.ArgumentParser) -> None:
    v3 = disc.add_argument_group(
        "SNMPv3 (instead of --community; passwords only from the environment or a file)"
    )
    v3.add_argument("--v3-user", metavar="NAME", help="SNMPv3 user (USM)")
    v3.add_argument("--auth-protocol", choices=AUTH_PROTOCOLS, default="sha256")
    v3.add_argument("--auth-password-env", metavar="VAR", help="its password is in $VAR")
    v3.add_argument("--auth-password-file", metavar="PATH", help="its password is in PATH")
    v3.add_argument("--priv-protocol", choices=PRIV_PROTOCOLS, help="privacy (default none)")
    v3.add_argument("--priv-password-env", metavar="VAR")
    v3.add_argument("--priv-password-file", metavar="PATH")
    v3.add_argument("--v3-context", default="", metavar="NAME", help="SNMPv3 context name")


def discover_hosts(args: argparse.Namespace) -> list[str]:
    """The addresses to sweep. Raises ``ValueError`` for a bad network, too many addresses, or
    a rate, progress period or timeout out of range."""
    if not 0 < args.rate <= 1000:
        raise ValueError("--rate must be between 0 and 1000 pings a second")
    if not args.progress > 0:
        raise ValueError("--progress must be a positive number of seconds")
    if not 0 < args.timeout <= 30:
        raise ValueError("--timeout must be between 0 and 30 seconds")
    return hosts_of(args.networks, args.max_hosts)


def discover_snmp(args: argparse.Namespace) -> tuple[SnmpSettings | None, SnmpCells | None]:
    """The SNMP settings to ask with (secrets read now) and the cells the proposal writes
    (references only). Raises ``ValueError`` for options that do not go together, and
    ``NetwatchError`` for a secret that cannot be read."""
    if args.community and args.v3_user:
        raise ValueError("give --community or --v3-user, not both")
    if args.community:
        community = read_reference(args.community, os.environ)
        settings = SnmpSettings(
            community=community, port=args.snmp_port, timeout=args.timeout, retries=0
        )
        return settings, SnmpCells("2c", community=split_reference(args.community))
    if not args.v3_user:
        return None, None

    def password(what: str, env: str | None, file: str | None) -> str | None:
        if env and file:
            raise ValueError(f"give --{what}-password-env or --{what}-password-file, not both")
        return f"env:{env}" if env else f"file:{file}" if file else None

    auth = password("auth", args.auth_password_env, args.auth_password_file)
    priv = password("priv", args.priv_password_env, args.priv_password_file)
    if auth is None:
        raise ValueError("--v3-user needs --auth-password-env VAR or --auth-password-file PATH")
    if (priv is None) != (args.priv_protocol is None):
        raise ValueError("--priv-protocol and a priv password go together")
    settings = SnmpSettings(
        version="3",
        user=args.v3_user,
        auth_protocol=args.auth_protocol,
        auth_password=read_reference(auth, os.environ),
        priv_protocol=args.priv_protocol,
        priv_password=read_reference(priv, os.environ) if priv else None,
        context=args.v3_context,
        port=args.snmp_port,
        timeout=args.timeout,
        retries=0,
    )
    cells = SnmpCells(
        "3",
        user=args.v3_user,
        auth_protocol=args.auth_protocol,
        auth_password=split_reference(auth),
        priv_protocol=args.priv_protocol or "",
        priv_password=split_reference(priv) if priv else None,
    )
    return settings, cells


def split_reference(reference: str) -> tuple[str, str]:
    """``env:NAME`` -> ``("env", "NAME")``, as a proposal writes it."""
    kind, _, where = reference.partition(":")
    return kind, where
