"""The pure helpers of ``netwatch once``: which devices are polled, which series are kept, and
how an unknown ``--device`` is answered."""

from __future__ import annotations

from pathlib import Path

from netwatch.config import load_config
from netwatch.models import Device, Role
from netwatch.once import CheckFailure, only_devices, unknown_devices, with_upstream

METRICS = b"""\
# HELP netwatch_build_info netwatch version.
# TYPE netwatch_build_info gauge
netwatch_build_info{version="0.1.0"} 1
# HELP netwatch_device_up 1 if the device is up, else 0.
# TYPE netwatch_device_up gauge
netwatch_device_up{device="pc",site="ab",role="workstation"} 0
netwatch_device_up{device="pc-2",site="ab",role="workstation"} 1
# HELP netwatch_interface_up 1 if up.
# TYPE netwatch_interface_up gauge
netwatch_interface_up{device="rtr",ifname="Gi0/1"} 1
"""


def test_only_devices_keeps_their_series_and_the_headers_of_their_families() -> None:
    """`pc` keeps its own line (not `pc-2`'s) and its family's HELP/TYPE; the others go."""
    assert only_devices(METRICS, {"pc"}) == (
        b"# HELP netwatch_device_up 1 if the device is up, else 0.\n"
        b"# TYPE netwatch_device_up gauge\n"
        b'netwatch_device_up{device="pc",site="ab",role="workstation"} 0\n'
    )
    assert only_devices(METRICS, {"rtr"}).splitlines()[-1] == (
        b'netwatch_interface_up{device="rtr",ifname="Gi0/1"} 1'
    )


def test_with_upstream_adds_every_device_a_selected_one_depends_on() -> None:
    """pc -> commune router -> district router, transitively, each once, pc first."""
    devices = {
        "core": Device("core", "10.0.0.1", Role.ROUTER, "p"),
        "d-rtr": Device("d-rtr", "10.1.0.1", Role.ROUTER, "d", depends_on=("core",)),
        "c-rtr": Device("c-rtr", "10.1.1.1", Role.ROUTER, "c", depends_on=("d-rtr",)),
        "pc": Device("pc", "10.1.1.9", Role.WORKSTATION, "c", depends_on=("c-rtr", "d-rtr")),
        "other": Device("other", "10.2.0.1", Role.SERVER, "p", depends_on=("core",)),
    }
    assert with_upstream(devices, ["pc"]) == ["pc", "c-rtr", "d-rtr", "core"]
    assert with_upstream(devices, ["core"]) == ["core"]


def test_unknown_devices_suggest_the_closest_id(tmp_path: Path) -> None:
    """A near miss gets a did-you-mean, a far one none, a known one no message."""
    path = tmp_path / "n.yaml"
    path.write_text(
        "sites: [{id: s, devices: [{id: an-binh-rtr, address: 10.0.0.1},"
        " {id: an-binh-pc-01, address: 10.0.0.2}]}]\n",
        encoding="utf-8",
    )
    config = load_config(path, environ={})
    assert unknown_devices(config, ["an-binh-pc-1", "zzz", "an-binh-rtr"]) == [
        "unknown device 'an-binh-pc-1'; did you mean 'an-binh-pc-01'?",
        "unknown device 'zzz'",
    ]


def test_a_failure_line_names_device_check_reason_and_what_it_is_behind() -> None:
    assert str(CheckFailure("pc", "icmp", "timeout: no reply", "c-rtr")) == (
        "pc icmp: timeout: no reply (unreachable behind c-rtr)"
    )
    assert str(CheckFailure("srv", "service:portal", "refused: port 9")) == (
        "srv service:portal: refused: port 9"
    )
