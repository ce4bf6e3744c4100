"""netwatch_snmp_interface_rows: how many interface rows the agent showed in its last poll."""

from __future__ import annotations

import dataclasses

from netwatch.exporters.snmp import SnmpRow
from tests.unit.exporters.test_snmp_exporter import DATA, PAIRS, check, device, key, render


def test_rows_are_exported_zero_included() -> None:
    """The agent's row count is a gauge, 0 (no interface table in view) too; absent when the
    poll did not read interfaces."""
    for rows in (3, 0):
        data = dataclasses.replace(DATA, interface_rows=rows)
        m = render([SnmpRow(device(), PAIRS, check(data=data), reboots=0)])
        assert m[key("netwatch_snmp_interface_rows")] == rows
    m = render([SnmpRow(device(), PAIRS, check(data=DATA), reboots=0)])
    assert key("netwatch_snmp_interface_rows") not in m
