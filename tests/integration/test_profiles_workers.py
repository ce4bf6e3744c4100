"""An operator's profile (agent.profiles) reaches the SNMP worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from netwatch.configuration.profiles import load_profiles
from netwatch.probes.snmp_data import SnmpData
from netwatch.probes.snmp_workers import SnmpWorkers
from tests.snmpsim import DATA, Simulator, running

pytestmark = pytest.mark.peer

LOCAL = """
profiles:
  our-linux:  # replaces nothing: a new, more specific match for net-snmp's sysObjectID
    match: [1.3.6.1.4.1.8072.3.2.10]
    temperature:
      - value: 1.3.6.1.4.1.2021.13.16.2.1.3  # LM-SENSORS-MIB lmTempSensorsValue
        name: 1.3.6.1.4.1.2021.13.16.2.1.2  # lmTempSensorsDevice
        scale: 0.001
"""


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    yield from running(DATA / "devices")


async def test_workers_poll_with_the_operators_profiles(sim: Simulator, tmp_path: Path) -> None:
    """A worker polls linux-server with the local profile, not the built-in net-snmp one."""
    path = tmp_path / "local.yaml"
    path.write_text(LOCAL)
    workers = SnmpWorkers(1, load_profiles(path))
    try:
        sample = await workers.poll("linux-server", sim.host, sim.settings("linux-server"))
    finally:
        await workers.close()
    assert sample.ok, sample.failure
    assert isinstance(sample.data, SnmpData)
    health = sample.data.health
    assert health is not None
    assert health.profile == "our-linux"
    assert [(r.name, r.value) for r in health.temperatures] == [("Package id 0", 47.0)]
