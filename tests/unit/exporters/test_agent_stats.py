"""AgentStats: the agent's own counters, read from plain objects at scrape time."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from netwatch.exporters.agent import AgentStats


def test_snmp_datagrams_dropped_is_a_counter_read_at_each_scrape() -> None:
    """The count is read when scraped (not when registered), with no labels."""
    dropped = [0]
    registry = CollectorRegistry()
    registry.register(AgentStats(snmp_dropped=lambda: dropped[0]))
    assert "\nnetwatch_snmp_datagrams_dropped_total 0.0\n" in generate_latest(registry).decode()
    dropped[0] = 7
    text = generate_latest(registry).decode()
    assert "# TYPE netwatch_snmp_datagrams_dropped_total counter\n" in text
    assert "\nnetwatch_snmp_datagrams_dropped_total 7.0\n" in text


def test_without_an_snmp_poller_there_is_no_series() -> None:
    registry = CollectorRegistry()
    registry.register(AgentStats(icmp_rejected=lambda: 1))
    assert b"netwatch_snmp_datagrams_dropped" not in generate_latest(registry)


@pytest.mark.peer
def test_agent_stats_pass_promtool() -> None:
    """promtool check metrics accepts every family AgentStats writes: syntax and lint."""
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed")
    registry = CollectorRegistry()
    stats = AgentStats(
        icmp_rejected=lambda: 1, snmp_dropped=lambda: 2, connections=lambda: (3, 4, 5, 6)
    )
    registry.register(stats)
    out = subprocess.run(
        ["promtool", "check", "metrics"],
        input=generate_latest(registry),
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 0, (out.stdout + out.stderr).decode()
