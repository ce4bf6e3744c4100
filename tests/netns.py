"""A throw-away network namespace for tests that need network faults (root only).

Inside the namespace only ``lo`` exists: every 127.x.y.z and ::1 answers ping, nothing can leave
the machine (there is no route out), and nftables rules make an address dead or lossy without
touching the host's firewall. Unprivileged ping (SOCK_DGRAM) is allowed inside.

    from tests.netns import Netns

    def test_dead_router() -> None:
        with Netns() as ns:                       # pytest.skip()s unless root with ip and nft
            ns.drop("127.0.0.5")                  # every packet to it is dropped: a dead host
            ns.lossy("127.0.0.6", 30)             # 30 % of packets to it are dropped
            out = ns.run([sys.executable, "-c", "..."])   # runs inside the namespace
            ns.restore("127.0.0.5")               # alive again

The rules sit in the *input* hook, not output: a packet dropped in output makes the sender's
``sendto`` fail with EPERM, which looks like a local permission problem, while a dead or lossy
line just never answers. Requests to 127.x are sent from 127.0.0.1, so dropping by destination
address hits the requests and leaves other traffic alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
from types import TracebackType
from typing import Any

import pytest

TABLE = "netwatch_test"  # one table in family inet, one chain "input"

__all__ = ["Netns"]


class Netns:
    """A network namespace ``nwt-<random>`` with ``lo`` up; deleted on exit, even on failure.

    >>> with Netns() as ns:  # doctest: +SKIP
    ...     ns.drop("127.0.0.9")
    ...     ns.run(["ip", "addr"]).stdout
    """

    def __init__(self) -> None:
        self.name = f"nwt-{secrets.token_hex(4)}"
        self._procs: list[subprocess.Popen[Any]] = []
        self._created = False

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> Netns:
        if os.geteuid() != 0:
            pytest.skip("needs root: creates a network namespace with `ip netns add`")
        missing = [tool for tool in ("ip", "nft") if shutil.which(tool) is None]
        if missing:
            pytest.skip(f"needs {', '.join(missing)} (Debian iproute2, nftables)")
        _host(["ip", "netns", "add", self.name])
        self._created = True
        try:
            self.run(["ip", "link", "set", "lo", "up"])
            self.run(["sysctl", "-q", "-w", "net.ipv4.ping_group_range=0 2147483647"])
            self.run(["nft", "add", "table", "inet", TABLE])
            self.run(
                ["nft", "add", "chain", "inet", TABLE, "input",
                 "{ type filter hook input priority 0 ; policy accept ; }"]
            )  # fmt: skip
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self.close()

    def close(self) -> None:
        """Kill what runs inside and delete the namespace (idempotent)."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        self._procs.clear()
        if not self._created:
            return
        # Anything else still inside (e.g. a grandchild) would keep the namespace alive.
        pids = _host(["ip", "netns", "pids", self.name], check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        _host(["ip", "netns", "del", self.name], check=False)
        self._created = False

    # ----------------------------------------------------------------- commands

    def argv(self, cmd: list[str]) -> list[str]:
        """``cmd`` prefixed to run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *cmd]

    def run(
        self, cmd: list[str], *, check: bool = True, timeout: float = 120.0, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` inside the namespace, capturing text output; raises if it fails."""
        kwargs.setdefault("capture_output", True)
        return subprocess.run(self.argv(cmd), check=check, timeout=timeout, text=True, **kwargs)

    def popen(self, cmd: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``cmd`` inside the namespace; it is killed when the namespace is closed."""
        proc: subprocess.Popen[Any] = subprocess.Popen(self.argv(cmd), **kwargs)
        self._procs.append(proc)
        return proc

    # ----------------------------------------------------------------- faults

    def drop(self, address: str) -> None:
        """Drop every packet to ``address`` (it looks dead)."""
        self._rule(address, [])

    def lossy(self, address: str, percent: int) -> None:
        """Drop a random ``percent`` of the packets to ``address``."""
        if not 0 <= percent <= 100:
            raise ValueError(f"percent must be 0..100, not {percent}")
        self._rule(address, ["numgen", "random", "mod", "100", "<", str(percent)])

    def restore(self, address: str) -> None:
        """Remove every rule about ``address``."""
        listing = self.run(["nft", "-j", "-a", "list", "chain", "inet", TABLE, "input"]).stdout
        for item in json.loads(listing)["nftables"]:
            rule = item.get("rule")
            if rule and rule.get("comment") == _comment(address):
                self.run(
                    ["nft", "delete", "rule", "inet", TABLE, "input", "handle",
                     str(rule["handle"])]
                )  # fmt: skip

    def _rule(self, address: str, match: list[str]) -> None:
        self.restore(address)  # one rule per address: the last call wins
        proto = "ip6" if ":" in address else "ip"
        self.run(
            ["nft", "add", "rule", "inet", TABLE, "input", proto, "daddr", address, *match,
             "drop", "comment", f'"{_comment(address)}"']
        )  # fmt: skip


def _comment(address: str) -> str:
    return f"nwt:{address}"


def _host(cmd: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=60)
