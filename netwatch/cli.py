"""The ``netwatch`` command. The only module that prints to the terminal or exits.

The options of ``import``, ``export`` and ``discover`` are declared beside the code they drive
(``onboarding.options``), as are ``demo``'s (``demo.run``); the other commands' are here.

Exit codes: 0 success; 1 a runtime failure (e.g. an unknown ``--device``, a failed test
notification, no history database); 2 an invalid configuration or command line.

>>> main(["check-config", "-c", "config/demo.yaml"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp

from netwatch import __version__
from netwatch.alerting.notifiers import build_notifiers
from netwatch.alerting.notify_test import notify_test
from netwatch.config import load_config, summarize
from netwatch.daemon import HISTORY_FILE, Daemon
from netwatch.demo.run import add_demo_parser, demo_command
from netwatch.errors import ConfigError, NetwatchError
from netwatch.history.formats import render
from netwatch.history.report import build_report, report_period
from netwatch.inventory import build_inventory
from netwatch.logs import setup_logging
from netwatch.models import SnmpSettings
from netwatch.onboarding import export_csv, import_table, read_table, render_files
from netwatch.onboarding.discover import Sweep, sweep
from netwatch.onboarding.options import add_onboarding_parsers, discover_hosts, discover_snmp
from netwatch.onboarding.proposal import DISCOVER_HEADER, compared, proposal
from netwatch.onboarding.render import MAIN_FILE
from netwatch.once import run_once, unknown_devices
from netwatch.settings.config import Config

DEFAULT_CONFIG = "/etc/netwatch/netwatch.yaml"
EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it

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
    report = sub.add_parser(
        "report",
        parents=[common],
        help="availability report from the uptime history",
        description="Availability per device, site or level over a period, worst first.",
    )
    report.add_argument("--from", dest="date_from", metavar="DATE", help="first day, YYYY-MM-DD")
    report.add_argument("--to", dest="date_to", metavar="DATE", help="day after the last one")
    report.add_argument(
        "--month",
        metavar="YYYY-MM",
        help="a whole month instead of --from/--to (default: this month, up to now)",
    )
    report.add_argument(
        "--by", default="site", help="device, site, service or a level (default: site)"
    )
    report.add_argument("--level", help="only sites (or devices) of this level")
    report.add_argument(
        "--format", choices=["table", "csv", "json", "html"], default="table", dest="fmt"
    )
    report.add_argument("--lang", choices=["vi", "en"], help="default: agent.language")
    report.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    notify = sub.add_parser(
        "notify-test",
        parents=[common],
        help="send a test message through every channel of a contact",
    )
    notify.add_argument("--contact", required=True, metavar="NAME")
    add_onboarding_parsers(sub, common)
    add_demo_parser(sub)
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
        if args.command == "demo":
            return demo_command(args)
        if args.command == "check-config":
            return _check_config(args.config)
        if args.command == "import":
            return _import(args)
        if args.command == "discover":
            return _discover(args)
        if args.command == "export":
            # Like report: what a secret's reference says is enough, its value is not needed.
            return _export(args.config, load_config(args.config, secrets=False), args.output)
        # A report reads only the history: it must run from a shell without the agent's secrets.
        config = load_config(args.config, secrets=args.command != "report")
        setup_logging(
            args.log_format or config.agent.log_format,
            args.log_level or ("warning" if args.command == "once" else config.agent.log_level),
        )
        if args.command == "once":
            return _once(config, args.device)
        if args.command == "report":
            return _report(config, args)
        if args.command == "notify-test":
            return asyncio.run(_notify_test(config, args.contact))
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
    unknown = unknown_devices(config, devices)
    if unknown:
        for message in unknown:
            print(f"netwatch once: {message}", file=sys.stderr)
        return EXIT_FAILURE
    result = asyncio.run(run_once(config, devices))
    # The reasons go to stderr, one line each, so stdout stays valid Prometheus text.
    for failure in result.failures:
        print(f"netwatch once: {failure}", file=sys.stderr)
    sys.stdout.write(result.metrics.decode())
    return EXIT_OK


def _report(config: Config, args: argparse.Namespace) -> int:
    """Build the report from the history database under agent.data_dir (read-only)."""
    tz = config.agent.timezone
    try:
        month = args.month
        if month is None and args.date_from is None and args.date_to is None:
            month = datetime.now(ZoneInfo(tz)).strftime("%Y-%m")  # as the API and the page
        start, end = report_period(args.date_from, args.date_to, month, tz)
        inventory = build_inventory(config)
        report = build_report(
            Path(config.agent.data_dir) / HISTORY_FILE,
            inventory.sites,
            inventory.devices,
            start=start,
            end=end,
            by=args.by,
            level=args.level,
            tz=tz,
            now=time.time(),
        )
    except ValueError as exc:
        print(f"netwatch report: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    body = render(report, args.fmt, args.lang or config.agent.language)
    if args.output:
        Path(args.output).write_bytes(body)
        print(f"report written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    levels = tuple(x.strip() for x in args.levels.split(",") if x.strip()) if args.levels else None
    try:
        result = import_table(read_table(args.file, sheet=args.sheet), levels=levels, maps=args.map)
    except ValueError as exc:  # a bad --map or --levels
        print(f"netwatch import: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for warning in result.warnings:
        print(f"{args.file}: warning: {warning}", file=sys.stderr)
    out = args.output
    split = out is not None and (out.endswith(os.sep) or Path(out).is_dir())
    files = render_files(result, split=split)
    if out is None:
        sys.stdout.write(files[MAIN_FILE])
        return EXIT_OK
    try:
        if split:
            Path(out).mkdir(parents=True, exist_ok=True)
            for name, text in files.items():
                (Path(out) / name).write_text(text, encoding="utf-8")
        else:
            Path(out).write_text(files[MAIN_FILE], encoding="utf-8")
    except OSError as exc:
        print(f"netwatch import: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    where = Path(out) / MAIN_FILE if split else Path(out)
    print(
        f"{len(files)} file(s) written; check them: netwatch check-config -c {where}",
        file=sys.stderr,
    )
    return EXIT_OK


def _discover(args: argparse.Namespace) -> int:
    try:
        hosts = discover_hosts(args)
        snmp, cells = discover_snmp(args)
    except ValueError as exc:
        print(f"netwatch discover: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(
        f"sweeping {len(hosts)} addresses at {args.rate:g}/s "
        f"(about {len(hosts) / args.rate:.0f} s)",
        file=sys.stderr,
    )
    result = asyncio.run(_sweep(hosts, args, snmp))
    by_snmp = sum(1 for item in result.found if item.system is not None)
    if result.interrupted:
        print(
            f"interrupted: {result.swept} of {len(hosts)} addresses swept; "
            "proposing what was found so far",
            file=sys.stderr,
        )
    print(
        f"{len(result.found)} of {result.swept} answered the ping, {by_snmp} SNMP, "
        f"in {result.seconds:.1f} s",
        file=sys.stderr,
    )
    header = DISCOVER_HEADER
    if args.config:
        lines = compared(args.config, result, hosts)
        for line in lines:
            print(line, file=sys.stderr)
        header += "".join(f"# {line}\n" for line in lines)
    proposed = proposal(
        result,
        site_name=args.site,
        level=args.level,
        cells=cells,
        levels=[part.strip() for part in args.levels.split(",") if part.strip()],
        root=args.root,
    )
    text = render_files(proposed, split=False, header=header)[MAIN_FILE]
    done = EXIT_INTERRUPTED if result.interrupted else EXIT_OK
    if args.output is None:
        sys.stdout.write(text)
        return done
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(
            f"netwatch discover: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr
        )
        return EXIT_FAILURE
    return done


async def _sweep(hosts: list[str], args: argparse.Namespace, snmp: SnmpSettings | None) -> Sweep:
    """The sweep, with its progress on stderr; Ctrl-C (SIGINT) stops it with what was found."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)

    def progress(swept: int, total: int, pinged: int, by_snmp: int) -> None:
        print(
            f"swept {swept}/{total} addresses, {pinged} answered the ping, {by_snmp} SNMP",
            file=sys.stderr,
            flush=True,
        )

    try:
        return await sweep(
            hosts,
            rate=args.rate,
            wait=args.timeout,
            snmp=snmp,
            stop=stop,
            progress=progress,
            every=args.progress,
        )
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _export(path: str, config: Config, output: str | None) -> int:
    body = export_csv(config, path)
    if output is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        return EXIT_OK
    try:
        Path(output).write_bytes(body)
    except OSError as exc:
        print(f"netwatch export: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


async def _notify_test(config: Config, name: str) -> int:
    """Send a test alert through each channel of one contact; print one line per channel."""
    contact = config.contacts.get(name)
    if contact is None:
        known = ", ".join(sorted(config.contacts)) or "none configured"
        print(f"netwatch notify-test: unknown contact {name!r} (known: {known})", file=sys.stderr)
        return EXIT_FAILURE
    async with aiohttp.ClientSession() as session:
        notifiers = build_notifiers(config.notify, session)
        results = await notify_test(contact, notifiers, config.notify)
    if not results:
        print(f"contact {name} has no channel (email, telegram, webhook, alertmanager)")
        return EXIT_FAILURE
    for channel, ok, detail in results:
        print(f"{channel:<13} {'OK    ' if ok else 'FAILED'} {detail}")
    return EXIT_OK if all(ok for _, ok, _ in results) else EXIT_FAILURE


async def _run(path: str, config: Config) -> int:
    daemon = Daemon(path, config=config)
    daemon.install_signal_handlers()
    try:
        await daemon.start()
        await daemon.wait()
    finally:
        await daemon.stop()
    return EXIT_OK
