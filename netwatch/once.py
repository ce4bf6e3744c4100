"""``netwatch once``: one polling round, for debugging a config (like ``telegraf --test``).

With ``--device`` only the named devices' series are printed, but what they depend on is polled
too, so the topology applies as in the daemon: a PC behind a dead commune router is
*unreachable*, not down. Every failed check comes back as a :class:`CheckFailure` line for the
CLI to print (device, check, reason), so the reason is on the terminal, not only in a counter.

>>> result = await run_once(config, ["an-binh-pc-01"])  # doctest: +SKIP
>>> [str(f) for f in result.failures]  # doctest: +SKIP
['an-binh-rtr icmp: timeout: no reply to 3 requests', 'an-binh-pc-01 icmp: ...']
"""

from __future__ import annotations

import asyncio
import difflib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from netwatch.configuration.profiles import load_profiles
from netwatch.exporters.collector import RenderCache, View, render_text
from netwatch.inventory import build_inventory
from netwatch.models import CheckSpec, Device, Status
from netwatch.polling import Probes
from netwatch.settings.config import Config
from netwatch.state import StateTracker
from netwatch.topology import Effective, evaluate

# The device label of a sample line; ids are plain words (values.check_id), never escaped.
_DEVICE_LABEL = re.compile(r'[{,]device="([^"]*)"')


@dataclass(frozen=True, slots=True)
class CheckFailure:
    """One failed check of one device, with the device it is cut off behind (if any)."""

    device: str
    check: str
    reason: str
    behind: str | None = None

    def __str__(self) -> str:
        line = f"{self.device} {self.check}: {self.reason}"
        return f"{line} (unreachable behind {self.behind})" if self.behind else line


@dataclass(frozen=True, slots=True)
class OnceResult:
    metrics: bytes  # Prometheus text of the selected devices (all when none was named)
    failures: tuple[CheckFailure, ...]  # every failed check of every device polled
    statuses: Mapping[str, Status]  # effective status of every device polled


def unknown_devices(config: Config, names: Iterable[str]) -> list[str]:
    """One message per name that is not a device id, with a did-you-mean when one is close."""
    known = [d.id for d in config.devices]
    ids = set(known)
    messages = []
    for name in names:
        if name in ids:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        messages.append(f"unknown device '{name}'{hint}")
    return messages


def with_upstream(devices: Mapping[str, Device], selected: Iterable[str]) -> list[str]:
    """``selected`` and everything they depend on, transitively, in a stable order."""
    seen: dict[str, None] = {}
    stack = list(selected)
    while stack:
        device_id = stack.pop(0)
        if device_id in seen or device_id not in devices:
            continue
        seen[device_id] = None
        stack.extend(devices[device_id].depends_on)
    return list(seen)


def only_devices(text: bytes, keep: Collection[str]) -> bytes:
    """The sample lines of ``text`` whose ``device`` label is in ``keep``, with the HELP and
    TYPE lines of the families that still have one; series without a device label go."""
    out: list[str] = []
    header: list[str] = []
    for line in text.decode().splitlines():
        if line.startswith("#"):
            if line.startswith("# HELP"):
                header = []
            header.append(line)
            continue
        match = _DEVICE_LABEL.search(line)
        if match is None or match.group(1) not in keep:
            continue
        out.extend(header)
        header = []
        out.append(line)
    return "".join(f"{line}\n" for line in out).encode()


async def run_once(config: Config, device_ids: list[str]) -> OnceResult:
    """Poll every check of the given devices (all when empty) and of what they depend on, once;
    the metrics of the given devices with the topology applied, and every failure."""
    inventory = build_inventory(config)
    state = StateTracker(immediate=True)
    selected = device_ids or [d.id for d in config.devices]
    polled = with_upstream(inventory.devices, selected)
    failures: list[CheckFailure] = []

    probes = await Probes.open(profiles=load_profiles(config.agent.profiles))
    limit = asyncio.Semaphore(config.agent.max_in_flight)

    async def one(check: CheckSpec) -> None:
        async with limit:
            sample = await probes.poll(check)
        state.record(check.device, sample)
        if sample.failure is not None:
            failures.append(CheckFailure(check.device.id, check.name, str(sample.failure)))

    try:
        checks = [c for d in polled for c in probes.checks_of(inventory.devices[d])]
        await asyncio.gather(*(one(c) for c in checks))
    finally:
        await probes.close()

    own = {d: s.status for d, s in state.devices.items()}
    topology = evaluate(inventory, own, lambda _target, _now: False, 0.0)

    def status_of(device_id: str) -> Status:
        return topology.devices[device_id].status

    # Config order puts a site's gateway before what is behind it: the root cause comes first.
    order = {d.id: i for i, d in enumerate(config.devices)}
    failures.sort(key=lambda f: (order[f.device], f.check))
    failures = [
        CheckFailure(f.device, f.check, f.reason, _behind(topology.devices[f.device]))
        for f in failures
    ]
    # A cache of its own: the one process-wide cache is for the daemon's repeated scrapes.
    text = render_text(View(inventory, state, status_of), cache=RenderCache())
    if device_ids:
        text = only_devices(text, set(device_ids))
    return OnceResult(text, tuple(failures), {d: status_of(d) for d in polled})


def _behind(effective: Effective) -> str | None:
    return effective.cause if effective.status is Status.UNREACHABLE else None
