"""discover's own logic: which addresses, which role, and the proposal it writes."""

from __future__ import annotations

import doctest

import pytest

from netwatch.config import load_config
from netwatch.errors import NetwatchError
from netwatch.models import Role
from netwatch.onboarding import discover
from netwatch.onboarding.discover import Found, Sweep, guess_role, hosts_of, proposal
from netwatch.onboarding.render import MAIN_FILE, render_files
from netwatch.probes.snmp import SystemInfo


def test_doctests() -> None:
    """The examples in the module's docstring hold."""
    failed, tried = doctest.testmod(discover)
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
        Found("10.0.0.1", 0.001, system, ("sw-1 (Gi0/1)",)),
        Found("10.0.0.2", 0.001, system),
    ]
    result = proposal(
        Sweep(3, found), site_name="Xã A", level="commune", reference="env:C", version="2c"
    )
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
