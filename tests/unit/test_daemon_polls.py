"""The daemon's handling of one poll's outcome (probes and scheduler replaced by recorders)."""

from __future__ import annotations

from pathlib import Path

from netwatch.daemon import Daemon
from netwatch.inventory import build_inventory
from netwatch.models import Device, Failure, FailureKind, Sample, Status, Transition
from netwatch.polling import CheckSpec, checks_of
from tests.unit.test_config import load

CONFIG = """\
defaults:
  snmp: {interval: 60s, community: {env: COMMUNITY}}
sites:
  - id: xa
    name: "Xã"
    level: commune
    devices:
      - {id: sw, address: 127.0.0.9, role: switch, snmp: {}}
"""


class Probes:
    def __init__(self) -> None:
        self.next: Sample[object] | None = None

    def checks_of(self, device: Device) -> list[CheckSpec]:
        return checks_of(device)

    async def poll(self, check: CheckSpec) -> Sample[object]:
        assert self.next is not None
        return self.next


class Engine:
    def own_changed(self, change: object) -> None:
        pass


class Scheduler:
    def __init__(self) -> None:
        self.pulled: list[tuple[str, float]] = []

    def pull_forward(self, key: str, delay: float) -> None:
        self.pulled.append((key, delay))


def daemon(tmp_path: Path) -> tuple[Daemon, Probes, Scheduler, dict[str, CheckSpec]]:
    config = load(tmp_path, CONFIG, {"COMMUNITY": "public"})
    d = Daemon(str(tmp_path / "netwatch.yaml"), config=config)
    d.inventory = build_inventory(config)
    probes, scheduler = Probes(), Scheduler()
    d.probes = probes  # type: ignore[assignment]
    d.scheduler = scheduler  # type: ignore[assignment]
    d.engine = Engine()  # type: ignore[assignment]
    checks = {c.name: c for c in checks_of(config.devices[0])}
    return d, probes, scheduler, checks


def failed(check: str) -> Sample[object]:
    return Sample("sw", check, 0.0, 1.0, Failure(FailureKind.TIMEOUT, "no reply"))


async def test_a_first_icmp_failure_asks_snmp_now(tmp_path: Path) -> None:
    """SNMP every 60 s must not hold up confirming a cut switch that ICMP saw fail."""
    d, probes, scheduler, checks = daemon(tmp_path)
    probes.next = failed("icmp")
    outcome = await d._poll(checks["icmp"])
    assert outcome.retry_in is not None  # ICMP itself is retried soon
    assert scheduler.pulled == [("sw/snmp", 0.0)]
    # The second failure in a row asks nothing more: SNMP is already on its way.
    await d._poll(checks["icmp"])
    assert scheduler.pulled == [("sw/snmp", 0.0)]


async def test_a_good_poll_asks_nothing(tmp_path: Path) -> None:
    d, probes, scheduler, checks = daemon(tmp_path)
    probes.next = Sample("sw", "icmp", 0.0, 0.01)
    await d._poll(checks["icmp"])
    assert scheduler.pulled == []


async def test_a_service_s_changes_go_to_the_history_for_its_report(tmp_path: Path) -> None:
    """The portal's own up/down changes are recorded (kind "service", "device:service"),
    dated from the first failed poll, so a report can give the application's availability."""
    config = load(
        tmp_path,
        CONFIG.replace(
            "snmp: {}}", 'snmp: {}, services: [{name: portal, tcp: 443, host: "127.0.0.9"}]}'
        ),
        {"COMMUNITY": "public"},
    )
    d = Daemon(str(tmp_path / "netwatch.yaml"), config=config)
    d.inventory = build_inventory(config)
    probes = Probes()
    d.probes = probes  # type: ignore[assignment]
    d.scheduler = Scheduler()  # type: ignore[assignment]
    d.engine = ServiceEngine()  # type: ignore[assignment]
    d.history = recorded = History()  # type: ignore[assignment]
    check = next(c for c in checks_of(config.devices[0]) if c.service is not None)
    probes.next = Sample("sw", check.name, 100.0, 0.01)
    await d._poll(check)
    for at in (160.0, 220.0, 280.0):  # down_after: 3
        probes.next = Sample("sw", check.name, at, 1.0, Failure(FailureKind.REFUSED, "closed"))
        await d._poll(check)
    assert [(t.kind, t.subject, t.old, t.new, t.at) for t in recorded.records] == [
        ("service", "sw:portal", Status.UNKNOWN, Status.UP, 100.0),
        ("service", "sw:portal", Status.UP, Status.DOWN, 160.0),
    ]


class ServiceEngine(Engine):
    def service_changed(self, *args: object) -> None:
        pass


class History:
    def __init__(self) -> None:
        self.records: list[Transition] = []

    def record(self, transitions: list[Transition]) -> None:
        self.records.extend(transitions)
