"""Probes.poll: a probe that raises (a bug, an unmapped library exception) gives a failed
sample naming the exception type, logged once per check, so the device goes down instead of
staying at its last state; ``netwatch once`` still prints every device's metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwatch import cli
from netwatch.models import Device, FailureKind, IcmpSettings, IcmpStats, Sample, Status
from netwatch.polling import CheckSpec, Probes, checks_of
from netwatch.probes.icmp import IcmpProber
from tests.unit.test_config import load
from tests.unit.test_pipeline import Scheduler, make_pipeline

CONFIG = """\
defaults:
  down_after: 3
sites:
  - id: xa
    name: "Xã"
    level: commune
    devices:
      - {id: bad, address: 127.0.0.9, role: switch}
      - {id: good, address: 127.0.0.1, role: switch}
"""


class Pinger:
    """Answers for every device but those in ``broken``, for which it raises."""

    def __init__(self) -> None:
        self.broken: set[str] = set()

    async def ping(self, device: str, address: str, settings: IcmpSettings) -> Sample[object]:
        if device in self.broken:
            raise KeyError("a bug in the prober")
        return Sample(device, "icmp", 0.0, 0.01, None, IcmpStats(3, (0.001, 0.001, 0.001)))


def probes(pinger: Pinger) -> Probes:
    return Probes(pinger, None, None)  # type: ignore[arg-type]  # only ICMP is polled here


def icmp_check(device_id: str) -> CheckSpec:
    device = Device(device_id, "127.0.0.9", role="switch", site="xa")  # type: ignore[arg-type]
    (check,) = checks_of(device)
    return check


async def test_a_raising_probe_gives_a_failed_sample_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three raising polls: three failed samples naming the exception type, one error line
    with the traceback; a normal poll says so once; raising anew logs anew."""
    pinger = Pinger()
    pinger.broken.add("bad")
    p = probes(pinger)
    check = icmp_check("bad")
    caplog.set_level(logging.DEBUG, "netwatch.polling")
    for _ in range(3):
        sample = await p.poll(check)
        assert sample.failure is not None
        assert sample.failure.kind is FailureKind.ERROR
        assert "KeyError" in sample.failure.detail
        assert "a bug in the prober" not in sample.failure.detail  # the type, not the message
        assert (sample.device, sample.check) == ("bad", "icmp")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    assert "bad" in errors[0].getMessage()
    assert "KeyError" in errors[0].getMessage()
    pinger.broken.clear()
    assert (await p.poll(check)).ok
    assert (await p.poll(check)).ok
    assert sum("returns normally again" in r.getMessage() for r in caplog.records) == 1
    pinger.broken.add("bad")
    assert not (await p.poll(check)).ok
    assert sum(r.levelno == logging.ERROR for r in caplog.records) == 2


async def test_cancellation_still_goes_through() -> None:
    """Shutdown cancels polls: a CancelledError is not turned into a sample."""

    class Stuck(Pinger):
        async def ping(self, device: str, address: str, settings: IcmpSettings) -> Sample[object]:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await probes(Stuck()).poll(icmp_check("bad"))


async def test_the_device_of_a_raising_probe_goes_down_after_down_after_rounds(
    tmp_path: Path,
) -> None:
    """Through the poll pipeline: down after exactly down_after (3) rounds; the
    other device, polled by the same probes, stays up."""
    config = load(tmp_path, CONFIG, {})
    pinger = Pinger()
    pinger.broken.add("bad")
    p, _ = make_pipeline(tmp_path, config, probes(pinger), Scheduler())
    state = p.watched.state
    bad, good = ({c.name: c for c in checks_of(dev)}["icmp"] for dev in config.devices)
    for round_ in (1, 2, 3):
        assert not (await p.poll(bad)).ok
        assert (await p.poll(good)).ok
        status = state.devices["bad"].status
        assert status is (Status.DOWN if round_ == 3 else Status.UNKNOWN), round_
    assert state.devices["good"].status is Status.UP
    last = state.check("bad", "icmp").last
    assert last is not None
    assert last.failure is not None
    assert "KeyError" in last.failure.detail


@pytest.fixture
def root_logger_restored() -> Iterator[None]:
    """``main`` sets up logging for a process; give the root logger back to pytest after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("root_logger_restored")
def test_netwatch_once_prints_every_device_when_one_probe_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``netwatch once`` with the real probes, the ICMP one raising for one device: exit 0,
    that device down, the other pinged for real (127.0.0.1) and up."""
    # `good` must not sit behind `bad` (the site's gateway): once applies the topology.
    load(tmp_path, CONFIG.replace("role: switch}\n", "role: switch, depends_on: []}\n"), {})
    real = IcmpProber.ping

    async def ping(
        self: IcmpProber, device: str, address: str, settings: IcmpSettings
    ) -> Sample[object]:
        if device == "bad":
            raise RuntimeError("unmapped")
        return await real(self, device, address, settings)

    monkeypatch.setattr(IcmpProber, "ping", ping)
    code = cli.main(["-c", str(tmp_path / "netwatch.yaml"), "once"])
    out = capsys.readouterr().out
    assert code == 0
    assert 'netwatch_device_status{device="bad",site="xa",role="switch"' in out
    lines = [line for line in out.splitlines() if line.startswith("netwatch_device_up{")]
    assert len(lines) == 2
    assert any('device="bad"' in line and line.endswith(" 0.0") for line in lines)
    assert any('device="good"' in line and line.endswith(" 1.0") for line in lines)
