"""Hostile SNMP peers on loopback, for integration tests and ``bench.hostile``.

:class:`Hostile` answers each SNMPv2c request with one kind of attack (seeded, so runs repeat):
a well-formed response carrying numbers out of their type's range or absurd OIDs, garbage
bytes, or a flood of unsolicited datagrams from its own address. ``python -m tests.hostile_snmp
flood HOST PORT`` sprays datagrams at a port from another address, for a bounded time;
``python -m tests.hostile_snmp serve [MODE...]`` serves modes on 127.0.2.1, .2, ... (bench.hostile).

>>> transport, responder, port = await serve("huge-Counter64")  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import sys
import time
import typing

from netwatch.probes import snmp_v2c as v2c

_tlv, _oid, _integer = v2c._tlv, v2c._oid, v2c._integer

HUGE_TYPES: dict[str, int] = {name: tag for tag, (name, _lo, _hi) in v2c.INT_RANGES.items()}
# Each mode and what a poll of a device answering that way may end as (a Failure kind, or ok).
MODES: dict[str, set[str]] = {
    **{f"huge-{name}": {"protocol"} for name in HUGE_TYPES},  # a value past its type's range
    "long-oid": {"protocol"},  # names of 130 sub-identifiers
    "huge-arc": {"protocol"},  # names with an arc of 2^32
    "giant-oid": {"protocol"},  # a sysObjectID of 60 kB (was 274 ms of CPU to decode)
    "random": {"protocol"},
    "truncated": {"protocol"},
    "flipped": {"protocol", "timeout", "ok"},  # a flipped bit in a value can leave it valid
    "oversized": {"protocol"},  # a SEQUENCE claiming 2 GiB, in a 65,000-byte datagram
    "echo": {"protocol"},  # the request itself, sent back
    "flood-wrong-id": {"timeout"},  # 30 well-formed responses to no request, no answer
    "flood-junk": {"protocol"},  # 30 random datagrams, no answer
}


def response(request_id: int, community: bytes, varbinds: list[bytes]) -> bytes:
    """A GetResponse PDU around already-encoded varbind TLVs."""
    head = _integer(request_id) + _integer(0) + _integer(0)
    pdu = _tlv(v2c.RESPONSE, head + _tlv(0x30, b"".join(varbinds)))
    return _tlv(0x30, _integer(1) + _tlv(0x04, community) + pdu)


def varbind(name: bytes, tag: int, value: bytes) -> bytes:
    return _tlv(0x30, name + _tlv(tag, value))


def ber_int(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True)


def replies(mode: str, request: bytes, rng: random.Random) -> list[bytes]:
    """What a peer in ``mode`` sends back for one request datagram."""
    msg = v2c.decode_message(request)
    rid, community, names = msg.request_id, msg.community, [oid for oid, _ in msg.varbinds]
    if mode.startswith("huge-") and mode[5:] in HUGE_TYPES:
        tag = HUGE_TYPES[mode[5:]]
        _name, low, high = v2c.INT_RANGES[tag]
        value = rng.choice([high + 1, low - 1, 2**16000, 10**400])
        return [response(rid, community, [varbind(_oid(n), tag, ber_int(value)) for n in names])]
    if mode == "long-oid":
        return [response(rid, community, [varbind(_oid((*n, *([1] * 130))), 0x02, b"\x01")
                                          for n in names])]  # fmt: skip
    if mode == "huge-arc":
        return [response(rid, community, [varbind(_oid((*n, 2**32)), 0x02, b"\x01")
                                          for n in names])]  # fmt: skip
    if mode == "giant-oid":
        giant = _tlv(0x06, b"\x2b" + b"\x81" * 60_000 + b"\x01")
        return [response(rid, community, [_tlv(0x30, _oid(names[0]) + giant)])]
    if mode == "random":
        return [rng.randbytes(rng.randint(1, 300))]
    if mode == "truncated":
        good = response(rid, community, [varbind(_oid(n), 0x02, b"\x01") for n in names])
        return [good[: rng.randint(1, len(good) - 1)]]
    if mode == "flipped":
        out = bytearray(response(rid, community, [varbind(_oid(n), 0x02, b"\x01") for n in names]))
        for _ in range(3):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return [bytes(out)]
    if mode == "oversized":
        return [b"\x30\x84\x7f\xff\xff\xff" + rng.randbytes(65_000)]
    if mode == "echo":
        return [request]
    if mode == "flood-wrong-id":
        return [unsolicited(rng, community) for _ in range(30)]
    if mode == "flood-junk":
        return [rng.randbytes(rng.randint(1, 1400)) for _ in range(30)]
    raise ValueError(f"unknown mode {mode}")


def unsolicited(rng: random.Random, community: bytes = b"public") -> bytes:
    """A well-formed response of ~1.3 kB to a request nobody sent: 80 small varbinds, the
    costliest kind to decode in full (and as cheap as any to reject from its header)."""
    names = [(1, 3, 6, 1, 2, 1, 2, 2, 1, 8, rng.randrange(1, 100)) for _ in range(80)]
    varbinds = [varbind(_oid(n), 0x02, ber_int(rng.randrange(1, 3))) for n in names]
    return response(rng.randrange(-(2**31), 2**31), community, varbinds)


class Hostile(asyncio.DatagramProtocol):
    """Answers every request the way ``mode`` says (see :data:`MODES`)."""

    def __init__(self, mode: str, seed: int = 42) -> None:
        self.mode = mode
        self.transport: asyncio.DatagramTransport | None = None
        self.rng = random.Random(seed)
        self.requests = 0
        self.sent = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        assert self.transport is not None
        self.requests += 1
        try:
            out = replies(self.mode, data, self.rng)
        except v2c.MalformedMessage:  # not one of our requests (an SNMPv3 one): noise
            out = [self.rng.randbytes(64)]
        for datagram in out:
            self.transport.sendto(datagram, addr)
        self.sent += len(out)


async def serve(
    mode: str, host: str = "127.0.0.1", seed: int = 42
) -> tuple[asyncio.DatagramTransport, Hostile, int]:
    """A hostile responder on ``host``:<free port>: (transport, protocol, port)."""
    responder = Hostile(mode, seed)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: responder, local_addr=(host, 0), family=socket.AF_INET
    )
    return transport, responder, int(transport.get_extra_info("sockname")[1])


def udp_ports(pid: int) -> set[int]:
    """The local ports of the IPv4 UDP sockets process ``pid`` holds (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    with open(f"/proc/{pid}/net/udp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].split(":")[1], 16))
    return ports


def flood(host: str, port: int, *, source: str, rate: int, seconds: float, seed: int) -> int:
    """Send unsolicited responses and junk at ``rate``/s for ``seconds``: the count sent."""
    rng = random.Random(seed)
    pool = [unsolicited(rng) if i % 2 else rng.randbytes(rng.randint(1, 1400)) for i in range(200)]
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.setblocking(False)
        started = time.monotonic()
        limit = int(rate * seconds)
        while sent < limit:
            elapsed = time.monotonic() - started
            if elapsed > seconds:
                break
            if sent > rate * elapsed:  # ahead of the rate: wait a little
                time.sleep(0.001)
                continue
            for datagram in pool[sent % 200 : sent % 200 + 50]:
                try:
                    sock.sendto(datagram, (host, port))
                except BlockingIOError:
                    time.sleep(0.0005)
                    continue
                sent += 1
    return sent


async def serve_modes(modes: list[str], hosts: str, seconds: float) -> None:
    """Serve each mode on its own address (``hosts`` + ``.1``, ``.2``, ...) for ``seconds``,
    or until stdin closes; print ``mode host port`` per mode, then ``ready``."""
    started = []
    for n, mode in enumerate(modes, 1):
        transport, _responder, port = await serve(mode, f"{hosts}.{n}", seed=n)
        started.append(transport)
        print(mode, f"{hosts}.{n}", port, flush=True)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    try:
        await asyncio.wait_for(stdin_closed, seconds)
    except TimeoutError:
        pass
    finally:
        for transport in started:
            transport.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.hostile_snmp")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve hostile SNMP modes, one per loopback address")
    s.add_argument("modes", nargs="*", help=f"default: all of {', '.join(MODES)}")
    s.add_argument("--hosts", default="127.0.2", help="the first three octets of the addresses")
    s.add_argument("--seconds", type=float, default=600.0)
    f = sub.add_parser("flood", help="spray a UDP port with unsolicited SNMP responses and junk")
    f.add_argument("host")
    f.add_argument("port", type=int)
    f.add_argument("--source", default="127.0.0.3")
    f.add_argument("--rate", type=int, default=20_000, help="datagrams per second")
    f.add_argument("--seconds", type=float, default=5.0)
    f.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.seconds > 3600:
        parser.error("at most an hour")
    if args.command == "serve":
        if not args.hosts.startswith("127."):
            parser.error("serve only on 127.0.0.0/8")
        asyncio.run(serve_modes(args.modes or list(MODES), args.hosts, args.seconds))
        return 0
    if not args.host.startswith("127."):  # loopback only
        parser.error("flood only 127.0.0.0/8")
    sent = flood(
        args.host, args.port, source=args.source, rate=args.rate, seconds=args.seconds,
        seed=args.seed,
    )  # fmt: skip
    print(sent, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
