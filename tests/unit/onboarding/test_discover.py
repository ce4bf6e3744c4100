"""discover's own logic: which addresses, which role, and the proposal it writes."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from netwatch.config import load_config
from netwatch.errors import NetwatchError
from netwatch.models import Role
from netwatch.onboarding import discover
from netwatch.onboarding import proposal as proposal_module
from netwatch.onboarding.cells import SnmpCells
from netwatch.onboarding.discover import Found, Neighbour, Sweep, hosts_of
from netwatch.onboarding.proposal import guess_role, proposal
from netwatch.onboarding.render import MAIN_FILE, render_files
from netwatch.probes.snmp import SystemInfo


@pytest.mark.parametrize("module", [discover, proposal_module])
def test_doctests(module: ModuleType) -> None:
    """The examples in the modules' docstrings hold."""
    failed, tried = doctest.testmod(module)
    assert (failed, tried > 0) == (0, True)


def test_hosts_of_networks() -> None:
    """Hosts without network and broadcast addresses, a single address, no repeats."""
    assert hosts_of(["10.0.0.0/30", "10.0.0.2", "10.0.0.0/31"], 10) == [
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.0",
    ]
    with pytest.raises(ValueError, match="at most 4"):
        hosts_of(["10.0.0.0/29"], 4)
    with pytest.raises(ValueError, match="more than 3 addresses in all"):
        hosts_of(["10.0.0.0/30", "10.0.1.0/30"], 3)


@pytest.mark.parametrize(
    ("descr", "role"),
    [
        ("FortiGate-100F v7.2.5", Role.FIREWALL),
        ("RouterOS RB4011iGS+", Role.ROUTER),
        ("Juniper Networks, Inc. srx300 internet router, kernel JUNOS 21.2", Role.FIREWALL),
        ("HP ProCurve J9774A 2530-8G-PoEP Switch", Role.SWITCH),
        ("Hardware: Intel64 Family 6 - Software: Windows Version 6.3", Role.WORKSTATION),
        ("Linux mail 5.10.0-28-amd64", Role.SERVER),
        ("Canon iR-ADV C3520", Role.OTHER),
    ],
)
def test_guess_role(descr: str, role: Role) -> None:
    """The role guessed from sysDescr words (a firewall word wins over router words)."""
    assert guess_role(descr) == role


def test_read_reference() -> None:
    """A community is read from env: or file:; anything else is refused without echoing it."""
    assert discover.read_reference("env:C", {"C": "x"}).reveal() == "x"
    with pytest.raises(NetwatchError) as caught:
        discover.read_reference("Bi-Mat", {})
    assert "Bi-Mat" not in str(caught.value)
    with pytest.raises(NetwatchError, match="C is not set"):
        discover.read_reference("env:C", {})


def test_proposal_is_a_valid_config(tmp_path: object) -> None:
    """Names from sysName (unique), a host id from the address otherwise, a router as the
    gateway, SNMP only where it answered, and the notes as comments."""
    system = SystemInfo("core", "Cisco IOS XE Software, ISR4331", "1.3.6.1.4.1.9", None)
    found = [
        Found("10.0.0.9", 0.002),
        Found("10.0.0.1", 0.001, system, (Neighbour("sw-1", "Gi0/1"),)),
        Found("10.0.0.2", 0.001, system),
    ]
    cells = SnmpCells("2c", community=("env", "C"))
    result = proposal(Sweep(3, found), site_name="Xã A", level="commune", cells=cells)
    (site,) = result.roots
    assert [(d.id, d.role.value, d.snmp is not None) for d in site.devices] == [
        ("host-10-0-0-9", "other", False),
        ("core", "router", True),
        ("core-2", "router", True),
    ]
    assert site.id == "xa-a"
    assert site.gateway == "core"
    text = render_files(result, split=False)[MAIN_FILE]
    assert (
        "# ping 1.0 ms; Cisco IOS XE Software, ISR4331; sysObjectID 1.3.6.1.4.1.9; LLDP: sw-1"
        in (text)
    )
    path = tmp_path / "p.yaml"  # type: ignore[operator]
    path.write_text(text, encoding="utf-8")
    assert len(load_config(path, environ={"C": "x"}).devices) == 3


def _router(name: str) -> SystemInfo:
    return SystemInfo(name, "RouterOS RB750", "1.3.6.1.4.1.14988.1", None)


def test_a_chain_of_routers_is_a_tree_of_sites() -> None:
    """p - a - b (routers, linked by name or management address), a switch behind b: three
    sites, each gated by its router, the last level repeated below the last one given; with
    --root at b, the tree hangs the other way."""
    switch = SystemInfo("b-sw", "Aruba 2930F Switch", "1.3.6.1.4.1.11", None)
    found = [
        Found("10.0.0.1", 0.001, _router("p"), (Neighbour("a.example.vn"),)),
        Found("10.0.1.1", 0.001, _router("a"), (Neighbour("x", address="10.0.2.1"),)),
        Found("10.0.2.1", 0.001, _router("b"), (Neighbour("b-sw", "ether2", protocol="CDP"),)),
        Found("10.0.2.2", 0.001, switch),
        Found("10.0.9.9", 0.001),
    ]
    cells = SnmpCells("2c", community=("env", "C"))
    result = proposal(
        Sweep(5, found), site_name="P", level="province", cells=cells, levels=("commune",)
    )
    assert result.levels == ("province", "commune")
    (top,) = result.roots
    assert (top.gateway, [d.id for d in top.devices]) == ("a", ["a", "host-10-0-9-9"])
    # "a" has the most links (2) so it is the root; p and b are communes under it
    assert [(s.name, s.level, s.gateway) for s in top.children] == [
        ("p", "commune", "p"),
        ("b", "commune", "b"),
    ]
    assert [d.id for d in top.children[1].devices] == ["b", "b-sw"]
    assert "no LLDP/CDP link" in top.devices[1].comment
    rooted = proposal(
        Sweep(5, found), site_name="P", level="province", cells=cells, levels=("commune",),
        root="10.0.0.1",
    )  # fmt: skip
    (top,) = rooted.roots
    assert top.gateway == "p"
    (a,) = top.children
    (b,) = a.children
    assert (a.gateway, a.level, b.gateway, b.level) == ("a", "commune", "b", "commune")
    assert "CDP: b-sw (ether2)" in b.devices[0].comment
