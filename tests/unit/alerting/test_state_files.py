"""The alerting state files in data_dir (open incidents, the operator's silences and windows):
a bad file or a failed write is logged and loses nothing else; a failed save is retried."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from netwatch.alerting.engine import AlertEngine
from netwatch.alerting.incidents import Incident, IncidentKey, incidents_to_json
from netwatch.alerting.maintenance import operator_to_json
from netwatch.alerting.power import PowerWatch
from netwatch.alerting.state_files import (
    StateFiles,
    read_incidents,
    read_operator,
    write_atomically,
)
from netwatch.exporters.storage import StoreHealth
from netwatch.inventory import build_inventory
from netwatch.parts import storage_problem
from netwatch.settings.alerting import MaintenanceWindow, Silence
from tests.unit.test_config import load

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
LOGGER = "netwatch.alerting.state_files"


def test_a_write_that_fails_is_logged_and_keeps_the_old_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "operator.json"
    write_atomically(path, '{"silences": [], "windows": []}')
    blocker = tmp_path / "operator.tmp"
    blocker.mkdir()  # the temporary file cannot be created: as on a full or broken disk
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        write_atomically(path, '{"silences": ["new"]}')
    assert json.loads(path.read_text()) == {"silences": [], "windows": []}
    assert f"not saved to {path}" in caplog.text


def test_an_unreadable_operator_file_starts_empty_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "operator.json"
    assert read_operator(path) == ([], [])  # no file: a first start, nothing to say
    path.write_text('{"silences": [', encoding="utf-8")  # cut short
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert read_operator(path) == ([], [])
    assert "not read from" in caplog.text


def test_one_bad_entry_is_skipped_and_named_the_others_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    silence = Silence("s-1", until=1.8e9, sites=("le-binh",))
    window = MaintenanceWindow("m-1", "cai-rang", datetime(2026, 3, 14, 21, tzinfo=HCM),
                               timedelta(hours=3))  # fmt: skip
    doc = json.loads(operator_to_json([silence], [window]))
    doc["silences"].append({"id": "s-broken"})
    path = tmp_path / "operator.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert read_operator(path) == ([silence], [window])
    assert "s-broken" in caplog.text


def test_entries_out_of_range_are_skipped_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A window in year 1 (which an older netwatch accepted over the API) and other entries
    that would overflow later are skipped on load, each named in a warning; the rest kept."""
    silence = Silence("s-1", until=1.8e9, sites=("le-binh",))
    window = MaintenanceWindow("m-1", "cai-rang", datetime(2026, 3, 14, 21, tzinfo=HCM),
                               timedelta(hours=3))  # fmt: skip
    doc = json.loads(operator_to_json([silence], [window]))
    good = doc["windows"][0]
    doc["windows"] += [
        {**good, "id": "m-year-1", "start": "0001-01-01T00:00:00+07:06:40"},
        {**good, "id": "m-year-1-utc", "start": "0001-01-01T00:00:00+00:00"},
        {**good, "id": "m-9999", "start": "9999-12-31T23:00:00-14:00"},
        {**good, "id": "m-ends-late", "start": "9998-12-31T23:00:00+00:00"},
        {**good, "id": "m-forever", "duration_seconds": 1e300},
        {**good, "id": "m-negative", "duration_seconds": -1},
        {**good, "id": "m-zone", "timezone": "Mars/Olympus"},
    ]
    doc["silences"] += [
        {"id": "s-far", "until": 1e300},
        {"id": "s-nan", "until": "nan"},
        {"id": "s-huge", "until": 10**400},
        {"id": "s-before-1970", "until": -1},
    ]
    path = tmp_path / "operator.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert read_operator(path) == ([silence], [window])
    named = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(named) == 11
    for bad in ("m-year-1", "m-year-1-utc", "m-9999", "m-ends-late", "m-forever",
                "m-negative", "m-zone", "s-far", "s-nan", "s-huge", "s-before-1970"):  # fmt: skip
        assert any(f"'{bad}'" in message for message in named), bad


def test_a_file_nested_too_deeply_is_logged_and_the_daemon_starts_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name, read in (("operator.json", read_operator), ("incidents.json", read_incidents)):
        path = tmp_path / name
        path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            assert not any(read(path))
        assert f"not read from {path}" in caplog.text


def test_one_bad_incident_is_skipped_and_named_the_others_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inc = Incident(
        IncidentKey("down", "r1"), "down:r1:1", "down", "r1", "xa-1", 1.7e9, "", "warning", False
    )
    doc = json.loads(incidents_to_json([inc]))
    good = doc[0]
    doc += [
        "not an object",
        {**good, "id": "i-year-1", "started_at": -6.2e10},
        {**good, "id": "i-no-device", "device": None},
        {**good, "id": "i-severity", "severity": "apocalyptic"},
        {"id": "i-missing"},
    ]
    path = tmp_path / "incidents.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert read_incidents(path) == [inc]
    named = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(named) == 5
    for bad in ("i-year-1", "i-no-device", "i-severity", "i-missing"):
        assert any(bad in message for message in named), bad


def engine_and_files(tmp_path: Path) -> tuple[AlertEngine, StateFiles]:
    config = load(tmp_path, "sites: [{id: xa, name: Xã, level: commune, devices: []}]\n", {})
    engine = AlertEngine(build_inventory(config), config.alerting, clock=lambda: 1.7e9,
                         suspect=lambda _: False, last_polled=lambda _: 0.0)  # fmt: skip
    return engine, StateFiles(tmp_path, engine, clock=lambda: 1.7e9)


async def test_a_failed_save_is_retried_each_tick_until_it_works(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A silence added while the disk fails: old files kept, one error line, the state store
    reported failing; it is saved at the first tick after the disk works again."""
    engine, files = engine_and_files(tmp_path)
    write_atomically(files.operator_path, '{"silences": [], "windows": []}')
    blocker = tmp_path / "operator.tmp"
    blocker.mkdir()  # the temporary file cannot be created: as on a full disk
    engine.silence(Silence("s-1", until=1.8e9, sites=("xa",)))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for _ in range(3):
            await files.after_tick(delivered=False)
        assert json.loads(files.operator_path.read_text()) == {"silences": [], "windows": []}
        assert files.errors == 3
        assert str(files.operator_path) in (files.error or "")
        state = StoreHealth("state", files.error is None, files.errors, files.error)
        assert str(files.operator_path) in (storage_problem([state]) or "")
        blocker.rmdir()
        await files.after_tick(delivered=False)
    assert [s["id"] for s in json.loads(files.operator_path.read_text())["silences"]] == ["s-1"]
    assert files.error is None
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    assert "saved again" in caplog.text


async def test_a_save_after_deliveries_that_failed_is_retried_without_new_changes(
    tmp_path: Path,
) -> None:
    """Saved because messages went out (no operator change): the failed save is still retried."""
    _, files = engine_and_files(tmp_path)
    blocker = tmp_path / "incidents.tmp"
    blocker.mkdir()
    await files.after_tick(delivered=True)
    assert not files.incidents_path.exists()
    assert files.error is not None
    blocker.rmdir()
    await files.after_tick(delivered=False)  # a tick with nothing new
    assert json.loads(files.incidents_path.read_text()) == []
    assert files.error is None


async def test_nothing_new_writes_nothing(tmp_path: Path) -> None:
    """A quiet tick (no delivery, no operator change, no failed save) does not touch the disk."""
    _, files = engine_and_files(tmp_path)
    await files.after_tick(delivered=False)
    assert not files.incidents_path.exists()
    assert not files.operator_path.exists()


async def test_restore_gives_the_engine_what_the_last_run_saved(tmp_path: Path) -> None:
    """Silences and windows saved by one run are the engine's after a restart; the config's
    windows are not saved, and a reload's windows replace them."""
    engine, files = engine_and_files(tmp_path)
    silence = Silence("s-1", until=1.8e9, sites=("xa",))
    window = MaintenanceWindow("m-1", "xa", datetime(2026, 3, 14, 21, tzinfo=HCM),
                               timedelta(hours=3))  # fmt: skip
    from_config = MaintenanceWindow("m-config", "xa", datetime(2026, 3, 15, 21, tzinfo=HCM),
                                    timedelta(hours=1))  # fmt: skip
    files.set_config_windows((from_config,))
    engine.silence(silence)
    engine.add_window(window)
    await files.after_tick(delivered=False)
    saved = json.loads(files.operator_path.read_text())
    assert [w["id"] for w in saved["windows"]] == ["m-1"]
    files.set_config_windows(())
    assert {w.id for w in engine.windows()} == {"m-1"}
    engine2, files2 = engine_and_files(tmp_path)
    await files2.restore()
    assert engine2.silences() == [silence]
    assert engine2.windows() == [window]
    files2.operator_path.unlink()
    await files2.after_tick(delivered=False)  # restoring is not a change to save
    assert not files2.operator_path.exists()


async def test_sites_on_battery_are_saved_and_restored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``power.json``: written after a site goes on battery, read back at the next start; an
    unreadable file is logged and the agent starts with no site on battery."""
    engine, _ = engine_and_files(tmp_path)
    power = PowerWatch()
    power.adopt('{"xa-1": {"started_at": 1.8e9, "device": "ups-1", "alert_id": "p1"}}', [])
    files = StateFiles(tmp_path, engine, power=power)
    await files.after_tick(delivered=False)
    assert not (tmp_path / "power.json").exists()  # nothing changed: nothing written
    power.revision += 1  # as observe() does when an outage opens
    await files.after_tick(delivered=False)
    assert json.loads((tmp_path / "power.json").read_text())["xa-1"]["alert_id"] == "p1"
    again = PowerWatch()
    await StateFiles(tmp_path, engine, power=again).restore()
    assert again.power_cut("xa-1")
    (tmp_path / "power.json").write_text("[1, 2", encoding="utf-8")
    empty = PowerWatch()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await StateFiles(tmp_path, engine, power=empty).restore()
    assert not empty.power_cut("xa-1")
    assert "sites on UPS battery of the previous run not read" in caplog.text
