"""``netwatch demo`` on the host: the browser's sockets, the namespace, and the clean-up.

The host side is deliberately thin. It binds the ports the user will open (the status page and
the mailbox) on the host, then starts ``netwatch.demo.inside`` in a new network namespace with
those sockets handed down (a socket stays in the namespace it was made in, so the browser
reaches them while everything else runs inside). On Ctrl-C or SIGTERM it asks the inner process
to stop, waits for it, kills its whole process group if it lingers, and deletes the work
directory. The namespace disappears with its last process: there is nothing else to delete.

Without the right to make a namespace (not root and no user namespaces, or no ``unshare`` /
``nft``) the demo says why and runs in the host's network, without the line cut (that needs
dropped packets); the application failure is still played.

>>> options = DemoOptions(listen="127.0.0.1:9430")
>>> options.mailbox_listen
'127.0.0.1:9431'
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from netwatch.configuration.values import parse_listen
from netwatch.demo.netns import namespace_problem, unshare_prefix
from netwatch.errors import NetwatchError

STOP_TIMEOUT = 30.0  # seconds the inner process gets to stop everything before SIGKILL


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What ``netwatch demo``'s command line chose; the defaults are what ``make run`` gets."""

    listen: str = "127.0.0.1:9430"  # the status page and /metrics, on the host
    incident: bool = True
    netns: bool = True  # False: stay in the host's network even where a namespace is possible
    speed: float = 1.0
    mailbox: str | None = None  # default: the port after ``listen``

    @property
    def mailbox_listen(self) -> str:
        if self.mailbox:
            return self.mailbox
        host, port = split_listen(self.listen)
        return f"{host}:{port + 1}"


def split_listen(listen: str) -> tuple[str, int]:
    try:
        return parse_listen(listen)
    except ValueError as exc:
        raise NetwatchError(f"--listen {listen!r}: {exc}") from exc


def _bind(listen: str, what: str) -> socket.socket:
    host, port = split_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise NetwatchError(
            f"cannot listen on {listen} for the {what}: {exc.strerror}"
            " (is another netwatch running? choose another port with --listen)"
        ) from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _url(listen: str) -> str:
    host, port = split_listen(listen)
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> int:
    """Run the demo until SIGINT/SIGTERM; return the exit code for ``netwatch demo``."""
    root = os.geteuid() == 0
    problem = namespace_problem(root=root) if options.netns else "--no-netns given"
    netns = problem is None
    if problem is not None and options.incident:
        out.write(
            f"netwatch demo: no network namespace: {problem}.\n"
            "  Running without the district line cut (it needs real dropped packets);\n"
            "  the application failure is still scripted.\n"
        )
        out.flush()
    workdir = Path(tempfile.mkdtemp(prefix="netwatch-demo-"))
    sockets: list[socket.socket] = []
    try:
        mailbox = _bind(options.mailbox_listen, "mailbox page")
        sockets.append(mailbox)
        argv = [
            sys.executable, "-m", "netwatch.demo.inside",
            "--workdir", str(workdir),
            "--speed", str(options.speed),
            "--mailbox-fd", str(mailbox.fileno()),
            "--status-url", _url(options.listen),
            "--mailbox-url", _url(options.mailbox_listen),
        ]  # fmt: skip
        if options.incident:
            argv.append("--incident")
        if netns:
            # The daemon listens on its default port inside; the host's port is relayed to it.
            status = _bind(options.listen, "status page")
            sockets.append(status)
            argv = [
                *unshare_prefix(root=root),
                *argv,
                "--netns",
                "--status-fd",
                str(status.fileno()),
            ]
        else:
            argv += ["--listen", options.listen]
        return _supervise(argv, [s.fileno() for s in sockets], out)
    finally:
        for sock in sockets:
            sock.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _supervise(argv: list[str], fds: list[int], out: TextIO) -> int:
    """Start the inner process and wait for it; on SIGINT/SIGTERM stop it, then reap it."""
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    # Its own process group: Ctrl-C reaches only us, and we stop the children in order.
    # Its stdin is a pipe we never write: when we die, it reads EOF and stops by itself.
    proc = subprocess.Popen(argv, pass_fds=fds, stdin=subprocess.PIPE, process_group=0)
    try:
        while proc.poll() is None and not stopping.is_set():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.5)
        if proc.poll() is None:
            out.write("\nnetwatch demo: stopping...\n")
            out.flush()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                out.write("netwatch demo: the demo did not stop in time; killing it\n")
    finally:
        # Whatever is left of its group (the daemon, snmpsim) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if proc.returncode == 0 else 1


def add_demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``netwatch demo`` subcommand (called by ``cli._parser``)."""
    demo = sub.add_parser(
        "demo",
        help="a simulated province on this machine, watched by a real netwatch",
        description="Start a simulated province (83 devices on loopback addresses, SNMP via "
        "snmpsim, web applications, a mail sink), watch it with a real netwatch, and play a "
        "scripted incident in the first two minutes. Ctrl-C stops everything.",
    )
    demo.add_argument(
        "--no-incident", action="store_true", help="no scripted faults, just the province"
    )
    demo.add_argument(
        "--listen", default="127.0.0.1:9430", metavar="HOST:PORT",
        help="the status page and /metrics (default: %(default)s; the mailbox is the next port)",
    )  # fmt: skip
    demo.add_argument(
        "--no-netns", action="store_true",
        help="stay in the host's network (no namespace): the line cut is left out",
    )  # fmt: skip
    demo.add_argument("--mailbox", metavar="HOST:PORT", help="the mailbox page's address")
    demo.add_argument(
        "--speed", type=float, default=1.0, metavar="N",
        help="play the incident's pauses N times faster (detection keeps its own pace)",
    )  # fmt: skip


def demo_command(args: argparse.Namespace) -> int:
    """Run ``netwatch demo`` from parsed arguments."""
    if args.speed <= 0:
        raise NetwatchError(f"--speed must be positive, got {args.speed}")
    options = DemoOptions(
        listen=args.listen,
        incident=not args.no_incident,
        netns=not args.no_netns,
        speed=args.speed,
        mailbox=args.mailbox,
    )
    return run_demo(options)
