"""The demo's network namespace and the nftables rules that make its faults.

``netwatch demo`` runs its world and daemon under ``unshare --net`` (as root) or
``unshare --net --map-root-user`` (as a user, where the kernel allows user namespaces). The
namespace has only ``lo``: every 127.x.y.z answers, nothing can leave the machine, and it
vanishes with its last process, so a crash leaves no namespace and no nftables table behind.

Faults are nftables rules in the namespace's *input* hook (a drop in *output* makes ``sendto``
fail with EPERM, which looks like a local problem, while a cut line just never answers).
Requests to 127.x are sent from 127.0.0.1, so dropping by destination drops the requests only.

>>> unshare_prefix(root=True)
['unshare', '--net']
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess

TABLE = "netwatch_demo"  # one table in family inet with one chain "input"


def unshare_prefix(*, root: bool) -> list[str]:
    """The command prefix that runs a program in a new network namespace."""
    return ["unshare", "--net"] if root else ["unshare", "--net", "--map-root-user"]


def namespace_problem(*, root: bool) -> str | None:
    """Why no namespace can be made here (None if one can), with the fix."""
    missing = [tool for tool in ("unshare", "ip", "nft") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not found (Debian packages util-linux, iproute2, nftables)"
    try:
        # The same command the demo will use, with the one thing it needs inside: nftables.
        probe = [*unshare_prefix(root=root), "nft", "add", "table", "inet", TABLE]
        result = subprocess.run(probe, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run unshare: {exc}"
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        hint = "" if root else " (run as root, or allow user namespaces)"
        return f"cannot create a network namespace: {reason}{hint}"
    return None


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {err.decode(errors='replace').strip()}")


class Firewall:
    """nftables inside the demo's namespace: cut an address block, or restore it.

    >>> fw = Firewall()                       # doctest: +SKIP
    >>> await fw.setup()                      # doctest: +SKIP
    >>> await fw.cut("127.23.0.0/16")         # doctest: +SKIP
    >>> await fw.restore("127.23.0.0/16")     # doctest: +SKIP
    """

    def __init__(self) -> None:
        self.cuts: dict[str, int] = {}  # block -> nftables rule handle

    async def setup(self) -> None:
        await _run("ip", "link", "set", "lo", "up")
        await _run("nft", "add", "table", "inet", TABLE)
        await _run(
            "nft", "add", "chain", "inet", TABLE, "input",
            "{ type filter hook input priority 0 ; policy accept ; }",
        )  # fmt: skip

    async def cut(self, block: str) -> None:
        """Drop every packet to ``block`` (an address or a CIDR block)."""
        if block in self.cuts:
            return
        proc = await asyncio.create_subprocess_exec(
            "nft", "--echo", "--handle", "add", "rule", "inet", TABLE, "input",
            "ip", "daddr", block, "drop",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"nft: cannot cut {block}: {err.decode(errors='replace').strip()}")
        # "add rule inet netwatch_demo input ip daddr 127.23.0.0/16 drop # handle 4"
        self.cuts[block] = int(out.decode().rsplit("# handle", 1)[1].split()[0])

    async def restore(self, block: str) -> None:
        handle = self.cuts.pop(block, None)
        if handle is not None:
            await _run("nft", "delete", "rule", "inet", TABLE, "input", "handle", str(handle))

    async def close(self) -> None:
        """Remove the table (the namespace's end would remove it too)."""
        self.cuts.clear()
        await _run("nft", "delete", "table", "inet", TABLE)
