"""The ``netwatch`` command. The only module that prints to the terminal or exits.

Exit codes: 0 success; 1 a runtime failure (e.g. an unknown ``--device``); 2 an invalid
configuration or command line.

>>> main(["check-config", "-c", "config/demo.yaml"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from prometheus_client import generate_latest

from netwatch import __version__
from netwatch.config import load_config, summarize
from netwatch.daemon import Daemon, run_once
from netwatch.errors import ConfigError, NetwatchError
from netwatch.logs import setup_logging
from netwatch.models import Config

DEFAULT_CONFIG = "/etc/netwatch/netwatch.yaml"
EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2

log = logging.getLogger("netwatch")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netwatch",
        description="Watch a provincial WAN by ICMP, SNMP and HTTP; export to Prometheus.",
    )
    parser.add_argument("--version", action="version", version=f"netwatch {__version__}")
    # The shared options work before or after the command (``netwatch -c F run`` and
    # ``netwatch run -c F``): the top level sets the defaults, a command's copy only overrides.
    _add_common(parser, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, defaults=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", parents=[common], help="run the daemon")
    sub.add_parser("check-config", parents=[common], help="validate the config and exit")
    once = sub.add_parser(
        "once",
        parents=[common],
        help="poll everything (or --device) once and print the metrics",
    )
    once.add_argument(
        "--device",
        action="append",
        default=[],
        metavar="ID",
        help="poll only this device (repeatable)",
    )
    return parser


def _add_common(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    def default(value: str | None) -> str | None:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "-c",
        "--config",
        default=default(os.environ.get("NETWATCH_CONFIG", DEFAULT_CONFIG)),
        help=f"config file (default: $NETWATCH_CONFIG or {DEFAULT_CONFIG})",
    )
    parser.add_argument(
        "--log-format",
        choices=["auto", "text", "plain", "json"],
        default=default(None),
        help="override agent.log_format",
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default=default(None),
        help="override agent.log_level",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "check-config":
            return _check_config(args.config)
        config = load_config(args.config)
        setup_logging(
            args.log_format or config.agent.log_format,
            args.log_level or ("warning" if args.command == "once" else config.agent.log_level),
        )
        if args.command == "once":
            return _once(config, args.device)
        return asyncio.run(_run(args.config, config))
    except ConfigError as exc:
        _print_problems(exc)
        return EXIT_CONFIG
    except NetwatchError as exc:
        print(f"netwatch: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK


def _print_problems(exc: ConfigError) -> None:
    for problem in exc.problems:
        print(problem, file=sys.stderr)
    count = len(exc.problems)
    print(f"{count} problem{'s' if count != 1 else ''} found", file=sys.stderr)


def _check_config(path: str) -> int:
    config = load_config(path)
    print(f"{path}: OK: {summarize(config)}")
    return EXIT_OK


def _once(config: Config, devices: list[str]) -> int:
    known = {d.id for d in config.devices}
    unknown = [d for d in devices if d not in known]
    if unknown:
        print(f"netwatch: unknown device(s): {', '.join(unknown)}", file=sys.stderr)
        return EXIT_FAILURE
    registry = asyncio.run(run_once(config, devices))
    sys.stdout.write(generate_latest(registry).decode())
    return EXIT_OK


async def _run(path: str, config: Config) -> int:
    daemon = Daemon(path, config=config)
    daemon.install_signal_handlers()
    try:
        await daemon.start()
        await daemon.wait()
    finally:
        await daemon.stop()
    return EXIT_OK
