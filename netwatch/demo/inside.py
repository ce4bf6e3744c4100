"""The demo's inner process: builds the world, runs the daemon and the incident, tears down.

``netwatch demo`` (``run.py``) starts it with ``python -m netwatch.demo.inside``, inside a new
network namespace when it can make one. It stops on SIGTERM or SIGINT, or when its standard
input closes (the parent died: nothing may outlive it), and then stops everything it started,
in reverse order: the daemon, snmpsim, the web applications, the mail sink.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import aiohttp

from netwatch.configuration.values import parse_listen
from netwatch.demo import province as prov
from netwatch.demo.incident import Incident, Timeline, print_mails
from netwatch.demo.netns import Firewall
from netwatch.demo.world import (
    DemoError,
    Forwarder,
    Mailbox,
    MailSink,
    OfficeApps,
    Snmpsim,
    find_snmpsim,
    snmp_devices,
    stop_process,
)

log = logging.getLogger(__name__)

DAEMON_LISTEN = "127.0.0.1:9430"  # the daemon's address inside the namespace
READY_TIMEOUT = 60.0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m netwatch.demo.inside")
    p.add_argument("--workdir", required=True, type=Path)
    p.add_argument("--netns", action="store_true", help="we are in our own network namespace")
    p.add_argument("--incident", action="store_true")
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--mailbox-fd", type=int, required=True, help="listening socket (host)")
    p.add_argument("--status-fd", type=int, help="listening socket to forward to the daemon")
    p.add_argument("--listen", default=DAEMON_LISTEN, help="the daemon's listen address")
    p.add_argument("--status-url", required=True, help="the status page, as the user sees it")
    p.add_argument("--mailbox-url", required=True)
    return p


class Inside:
    """Everything the inner process starts, so that ``stop`` can undo exactly that."""

    def __init__(self, args: argparse.Namespace, stop: asyncio.Event) -> None:
        self.args = args
        self.stop_requested = stop
        self.province = prov.build_province()
        self.timeline = Timeline(sys.stdout)
        self.firewall = Firewall() if args.netns else None
        self.snmpsim: Snmpsim | None = None
        self.apps = OfficeApps()
        self.sink = MailSink()
        self.mailbox = Mailbox(self.sink)
        self.forwarder: Forwarder | None = None
        self.daemon: asyncio.subprocess.Process | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.failed = False  # something died on its own: exit non-zero

    async def start(self) -> None:
        args, say = self.args, self.timeline.say
        if self.firewall is not None:
            await self.firewall.setup()
        program = find_snmpsim()
        snmp = program is not None
        if program is None:
            say(
                "snmpsim not found: SNMP is left out of the demo (make run installs it in "
                ".venv-snmpsim; or set NETWATCH_SNMPSIM to snmpsim-command-responder)"
            )
        endpoints = prov.Endpoints(
            listen=args.listen,
            data_dir=str(args.workdir / "data"),
            community_dir=str(args.workdir / "communities"),
            external_url=args.status_url,
        )
        config = prov.write_config(self.province, args.workdir, endpoints, snmp=snmp)
        if program is not None:
            devices = snmp_devices(self.province)
            say(f"Starting snmpsim for {len(devices)} SNMP devices...")
            self.snmpsim = Snmpsim(program, args.workdir)
            await self.snmpsim.start(devices)
        await self.apps.start(self.province)
        await self.sink.start(self.province.smtp_address())
        await self.mailbox.start(socket.socket(fileno=args.mailbox_fd))
        self.tasks.append(asyncio.create_task(print_mails(self.sink, self.timeline)))
        say(f"Starting netwatch on {config}...")
        self.daemon = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "netwatch", "-c", str(config), "--log-format", "text", "run",
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await self._wait_ready()
        self.tasks.append(asyncio.create_task(self._watch_daemon()))
        if args.status_fd is not None:
            host, port = parse_listen(args.listen)
            self.forwarder = Forwarder(socket.socket(fileno=args.status_fd), host, port)
            await self.forwarder.start()

    async def _watch_daemon(self) -> None:
        """A demo without its daemon shows nothing: if netwatch dies, stop the demo, and say so."""
        assert self.daemon is not None
        code = await self.daemon.wait()
        if not self.stop_requested.is_set():
            self.timeline.say(f"netwatch exited unexpectedly (code {code}); stopping the demo")
            self.failed = True
            self.stop_requested.set()

    async def _wait_ready(self) -> None:
        url = f"http://{self.args.listen}/-/ready"
        deadline = time.monotonic() + READY_TIMEOUT
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.daemon is not None
                if self.daemon.returncode is not None:
                    raise DemoError(f"netwatch exited {self.daemon.returncode} (see its log above)")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise DemoError(f"netwatch not ready within {READY_TIMEOUT:.0f} s")

    def _banner(self) -> None:
        p = self.province
        out = sys.stdout
        out.write(
            "\n"
            f"  netwatch demo: {p.root.name}\n"
            f"  {len(p.root.sites)} districts, {len(p.communes())} communes, "
            f"{len(p.devices())} devices, all on loopback addresses of this machine\n\n"
            f"  status page   {self.args.status_url}\n"
            f"  metrics       {self.args.status_url}metrics\n"
            f"  mailbox       {self.args.mailbox_url}   (the e-mails netwatch sends)\n\n"
        )
        out.flush()

    async def run_incident(self) -> None:
        """Show the URLs as soon as netwatch answers, and again once it sees everything up:
        its start-up log lines scroll the first ones away. Then play the incident."""
        self._banner()
        async with Incident(
            self.province,
            metrics_url=f"http://{self.args.listen}/metrics",
            apps=self.apps,
            firewall=self.firewall,
            timeline=self.timeline,
            speed=self.args.speed,
        ) as incident:
            await incident.all_up()
            self._banner()
            if self.args.incident:
                await incident.play()
            else:
                self.timeline.say("No incident scripted (--no-incident). Ctrl-C to stop.")

    async def stop(self) -> None:
        """Undo ``start`` in reverse; each step runs even if an earlier one failed."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        steps = [
            ("forwarder", self.forwarder.stop() if self.forwarder else None),
            ("netwatch", stop_process(self.daemon)),
            ("snmpsim", self.snmpsim.stop() if self.snmpsim else None),
            ("mailbox", self.mailbox.stop()),
            ("mail sink", self.sink.stop()),
            ("web applications", self.apps.stop()),
            ("nftables", self.firewall.close() if self.firewall else None),
        ]
        for name, step in steps:
            if step is None:
                continue
            try:
                await step
            except Exception:
                log.exception("demo: stopping the %s failed", name)


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Stop when the parent's end of our stdin closes: the parent is gone."""

    def wait() -> None:
        # os.read, not sys.stdin: a thread blocked inside a buffered reader aborts the
        # interpreter's shutdown ("could not acquire lock for <stdin>").
        with contextlib.suppress(OSError):
            while os.read(0, 1024):
                pass
        with contextlib.suppress(RuntimeError):  # the loop may be closed already
            loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait, name="stdin-watch", daemon=True).start()


async def amain(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _watch_stdin(loop, stop)
    inside = Inside(args, stop)

    async def demo() -> None:
        await inside.start()
        await inside.run_incident()
        await asyncio.Future()  # then keep the province running until stopped

    running = asyncio.create_task(demo())
    stopped = asyncio.create_task(stop.wait())
    code = 0
    try:
        await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            running.result()  # raises what made the demo fail
    except DemoError as exc:
        print(f"netwatch demo: {exc}", file=sys.stderr)
        code = 1
    finally:
        for task in (running, stopped):
            task.cancel()
        await asyncio.gather(running, stopped, return_exceptions=True)
        inside.timeline.say("Stopping: netwatch, snmpsim, applications, mail sink...")
        await inside.stop()
        # The host side removes it too; this is for when the host side was killed.
        await asyncio.to_thread(shutil.rmtree, args.workdir, True)
        inside.timeline.say("Demo stopped; everything it started is gone.")
    return 1 if inside.failed else code


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(amain(_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
