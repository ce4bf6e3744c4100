"""A reload names the changed settings it cannot apply, instead of ignoring them silently."""

from __future__ import annotations

from pathlib import Path

from netwatch.daemon import _restart_only_changes
from tests.unit.test_config import load


def test_unchanged_settings_say_nothing(tmp_path: Path) -> None:
    text = "agent: {listen: '127.0.0.1:9430', snmp_workers: 1}\n"
    assert _restart_only_changes(load(tmp_path, text), load(tmp_path, text)) == ""


def test_changed_restart_only_settings_are_named(tmp_path: Path) -> None:
    old = load(tmp_path, "agent: {listen: '127.0.0.1:9430', snmp_workers: 1}\n")
    new = load(
        tmp_path,
        "agent: {listen: '127.0.0.1:9431', snmp_workers: 2}\nalerting: {repeat_interval: 2h}\n",
    )
    assert _restart_only_changes(old, new) == "agent.listen, agent.snmp_workers"  # not alerting
