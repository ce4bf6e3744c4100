"""Probes.poll: each check goes to the probe of its kind (a kind is a ``CheckKind``, never a
loose string); SNMP polls are limited per site; a probe that raises (a bug, an unmapped library
exception) gives a failed sample naming the exception type, logged once per check, so the device
goes down instead of staying at its last state; ``netwatch once`` still prints every device's
metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwatch import cli
from netwatch.models import (
    CheckKind,
    CheckSpec,
    Device,
    DnsSpec,
    FailureKind,
    HttpSpec,
    IcmpSettings,
    IcmpStats,
    Role,
    Sample,
    ServiceCheck,
    SnmpSettings,
    Status,
    TcpSpec,
)
from netwatch.polling import Probes, SiteLimitedSnmp, checks_of
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

    async def poll(self, check: CheckSpec) -> Sample[object]:
        device = check.device.id
        if device in self.broken:
            raise KeyError("a bug in the prober")
        return Sample(device, "icmp", 0.0, 0.01, None, IcmpStats(3, (0.001, 0.001, 0.001)))


def probes(pinger: Pinger) -> Probes:
    return Probes(pinger, None, None)  # type: ignore[arg-type]  # only ICMP is polled here


def icmp_check(device_id: str) -> CheckSpec:
    device = Device(device_id, "127.0.0.9", role="switch", site="xa")  # type: ignore[arg-type]
    (check,) = checks_of(device)
    return check


class Recorder:
    """A fake probe of any kind: answers ``poll(check)`` and records which checks it got."""

    def __init__(self) -> None:
        self.got: list[str] = []

    async def poll(self, check: CheckSpec) -> Sample[object]:
        self.got.append(check.name)
        return Sample(check.device.id, check.name, 0.0, 0.0)


class FakeSnmp:
    """``SnmpPoller.poll``'s signature; holds every poll until ``gate`` opens, counting how many
    are in flight per site (the device id's prefix)."""

    def __init__(self) -> None:
        self.got: list[str] = []
        self.gate = asyncio.Event()
        self.in_flight: dict[str, int] = {}
        self.most: dict[str, int] = {}

    async def poll(self, device: str, address: str, settings: SnmpSettings) -> Sample[object]:
        site = device.split("-")[0]
        self.got.append(device)
        self.in_flight[site] = self.in_flight.get(site, 0) + 1
        self.most[site] = max(self.most.get(site, 0), self.in_flight[site])
        try:
            await self.gate.wait()
        finally:
            self.in_flight[site] -= 1
        return Sample(device, "snmp", 0.0, 0.0)


SERVICES = (
    ServiceCheck("portal", HttpSpec("http://127.0.0.1:1/")),
    ServiceCheck("mail", TcpSpec("127.0.0.1", 25)),
    ServiceCheck("names", DnsSpec("a.example", "127.0.0.1")),
)


def everything(device_id: str = "xa-srv", site: str = "xa") -> Device:
    """A device with a check of every kind."""
    return Device(device_id, "127.0.0.9", Role.SERVER, site, snmp=SnmpSettings(),
                  services=SERVICES)  # fmt: skip


async def test_each_check_goes_to_the_probe_of_its_kind() -> None:
    """ICMP to the ICMP probe, SNMP through the per-site limit to ``SnmpPoller.poll``, http,
    tcp and dns to the service probe; every kind has a probe."""
    icmp, services, snmp = Recorder(), Recorder(), FakeSnmp()
    snmp.gate.set()
    p = Probes(icmp, snmp, services)  # type: ignore[arg-type]  # fakes of the three probes
    checks = checks_of(everything())
    assert [c.kind for c in checks] == list(CheckKind)
    assert set(p.by_kind) == set(CheckKind)
    for check in checks:
        assert (await p.poll(check)).ok, check.name
    assert icmp.got == ["icmp"]
    assert snmp.got == ["xa-srv"]
    assert services.got == ["service:portal", "service:mail", "service:names"]


def test_an_unknown_kind_cannot_be_built() -> None:
    """No kind outside ``CheckKind``: neither an unknown word nor a plain string of a known one
    (it would dispatch by string equality and hide a typo elsewhere)."""
    with pytest.raises(ValueError, match="ftp"):
        CheckKind("ftp")
    device = everything()
    for kind in ("ftp", "icmp"):
        with pytest.raises(TypeError, match="not a CheckKind"):
            CheckSpec(device, "x", kind, 30.0)  # type: ignore[arg-type]
    assert {k.value for k in CheckKind} == {"icmp", "snmp", "http", "tcp", "dns"}  # config words


async def test_snmp_polls_are_limited_per_site() -> None:
    """At most ``per_site`` SNMP polls in flight at one site; another site is not held up."""
    snmp = FakeSnmp()
    probe = SiteLimitedSnmp(snmp, per_site=2)  # type: ignore[arg-type]  # a fake poller
    checks = [c for n in range(5) for c in checks_of(everything(f"xa-{n}")) if c.name == "snmp"]
    checks += [c for n in range(2) for c in checks_of(everything(f"yb-{n}", "yb"))
               if c.name == "snmp"]  # fmt: skip
    async with asyncio.timeout(5):
        polls = [asyncio.create_task(probe.poll(c)) for c in checks]
        await asyncio.sleep(0.05)  # time for every poll to start, were it let through
        assert snmp.in_flight == {"xa": 2, "yb": 2}
        assert len(snmp.got) == 4
        snmp.gate.set()
        await asyncio.gather(*polls)
    assert snmp.most == {"xa": 2, "yb": 2}
    assert len(snmp.got) == 7


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
        async def poll(self, check: CheckSpec) -> Sample[object]:
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
