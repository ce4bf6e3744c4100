"""``netwatch report`` from the command line: the period it picks when none is given."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from netwatch.cli import main
from netwatch.daemon import HISTORY_FILE
from netwatch.history.store import HistoryStore
from tests.unit.test_config import write

TZ = "Asia/Ho_Chi_Minh"


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    """``main`` sets up logging for a process; give the root logger back to pytest after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_without_a_period_the_report_is_this_month_up_to_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    store = HistoryStore.open(data / HISTORY_FILE, clock=time.time, timezone=TZ)
    store.agent_started()
    store.close()
    config = write(
        tmp_path,
        "n.yaml",
        f"agent: {{data_dir: {data}, timezone: {TZ}}}\n"
        "sites: [{id: hq, devices: [{id: a, address: 127.0.0.1}]}]\n",
    )
    before = datetime.now(ZoneInfo(TZ))
    assert main(["-c", str(config), "report", "--format", "json"]) == 0
    after = datetime.now(ZoneInfo(TZ))
    report = json.loads(capsys.readouterr().out)
    start, end = (datetime.fromisoformat(report[k]) for k in ("from", "to"))
    assert start == before.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    assert before.replace(microsecond=0) <= end <= after


def _config_with_history(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "data"
    data.mkdir()
    store = HistoryStore.open(data / HISTORY_FILE, clock=time.time, timezone=TZ)
    store.agent_started()
    store.close()
    config = write(
        tmp_path,
        "n.yaml",
        f"agent: {{data_dir: {data}, timezone: {TZ}}}\n"
        "sites: [{id: hq, devices: [{id: a, address: 127.0.0.1}]}]\n",
    )
    return config, data / HISTORY_FILE


def test_a_missing_history_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong data_dir: exit 1 and one line naming the file, not a traceback."""
    config, history = _config_with_history(tmp_path)
    history.unlink()
    assert main(["-c", str(config), "report"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"netwatch: cannot read {history}: no such file "
                   "(is agent.data_dir right? has netwatch run?)"]  # fmt: skip


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_a_planner_who_cannot_read_the_history_is_told_how_to_fix_it(tmp_path: Path) -> None:
    """The history belongs to the netwatch user (here: nobody, mode 0600) and the planner's
    account cannot read it: exit 1 with one line saying what to do. Run as root without the
    capabilities that let root read any file, so the kernel really refuses."""
    config, history = _config_with_history(tmp_path)
    for f in history.parent.iterdir():
        os.chown(f, 65534, 65534)
        f.chmod(0o600)
    run = subprocess.run(
        ["setpriv", "--bounding-set", "-dac_override,-dac_read_search",
         sys.executable, "-m", "netwatch", "-c", str(config), "report"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"netwatch: cannot read {history}: permission denied; run as the netwatch user or "
        "add yourself to its group"
    ]
    assert run.stdout == ""
