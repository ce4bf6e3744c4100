"""``netwatch report`` from the command line: the period it picks when none is given."""

from __future__ import annotations

import json
import logging
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
