"""The small files the daemon keeps in data_dir (open incidents, the operator's silences and
windows): a bad file or a failed write is logged and loses nothing else."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from netwatch.alerting.maintenance import operator_to_json
from netwatch.alerting.settings import MaintenanceWindow, Silence
from netwatch.daemon import _read_operator, _write_atomically

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def test_a_write_that_fails_is_logged_and_keeps_the_old_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "operator.json"
    _write_atomically(path, '{"silences": [], "windows": []}')
    blocker = tmp_path / "operator.tmp"
    blocker.mkdir()  # the temporary file cannot be created: as on a full or broken disk
    with caplog.at_level(logging.ERROR, logger="netwatch.daemon"):
        _write_atomically(path, '{"silences": ["new"]}')
    assert json.loads(path.read_text()) == {"silences": [], "windows": []}
    assert f"not saved to {path}" in caplog.text


def test_an_unreadable_operator_file_starts_empty_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "operator.json"
    assert _read_operator(path) == ([], [])  # no file: a first start, nothing to say
    path.write_text('{"silences": [', encoding="utf-8")  # cut short
    with caplog.at_level(logging.WARNING, logger="netwatch.daemon"):
        assert _read_operator(path) == ([], [])
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
    with caplog.at_level(logging.WARNING, logger="netwatch.daemon"):
        assert _read_operator(path) == ([silence], [window])
    assert "s-broken" in caplog.text
