"""The health reader on a fake agent: walks once, then one GET; rows and scalars that went away."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from netwatch.configuration.profiles import Oid, load_profiles
from netwatch.probes import snmp_v2c as v2c
from netwatch.probes.health import HealthReader

HW = (1, 3, 6, 1, 4, 1, 2011, 5, 25, 31, 1, 1, 1, 1)  # HUAWEI-ENTITY-EXTENT-MIB
NAME = (1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 7)  # entPhysicalName


class FakeAgent:
    """A table of OIDs; counts the GETs and walks the reader makes."""

    def __init__(self, values: dict[Oid, Any]) -> None:
        self.values = values
        self.gets: list[int] = []
        self.walks = 0

    async def get(self, oids: Sequence[Oid]) -> Mapping[Oid, Any]:
        self.gets.append(len(oids))
        return {oid: self.values.get(oid, v2c.NO_SUCH_INSTANCE) for oid in oids}

    async def walk(self, columns: Mapping[str, Oid]) -> Mapping[str, Mapping[Oid, Any]]:
        self.walks += 1
        return {
            name: {
                oid[len(col) :]: v
                for oid, v in sorted(self.values.items())
                if oid[: len(col)] == col
            }
            for name, col in columns.items()
        }


def huawei() -> FakeAgent:
    board, port = (9,), (270,)
    return FakeAgent(
        {
            (*HW, 5, *board): 24, (*HW, 5, *port): 0,  # hwEntityCpuUsage
            (*HW, 7, *board): 58, (*HW, 7, *port): 0,  # hwEntityMemUsage
            (*HW, 9, *board): 434110464, (*HW, 9, *port): 0,  # hwEntityMemSize
            (*HW, 11, *board): 44, (*HW, 11, *port): 0,  # hwEntityTemperature
            (*NAME, *board): b"SRU Board 0", (*NAME, *port): b"GE0/0/4",
        }
    )  # fmt: skip


async def test_discovery_walks_once_then_one_get_reads_the_kept_rows() -> None:
    """Poll 1 walks the tables; poll 2 reads CPU, memory and temperature with one GET."""
    agent, reader = huawei(), HealthReader(clock=lambda: 0.0)
    profile = load_profiles().match("1.3.6.1.4.1.2011.2.224.62")
    first = await reader.read("ar", profile, agent.get, agent.walk)
    assert agent.walks == 1
    agent.gets.clear()
    agent.values[(*HW, 5, 9)] = 31
    second = await reader.read("ar", profile, agent.get, agent.walk)
    assert agent.walks == 1
    assert len(agent.gets) == 1  # one GET: kept rows only (no ENTITY-SENSOR rows here)
    assert first is not None
    assert second is not None
    assert [(r.name, r.value) for r in second.cpu] == [("SRU Board 0", 0.31)]
    assert [(m.name, m.used_ratio) for m in second.memory] == [("SRU Board 0", 0.58)]
    assert [(r.name, r.value) for r in second.temperatures] == [("SRU Board 0", 44.0)]


async def test_a_row_that_went_away_is_found_again_next_poll() -> None:
    """A kept row answering noSuchInstance makes the next poll walk again."""
    agent, reader = huawei(), HealthReader(clock=lambda: 0.0)
    profile = load_profiles().match("1.3.6.1.4.1.2011.2.224.62")
    await reader.read("ar", profile, agent.get, agent.walk)
    for column in (5, 7, 9, 11):
        del agent.values[(*HW, column, 9)]
    health = await reader.read("ar", profile, agent.get, agent.walk)
    assert health is not None
    assert health.cpu == ()
    await reader.read("ar", profile, agent.get, agent.walk)
    assert agent.walks == 2


async def test_absent_ups_scalars_are_not_asked_again_until_rediscovery() -> None:
    """An unknown device without UPS-MIB: after discovery, no GET at all until the hour."""
    now = [0.0]
    agent, reader = FakeAgent({}), HealthReader(clock=lambda: now[0])
    profile = load_profiles().match("1.3.6.1.4.1.99999")
    assert await reader.read("x", profile, agent.get, agent.walk) is not None
    agent.gets.clear()
    await reader.read("x", profile, agent.get, agent.walk)
    assert agent.gets == []
    now[0] = 2 * 3600
    await reader.read("x", profile, agent.get, agent.walk)
    assert agent.walks == 2
