"""Real ICMP: the host's loopback, 500 targets at once, and faults inside a network namespace."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from netwatch.models import FailureKind, IcmpSettings, longest_ping
from netwatch.probes.icmp import IcmpProber, detect_icmp_mode
from netwatch.probes.icmp_packet import checksum
from netwatch.probes.icmp_socket import EchoSocket
from tests.netns import TABLE, Netns

CHILD = Path(__file__).with_name("icmp_child.py")
FORGER = Path(__file__).with_name("icmp_forger.py")
ROOT = Path(__file__).parents[2]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP sockets need root")


def run_in(ns: Netns, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the prober inside ``ns`` with ``spec`` (see icmp_child.py); one result per ping."""
    done = ns.run([sys.executable, str(CHILD), json.dumps(spec)], cwd=ROOT, timeout=60)
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


@needs_root
def test_detect_icmp_mode_is_raw_as_root() -> None:
    assert detect_icmp_mode() == "raw"


@needs_root
@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
async def test_loopback_answers_every_echo_within_5ms(address: str) -> None:
    prober = IcmpProber("raw")
    try:
        sample = await prober.ping("lo", address, IcmpSettings(count=3, timeout=1, spacing=0.05))
    finally:
        await prober.close()
    assert sample.failure is None, sample.failure
    assert sample.data is not None
    assert (sample.data.sent, sample.data.received) == (3, 3)
    assert max(sample.data.rtts) < 0.005
    assert sample.duration >= 0.1  # the three requests were spaced 50 ms apart


@needs_root
async def test_an_answered_ping_ends_without_waiting_for_its_timeout() -> None:
    prober = IcmpProber("raw")
    try:
        sample = await prober.ping("lo", "127.0.0.1", IcmpSettings(count=2, timeout=30, spacing=0))
    finally:
        await prober.close()
    assert sample.data is not None
    assert sample.data.received == 2
    assert sample.duration < 30  # over when the last reply came, not when time ran out


@needs_root
async def test_500_targets_at_once_lose_nothing() -> None:
    prober = IcmpProber("raw")
    addresses = [f"127.7.{i // 250}.{i % 250 + 1}" for i in range(500)]
    settings = IcmpSettings(count=3, timeout=2, spacing=0.05)
    try:
        samples = await asyncio.gather(*[prober.ping(a, a, settings) for a in addresses])
    finally:
        await prober.close()
    assert {s.device for s in samples} == set(addresses)
    assert sum(s.data.received for s in samples if s.data) == 1500
    assert all(s.ok for s in samples)
    rtts = [r for s in samples if s.data for r in s.data.rtts]
    assert statistics.median(rtts) < 0.05  # timestamped when read, not when a task woke up


@pytest.mark.netns
def test_dropped_address_times_out_and_lossy_one_loses_some() -> None:
    with Netns() as ns:
        ns.drop("127.0.0.5")
        ns.lossy("127.0.0.6", 30)
        spec = {"mode": "raw", "count": 3, "timeout": 0.5, "spacing": 0.02,
                "pings": [["127.0.0.5", 1], ["127.0.0.6", 20], ["127.0.0.7", 1]]}  # fmt: skip
        results = run_in(ns, spec)
    dead = [r for r in results if r["address"] == "127.0.0.5"]
    duration = dead[0].pop("duration")
    assert dead == [
        {"address": "127.0.0.5", "mode": "raw", "sent": 3, "received": 0, "failure": "timeout",
         "detail": "no echo reply from 127.0.0.5 to 3 request(s) within 0.5s each",
         "rejected": 0}
    ]  # fmt: skip
    # Waited for the last request's timeout, and ended on the grid tick after it.
    assert 0.5 <= duration <= longest_ping(3, 0.02, 0.5) + 0.5  # + slack for a busy machine
    lossy = [r for r in results if r["address"] == "127.0.0.6"]
    sent = sum(r["sent"] for r in lossy)
    received = sum(r["received"] for r in lossy)
    assert sent == 60
    assert 0 < 1 - received / sent < 0.7
    healthy = [r for r in results if r["address"] == "127.0.0.7"]
    assert [(r["received"], r["failure"]) for r in healthy] == [(3, None)]


@pytest.mark.netns
def test_restore_brings_a_dropped_address_back() -> None:
    with Netns() as ns:
        ns.drop("::1")
        spec = {"mode": "raw", "count": 2, "timeout": 0.3, "spacing": 0.02, "pings": [["::1", 1]]}
        assert [r["failure"] for r in run_in(ns, spec)] == ["timeout"]
        ns.restore("::1")
        assert [(r["received"], r["failure"]) for r in run_in(ns, spec)] == [(2, None)]


@pytest.mark.netns
def test_dgram_mode_works_where_ping_group_range_allows_it() -> None:
    with Netns() as ns:
        # The child detects the mode as an unprivileged user would not; force dgram instead.
        spec = {"mode": "dgram", "count": 3, "timeout": 0.5, "spacing": 0.02,
                "pings": [["127.0.0.1", 1], ["127.3.2.1", 1], ["::1", 1]]}  # fmt: skip
        results = run_in(ns, spec)
    assert [(r["mode"], r["sent"], r["received"], r["failure"]) for r in results] == [
        ("dgram", 3, 3, None)
    ] * 3


@pytest.mark.netns
@pytest.mark.parametrize("mode", ["raw", "dgram"])
def test_an_ipv4_mapped_address_is_pinged_over_ipv4(mode: str) -> None:
    # Linux refuses ICMPv6 to ::ffff:a.b.c.d; over IPv4 the reply comes from 127.0.0.7, which
    # is then the address pinged. In a namespace: on the host the old code's ICMPv6 request
    # went out of the default route.
    with Netns() as ns:
        spec = {"mode": mode, "count": 3, "timeout": 0.5, "spacing": 0.02,
                "pings": [["::ffff:127.0.0.7", 1]]}  # fmt: skip
        results = run_in(ns, spec)
    assert [(r["sent"], r["received"], r["failure"], r["rejected"]) for r in results] == [
        (3, 3, None, 0)
    ]


@pytest.mark.netns
def test_unresolvable_name_is_a_dns_failure() -> None:
    # Inside the namespace only lo exists, so the resolver's query cannot leave this machine.
    with Netns() as ns:
        spec = {"mode": "raw", "count": 1, "timeout": 0.5, "spacing": 0.02,
                "pings": [["no-such-host.invalid", 1]]}  # fmt: skip
        results = run_in(ns, spec)
    assert [(r["failure"], r["sent"]) for r in results] == [(FailureKind.DNS.value, 0)]
    assert "no-such-host.invalid" in results[0]["detail"]


def black_hole(ns: Netns, address: str) -> None:
    """Drop every echo request to ``address``; replies to it pass. Over IPv6 the prober sends
    from the target's own address when it is local (fd00::5 on lo), so dropping every packet
    to it would drop the forged replies too, and prove nothing."""
    proto, icmp = ("ip6", "icmpv6") if ":" in address else ("ip", "icmp")
    ns.run(["nft", "add", "rule", "inet", TABLE, "input", proto, "daddr", address,
            icmp, "type", "echo-request", "drop"])  # fmt: skip


def forge_while_pinging(
    ns: Netns, target: str, source: str, spec: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Run the forger (icmp_forger.py) for ``target``, replying from ``source``, while the
    prober pings as ``spec`` says; the prober's results and the forger's counts."""
    requests = sum(n for _, n in spec["pings"]) * spec["count"]
    forger = ns.popen(
        [sys.executable, str(FORGER), target, source, str(requests), "20"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert forger.stdout is not None
    assert forger.stdout.readline().strip() == "ready"  # listening before the first request
    results = run_in(ns, spec)
    out, _ = forger.communicate(timeout=30)
    counts: dict[str, int] = json.loads(out)
    return results, counts


@pytest.mark.netns
@pytest.mark.parametrize(
    ("mode", "target", "forger"),
    [
        ("raw", "127.0.0.5", "127.0.0.9"),
        ("dgram", "127.0.0.5", "127.0.0.9"),
        ("raw", "fd00::5", "fd00::9"),
        ("dgram", "fd00::5", "fd00::9"),
    ],
)
def test_forged_replies_from_another_address_do_not_bring_a_dead_device_up(
    mode: str, target: str, forger: str
) -> None:
    # A host that sees the requests answers them from its own address, with the right
    # identifier, sequence and token: the target stays down, and every forgery is counted.
    with Netns() as ns:
        for address in ("fd00::5", "fd00::9"):
            ns.run(["ip", "-6", "addr", "add", f"{address}/128", "dev", "lo", "nodad"])
        black_hole(ns, target)
        spec = {"mode": mode, "count": 3, "timeout": 0.5, "spacing": 0.05,
                "pings": [[target, 4]]}  # fmt: skip
        results, counts = forge_while_pinging(ns, target, forger, spec)
    assert counts == {"forged": 12, "requests": 12}  # one forgery per request
    assert [(r["sent"], r["received"], r["failure"]) for r in results] == [(3, 0, "timeout")] * 4
    # Every forged reply reached the prober's socket and matched a request: only its
    # source address kept it from counting.
    assert {r["rejected"] for r in results} == {12}


@pytest.mark.netns
@pytest.mark.parametrize(
    ("mode", "target"),
    [("raw", "127.0.0.5"), ("dgram", "127.0.0.5"), ("raw", "fd00::5"), ("dgram", "fd00::5")],
)
def test_forged_replies_spoofing_the_targets_address_are_accepted(mode: str, target: str) -> None:
    # The limit of the check (see netwatch/probes/icmp_socket.py): a forger that sees the
    # requests and sends from the target's own address is indistinguishable from it. Also the
    # control for the test above: the same forgeries, from the right address, do count.
    with Netns() as ns:
        ns.run(["ip", "-6", "addr", "add", "fd00::5/128", "dev", "lo", "nodad"])
        black_hole(ns, target)
        spec = {"mode": mode, "count": 3, "timeout": 0.5, "spacing": 0.05,
                "pings": [[target, 2]]}  # fmt: skip
        results, counts = forge_while_pinging(ns, target, target, spec)
    assert counts == {"forged": 6, "requests": 6}
    assert [(r["received"], r["failure"], r["rejected"]) for r in results] == [(3, None, 0)] * 2


@needs_root
@pytest.mark.parametrize(
    ("family", "address"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]
)
async def test_other_pingers_replies_are_dropped_in_the_kernel(family: int, address: str) -> None:
    # On loopback: five echo replies with another identifier and one with ours reach the
    # host; the raw socket's BPF filter lets only ours through, so a flood of other pingers'
    # replies costs the prober no read.
    sock = EchoSocket(
        family, "raw", ident=0x4E57, payload=b"netwatch-filter!", clock=time.monotonic
    )
    asyncio.get_running_loop().remove_reader(sock._sock.fileno())  # we read by hand below
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    reply_type = 0 if family == socket.AF_INET else 129
    sender = socket.socket(family, socket.SOCK_RAW, proto)
    try:
        sockaddr = (address, 0) if family == socket.AF_INET else (address, 0, 0, 0)
        for ident in (0x4E58, 0x0001, 0xFFFF, 0x574E, 0x4E56, 0x4E57):
            body = struct.pack("!HH", ident, 7) + b"netwatch-filter!"
            csum = checksum(struct.pack("!BBH", reply_type, 0, 0) + body)
            sender.sendto(struct.pack("!BBH", reply_type, 0, csum) + body, sockaddr)
        await asyncio.sleep(0.1)  # loopback delivers at once; this is slack
        idents = []
        for _ in range(1000):  # bounded: the host's other pingers' replies may be queued too
            try:
                packet = sock._sock.recv(4096)
            except BlockingIOError:
                break
            offset = (packet[0] & 0x0F) * 4 if family == socket.AF_INET else 0
            if packet[offset] == reply_type:
                idents.append(struct.unpack_from("!H", packet, offset + 4)[0])
    finally:
        sender.close()
        sock.close()
    assert idents == [0x4E57]
