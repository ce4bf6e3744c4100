"""The poll pipeline with fakes of its parts (probes, scheduler, outbox) and a real state
tracker, alert engine and state files: what one poll's outcome and one tick's output cause."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from pathlib import Path

import pytest

import netwatch.pipeline as pipeline_module
from netwatch.alerting.engine import AlertEngine, EngineOutput
from netwatch.alerting.model import Alert, Delivery
from netwatch.alerting.state_files import StateFiles
from netwatch.inventory import build_inventory
from netwatch.models import (
    CheckKind,
    CheckSpec,
    Device,
    Failure,
    FailureKind,
    Role,
    Sample,
    Status,
    Transition,
)
from netwatch.pipeline import TRAP_RETRY, Pipeline, PollProbes, TrapWatch, Watched
from netwatch.polling import checks_of
from netwatch.probes.health import HealthData, UpsStatus
from netwatch.probes.snmp import SnmpData
from netwatch.scheduler import PollFunc
from netwatch.settings.config import Config
from netwatch.state import StateTracker
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
    """Answers every poll with ``next``."""

    def __init__(self) -> None:
        self.next: Sample[object] | None = None

    def checks_of(self, device: Device) -> list[CheckSpec]:
        return checks_of(device)

    async def poll(self, check: CheckSpec) -> Sample[object]:
        assert self.next is not None
        return self.next


class Scheduler:
    """Records what the pipeline asks of the scheduler."""

    def __init__(self) -> None:
        self.added: list[str] = []
        self.removed: list[str] = []
        self.pulled: list[tuple[str, float]] = []

    def add(self, key: str, kind: CheckKind, interval: float, func: PollFunc) -> None:
        self.added.append(key)

    def remove(self, key: str) -> None:
        self.removed.append(key)

    def pull_forward(self, key: str, delay: float) -> None:
        self.pulled.append((key, delay))


class Outbox:
    def __init__(self) -> None:
        self.put_: list[Delivery] = []

    async def put(self, deliveries: Iterable[Delivery]) -> None:
        self.put_.extend(deliveries)


class History:
    """Records what the pipeline writes to the history."""

    def __init__(self) -> None:
        self.records: list[Transition] = []

    def record(self, transitions: Iterable[Transition]) -> None:
        self.records.extend(transitions)

    def record_reboot(self, device: str, at: float) -> None:
        pass


def make_pipeline(
    tmp_path: Path,
    config: Config,
    probes: PollProbes,
    scheduler: Scheduler,
    history: History | None = None,
) -> tuple[Pipeline, Outbox]:
    """A pipeline over ``config`` with a real engine and state files in ``tmp_path``."""
    inventory = build_inventory(config)
    watched = Watched(inventory, StateTracker())
    engine = AlertEngine(inventory, config.alerting, clock=lambda: 1.7e9,
                         suspect=watched.suspect, last_polled=watched.last_polled)  # fmt: skip
    outbox = Outbox()
    files = StateFiles(tmp_path, engine, clock=lambda: 1.7e9)
    pipeline = Pipeline(watched, probes, scheduler, engine, notifications=outbox, state_files=files,
                        history=history)  # type: ignore[arg-type]  # fmt: skip
    return pipeline, outbox


def pipeline(tmp_path: Path) -> tuple[Pipeline, Probes, Scheduler, dict[str, CheckSpec]]:
    config = load(tmp_path, CONFIG, {"COMMUNITY": "public"})
    probes, scheduler = Probes(), Scheduler()
    p, _ = make_pipeline(tmp_path, config, probes, scheduler)
    checks = {c.name: c for c in checks_of(config.devices[0])}
    return p, probes, scheduler, checks


def failed(check: str) -> Sample[object]:
    return Sample("sw", check, 0.0, 1.0, Failure(FailureKind.TIMEOUT, "no reply"))


async def test_a_first_icmp_failure_asks_snmp_now(tmp_path: Path) -> None:
    """SNMP every 60 s must not hold up confirming a cut switch that ICMP saw fail."""
    p, probes, scheduler, checks = pipeline(tmp_path)
    probes.next = failed("icmp")
    outcome = await p.poll(checks["icmp"])
    assert outcome.retry_in is not None  # ICMP itself is retried soon
    assert scheduler.pulled == [("sw/snmp", 0.0)]
    # The second failure in a row asks nothing more: SNMP is already on its way.
    await p.poll(checks["icmp"])
    assert scheduler.pulled == [("sw/snmp", 0.0)]


async def test_a_good_poll_asks_nothing(tmp_path: Path) -> None:
    p, probes, scheduler, checks = pipeline(tmp_path)
    probes.next = Sample("sw", "icmp", 0.0, 0.01)
    outcome = await p.poll(checks["icmp"])
    assert outcome.ok
    assert outcome.retry_in is None
    assert scheduler.pulled == []
    assert p.watched.state.check("sw", "icmp").last is probes.next


async def test_a_tick_output_goes_to_the_outbox_rechecks_and_is_saved(tmp_path: Path) -> None:
    """Deliveries reach the outbox and then the incidents file; a recheck polls the device's
    reachability checks now."""
    p, _, scheduler, _ = pipeline(tmp_path)
    outbox = p.notifications
    assert isinstance(outbox, Outbox)
    alert = Alert(id="a", state="firing", kind="down", severity="critical", subject="sw",
                  subject_kind="device", site="xa", site_name="Xã")  # fmt: skip
    delivery = Delivery(alert, "it", "webhook")
    await p.deliver(EngineOutput(deliveries=[delivery], recheck=["sw", "gone"]))
    assert outbox.put_ == [delivery]
    assert sorted(scheduler.pulled) == [("sw/icmp", 0.0), ("sw/snmp", 0.0)]
    assert json.loads((tmp_path / "incidents.json").read_text()) == []


async def test_a_reload_reschedules_only_what_changed(tmp_path: Path) -> None:
    """A removed device is unscheduled and forgotten, an added one scheduled; the engine and
    the pipeline see the new inventory."""
    p, probes, scheduler, checks = pipeline(tmp_path)
    probes.next = failed("icmp")
    await p.poll(checks["icmp"])
    new = load(tmp_path, CONFIG.replace("id: sw, address: 127.0.0.9", "id: ap, address: "
                                        "127.0.0.8"), {"COMMUNITY": "public"})  # fmt: skip
    p.apply(build_inventory(new))
    assert sorted(scheduler.removed) == ["sw/icmp", "sw/snmp"]
    assert sorted(scheduler.added) == ["ap/icmp", "ap/snmp"]
    assert "sw" not in p.watched.state.devices
    assert p.watched.inventory.devices.keys() == {"ap"}
    # A poll of the removed device that was still running changes nothing.
    assert not (await p.poll(checks["icmp"])).ok
    assert "sw" not in p.watched.state.devices


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
    probes, recorded = Probes(), History()
    p, _ = make_pipeline(tmp_path, config, probes, Scheduler(), recorded)
    check = next(c for c in checks_of(config.devices[0]) if c.service is not None)
    probes.next = Sample("sw", check.name, 100.0, 0.01)
    await p.poll(check)
    for at in (160.0, 220.0, 280.0):  # down_after: 3
        probes.next = Sample("sw", check.name, at, 1.0, Failure(FailureKind.REFUSED, "closed"))
        await p.poll(check)
    assert [(t.kind, t.subject, t.old, t.new, t.at) for t in recorded.records] == [
        ("service", "sw:portal", Status.UNKNOWN, Status.UP, 100.0),
        ("service", "sw:portal", Status.UP, Status.DOWN, 160.0),
    ]


async def test_a_ups_s_battery_and_mains_go_to_the_history_as_its_site_s_power(
    tmp_path: Path,
) -> None:
    """The site's first known power state, then each change (kind "power", subject the site:
    DOWN on battery, UP on mains); repeated samples and samples without a UPS state add
    nothing."""
    config = load(tmp_path, CONFIG.replace("role: switch", "role: ups"), {"COMMUNITY": "public"})
    probes, recorded = Probes(), History()
    now = [100.0]
    p, _ = make_pipeline(tmp_path, config, probes, Scheduler(), recorded)
    p.clock = lambda: now[0]
    check = next(c for c in checks_of(config.devices[0]) if c.kind is CheckKind.SNMP)

    def ups(on_battery: bool | None) -> SnmpData:
        return SnmpData(None, None, None, health=HealthData("default", ups=UpsStatus(on_battery)))

    for at, state in ((100.0, False), (160.0, False), (220.0, None), (280.0, True),
                      (340.0, True), (400.0, False)):  # fmt: skip
        now[0] = at
        probes.next = Sample("sw", "snmp", at, 0.01, None, ups(state))
        await p.poll(check)
    assert [(t.kind, t.subject, t.old, t.new, t.at) for t in recorded.records] == [
        ("power", "xa", Status.UNKNOWN, Status.UP, 100.0),
        ("power", "xa", Status.UP, Status.DOWN, 280.0),
        ("power", "xa", Status.DOWN, Status.UP, 400.0),
    ]


async def test_a_trap_polls_at_once_then_once_more_and_retries_sooner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A trap: the device polled at once and one follow-up later (however many traps came),
    its failing polls retried every TRAP_RETRY s while the watch lasts; then, or once the
    device is forgotten, its own retry_interval again."""
    monkeypatch.setattr(pipeline_module, "TRAP_FOLLOW_UP", 0.05)
    asked: list[str] = []
    watch = TrapWatch(asked.append)
    device = Device("sw", "127.0.0.9", Role.SWITCH, "xa", retry_interval=10.0)
    assert watch.retry_in(device) == 10.0
    watch.on_trap("sw")
    watch.on_trap("sw")
    assert asked == ["sw", "sw"]
    assert watch.retry_in(device) == TRAP_RETRY
    await asyncio.sleep(0.2)
    assert asked == ["sw", "sw", "sw"]  # one follow-up for both traps
    watch.forget(["sw"])
    assert watch.retry_in(device) == 10.0
    monkeypatch.setattr(pipeline_module, "TRAP_WATCH", 0.0)
    watch.on_trap("sw")
    assert watch.retry_in(device) == 10.0  # the watch is over already
