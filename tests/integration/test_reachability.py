"""The real daemon pinging loopback addresses inside a network namespace the test creates, while
nftables makes one of them dead or lossy: does ``netwatch_device_up`` tell a dead device from a
lossy one, in the time the config promises?

The daemon runs inside the namespace (``RunningDaemon(prefix=ns.argv([]))``), so its HTTP port is
only reachable from there: every scrape is a short Python run inside the namespace.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from netwatch.models import longest_ping
from netwatch.scheduler import GRID as SCHEDULER_GRID
from tests.daemon import RunningDaemon, metric_value, netwatch_argv, write_config
from tests.netns import Netns

pytestmark = pytest.mark.netns

PORT = 9430  # a fresh namespace has every port free
SCRAPE_EVERY = 0.5  # seconds
# Scheduling slack on a busy 2-core machine: a scrape in flight, a late event loop.
SLACK = 2.0
# Start times are rounded up to the scheduler's grid (netwatch/scheduler.py).
START_GRID = SCHEDULER_GRID

# The site's first router is its gateway and stays healthy: a dead gateway would make everything
# behind it unreachable (netwatch/topology.py), which is not what these tests are about.
GATEWAY = "core-rtr"
DEVICES = {GATEWAY: "127.0.0.7", "dead-srv": "127.0.0.5", "lossy-srv": "127.0.0.6",
           "mail": "127.0.0.8"}  # fmt: skip
DEAD, LOSSY = "dead-srv", "lossy-srv"

_SCRAPE = (
    "import sys, urllib.request\n"
    "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())\n"
)


@dataclass(frozen=True)
class Timing:
    """The ICMP settings of the test config, and the bounds they imply."""

    interval: float
    count: int
    spacing: float
    timeout: float
    down_after: int
    up_after: int
    retry_interval: float

    @property
    def poll(self) -> float:
        """The longest a ping can take: requests on the prober's grid, then the last timeout
        rounded up to the grid (netwatch/probes/icmp_socket.py; the config check uses it too)."""
        return longest_ping(self.count, self.spacing, self.timeout)

    @property
    def down_within(self) -> float:
        """From the first packet dropped to device_up 0: the next poll comes within an interval,
        fails, and is retried ``retry_interval`` after each failure until ``down_after``."""
        return (
            (self.interval + START_GRID)
            + self.down_after * self.poll
            + (self.down_after - 1) * self.retry_interval
            + SCRAPE_EVERY
            + SLACK
        )

    @property
    def up_within(self) -> float:
        """From the drop rule removed to device_up 1: ``up_after`` good polls an interval apart
        (a device that is down is not retried early)."""
        return self.up_after * ((self.interval + START_GRID) + self.poll) + SCRAPE_EVERY + SLACK

    def yaml(self, data: Path) -> str:
        devices = "\n".join(
            f"      - {{id: {d}, address: {a}, role: {'router' if d == GATEWAY else 'server'}}}"
            for d, a in DEVICES.items()
        )
        return f"""
agent: {{listen: "127.0.0.1:{PORT}", data_dir: {data}}}
defaults:
  icmp: {{interval: {self.interval}s, count: {self.count}, timeout: {self.timeout * 1000:g}ms,
          spacing: {self.spacing * 1000:g}ms}}
  down_after: {self.down_after}
  up_after: {self.up_after}
  retry_interval: {self.retry_interval}s
sites:
  - id: tinh
    name: "Tỉnh thử nghiệm"
    level: province
    devices:
{devices}
"""


def scrape(ns: Netns, daemon: RunningDaemon) -> str:
    """``/metrics`` of the daemon inside ``ns``."""
    done = ns.run(
        [sys.executable, "-I", "-S", "-c", _SCRAPE, f"http://127.0.0.1:{PORT}/metrics"],
        check=False,
        timeout=30,
    )
    if done.returncode != 0:
        if daemon.proc is not None and daemon.proc.poll() is not None:
            raise AssertionError(f"netwatch exited {daemon.proc.returncode}:\n{daemon.log}")
        raise OSError(f"scrape failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def up(text: str) -> dict[str, float | None]:
    return {d: metric_value(text, "netwatch_device_up", device=d) for d in DEVICES}


@contextmanager
def daemon_in_namespace(tmp_path: Path, timing: Timing) -> Iterator[tuple[Netns, RunningDaemon]]:
    """A namespace with the daemon running inside and every device seen up once."""
    config = write_config(tmp_path, timing.yaml(tmp_path / "data"))
    with Netns() as ns, RunningDaemon(config, PORT, prefix=ns.argv([])) as daemon:
        deadline = time.monotonic() + 30
        while True:
            try:
                if all(v == 1.0 for v in up(scrape(ns, daemon)).values()):
                    break
            except OSError:
                pass  # not listening yet
            assert time.monotonic() < deadline, f"devices not all up in 30 s:\n{daemon.log}"
            time.sleep(SCRAPE_EVERY)
        yield ns, daemon


def test_dead_device_goes_down_within_the_configured_time_and_comes_back(
    tmp_path: Path,
) -> None:
    """Every packet to one address dropped: only that device goes down, within the bound."""
    timing = Timing(interval=2, count=3, spacing=0.2, timeout=0.5, down_after=3, up_after=2,
                    retry_interval=1)  # fmt: skip
    with daemon_in_namespace(tmp_path, timing) as (ns, daemon):
        ns.drop(DEVICES[DEAD])
        dropped = time.monotonic()
        went_down = None
        while went_down is None:
            values = up(scrape(ns, daemon))
            assert all(values[d] == 1.0 for d in DEVICES if d != DEAD), values
            if values[DEAD] == 0.0:
                went_down = time.monotonic() - dropped
            else:
                assert time.monotonic() - dropped < timing.down_within, (
                    f"{DEAD} still up {timing.down_within:.1f}s after the drop:\n"
                    f"{daemon.log[-4000:]}"
                )
                time.sleep(SCRAPE_EVERY)
        # Not before the daemon had down_after failed polls' worth of evidence.
        assert went_down >= (timing.down_after - 1) * timing.retry_interval, went_down

        ns.restore(DEVICES[DEAD])
        restored = time.monotonic()
        while up(scrape(ns, daemon)) != dict.fromkeys(DEVICES, 1.0):
            assert time.monotonic() - restored < timing.up_within, (
                f"{DEAD} not back up {timing.up_within:.1f}s after the restore:\n"
                f"{daemon.log[-4000:]}"
            )
            time.sleep(SCRAPE_EVERY)


def test_device_behind_30_percent_loss_stays_up_and_reports_its_loss(tmp_path: Path) -> None:
    """A lossy line is not a dead one: device_up never drops to 0 over 60+ rounds, while the
    loss ratio shows the loss.

    With count 3 a round fails when all three requests are lost (0.3 ** 3 = 2.7 %), and the
    device goes down after three failed rounds in a row: about 2e-5 per round, so this test
    fails by chance about once in 700 runs. That is the false-alarm rate of the defaults."""
    timing = Timing(interval=1, count=3, spacing=0.1, timeout=0.3, down_after=3, up_after=2,
                    retry_interval=0.5)  # fmt: skip
    rounds = 60
    with daemon_in_namespace(tmp_path, timing) as (ns, daemon):
        ns.lossy(DEVICES[LOSSY], 30)
        text = scrape(ns, daemon)
        sent0 = metric_value(text, "netwatch_icmp_packets_sent_total", device=LOSSY) or 0.0
        received0 = metric_value(text, "netwatch_icmp_packets_received_total", device=LOSSY) or 0
        deadline = time.monotonic() + rounds * timing.interval * 2 + 30
        lossy_seen, sent, received, scrapes = False, 0.0, 0.0, 0
        while sent < rounds * timing.count:
            assert time.monotonic() < deadline, f"only {sent:g} requests sent:\n{daemon.log}"
            time.sleep(SCRAPE_EVERY)
            text = scrape(ns, daemon)
            scrapes += 1
            assert up(text) == dict.fromkeys(DEVICES, 1.0), up(text)
            loss = metric_value(text, "netwatch_icmp_loss_ratio", device=LOSSY)
            lossy_seen = lossy_seen or (loss is not None and loss > 0)
            sent = metric_value(text, "netwatch_icmp_packets_sent_total", device=LOSSY) or 0.0
            sent -= sent0
            got = metric_value(text, "netwatch_icmp_packets_received_total", device=LOSSY)
            received = (got or 0.0) - received0
        assert lossy_seen, "netwatch_icmp_loss_ratio never above 0 for the lossy device"
        # The rule really dropped about 30 % (binomial over >= 180 requests: 15-45 % is > 4 sigma).
        assert 0.15 < 1 - received / sent < 0.45, (sent, received)
        assert scrapes >= rounds  # sampled every ~0.5 s throughout


def test_once_inside_the_namespace_reports_the_dead_device_down(tmp_path: Path) -> None:
    """``netwatch once``: one round, the dropped device down and the others up."""
    timing = Timing(interval=2, count=3, spacing=0.2, timeout=0.5, down_after=3, up_after=2,
                    retry_interval=1)  # fmt: skip
    config = write_config(tmp_path, timing.yaml(tmp_path / "data"))
    with Netns() as ns:
        ns.drop(DEVICES[DEAD])
        done = ns.run(netwatch_argv("-c", str(config), "once"), timeout=60)
    assert up(done.stdout) == {**dict.fromkeys(DEVICES, 1.0), DEAD: 0.0}, done.stderr
    assert metric_value(done.stdout, "netwatch_icmp_loss_ratio", device=DEAD) == 1.0
    assert metric_value(done.stdout, "netwatch_icmp_packets_received_total", device=DEAD) == 0
