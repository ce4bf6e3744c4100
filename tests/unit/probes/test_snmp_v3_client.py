"""V3Client's USM logic against a scripted fake agent on 127.0.0.1 (what snmpd will not do:
spoofed, tampered and out-of-window replies)."""

from __future__ import annotations

import asyncio
import collections
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from netwatch.models import FailureKind
from netwatch.probes import snmp_usm as usm
from netwatch.probes import snmp_v2c as v2c
from netwatch.probes import snmp_v3 as v3
from netwatch.probes import snmp_v3_client as v3c

ENGINE = bytes.fromhex("80001f8880c0ffee00000001")
OID = (1, 3, 6, 1, 2, 1, 1, 5, 0)
CREDS = v3c.Credentials(b"monitor", "sha256", b"auth-secret-1", "aes", b"priv-secret-2")
KEYS = usm.KeyCache().keys(b"monitor", ENGINE, "sha256", b"auth-secret-1", "aes", b"priv-secret-2")
Reply = Callable[["FakeAgent", v3.V3Message, v2c.Message], bytes | None]


def response(agent: FakeAgent, request: v2c.Message, **kw: object) -> bytes:
    """An authPriv response to ``request`` with sysName 'fake' (``kw`` overrides)."""
    varbind = v2c._tlv(0x30, v2c._tlv(0x06, bytes.fromhex("2b06010201010500")) + b"\x04\x04fake")
    pdu = v2c._tlv(
        int(kw.get("pdu_type", v2c.RESPONSE)),  # type: ignore[call-overload]
        v2c._integer(request.request_id) + b"\x02\x01\x00\x02\x01\x00" + v2c._tlv(0x30, varbind),
    )
    flags = int(kw.get("flags", v3.FLAG_AUTH | v3.FLAG_PRIV))  # type: ignore[call-overload]
    return v3.encode_message(
        agent.last_msg_id, flags, ENGINE, int(kw.get("boots", agent.boots)),  # type: ignore[call-overload]
        int(kw.get("time", agent.time)), b"monitor", KEYS, ENGINE, b"", pdu,  # type: ignore[call-overload]
    )  # fmt: skip


def report(agent: FakeAgent, oid: tuple[int, ...], flags: int, **kw: int) -> bytes:
    """A report of ``oid`` (a usmStats counter = 1), authenticated when ``flags`` say."""
    name = bytes((40 * oid[0] + oid[1], *oid[2:]))  # every arc of these OIDs is < 128
    varbinds = v2c._tlv(0x30, v2c._tlv(0x30, v2c._tlv(0x06, name) + b"\x41\x01\x01"))
    pdu = v2c._tlv(v3.REPORT, b"\x02\x01\x00\x02\x01\x00\x02\x01\x00" + varbinds)
    user = b"monitor" if flags else b""
    return v3.encode_message(
        agent.last_msg_id, flags, ENGINE, kw.get("boots", agent.boots),
        kw.get("time", agent.time), user, KEYS if flags else None, ENGINE, b"", pdu,
    )  # fmt: skip


@dataclass
class FakeAgent(asyncio.DatagramProtocol):
    """Answers discovery itself; every other request is answered by ``reply``."""

    reply: Reply
    boots: int = 5
    time: int = 1000
    discoveries: int = 0
    requests: list[v3.V3Message] = field(default_factory=list)
    last_msg_id: int = 0
    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        msg = v3.decode_message(data)
        self.last_msg_id = msg.msg_id
        assert self.transport is not None
        if not msg.engine_id:
            self.discoveries += 1
            self.transport.sendto(report(self, v3.UNKNOWN_ENGINE_ID, 0), addr)
            return
        self.requests.append(msg)
        plain = KEYS.decrypt(msg.boots, msg.engine_time, msg.priv_params, msg.data)
        out = self.reply(self, msg, v3.decode_scoped_pdu(plain))
        if out is not None:
            self.transport.sendto(out, addr)


OPEN: list[socket.socket | asyncio.DatagramTransport] = []  # closed after each test


@pytest.fixture
async def client() -> AsyncIterator[v3c.V3Client]:
    def make(family: int) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        OPEN.append(sock)
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        return sock

    peers: set[tuple[str, int]] = set()
    made = v3c.V3Client(make, collections.Counter(), peers)
    try:
        yield made
    finally:
        made.close()
        while OPEN:
            OPEN.pop().close()


async def serve(client: v3c.V3Client, reply: Reply) -> tuple[FakeAgent, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    agent = FakeAgent(reply)
    transport, _ = await loop.create_datagram_endpoint(lambda: agent, local_addr=("127.0.0.1", 0))
    OPEN.append(transport)
    address = transport.get_extra_info("sockname")[:2]
    client.peers.add(address)
    return agent, address


async def get(client: v3c.V3Client, address: tuple[str, int]) -> v2c.Message:
    return await client.request(
        address, socket.AF_INET, CREDS, v2c.GET, [OID], repetitions=0, per_try=0.5, retries=0
    )


async def test_good_replies_are_read_and_discovery_happens_once(client: v3c.V3Client) -> None:
    """Ten concurrent first requests share one discovery; replies decrypt and authenticate."""
    agent, address = await serve(client, lambda a, m, r: response(a, r))
    replies = await asyncio.gather(*(get(client, address) for _ in range(10)))
    assert agent.discoveries == 1
    assert all(r.varbinds == [(OID, b"fake")] for r in replies)
    state = client.engine(address)
    assert state is not None
    assert (state.engine_id, state.boots) == (ENGINE, 5)


async def test_an_unauthenticated_response_is_refused(client: v3c.V3Client) -> None:
    """A response in clear to an authPriv request (spoofed) is AUTH, its values unread."""
    _agent, address = await serve(client, lambda a, m, r: response(a, r, flags=0))
    with pytest.raises(v3c.UsmError) as caught:
        await get(client, address)
    assert caught.value.kind is FailureKind.AUTH
    assert "lower security level" in caught.value.reason


async def test_a_tampered_response_fails_authentication(client: v3c.V3Client) -> None:
    """One flipped byte after signing: the MAC no longer matches: AUTH, naming what to check."""

    def tamper(agent: FakeAgent, msg: v3.V3Message, request: v2c.Message) -> bytes:
        good = bytearray(response(agent, request))
        good[-1] ^= 0x01
        return bytes(good)

    _agent, address = await serve(client, tamper)
    with pytest.raises(v3c.UsmError) as caught:
        await get(client, address)
    assert caught.value.kind is FailureKind.AUTH
    assert "auth_password" in caught.value.reason
    assert "auth-secret" not in caught.value.reason


async def test_a_reply_that_cannot_be_opened_fails_its_request_at_once(
    client: v3c.V3Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replies are opened in the socket's reader: whatever goes wrong there (here a stand-in
    for a bug in the decoder) is the request's error at once, not a timeout 0.5 s later, and
    the reader goes on reading."""
    _agent, address = await serve(client, lambda a, m, r: response(a, r))
    await get(client, address)  # discovery and keys, before the decoder breaks

    def broken(data: bytes) -> v2c.Message:
        raise RuntimeError("decoder bug")

    with monkeypatch.context() as patch:
        patch.setattr(v3c, "decode_scoped_pdu", broken)
        with pytest.raises(RuntimeError, match="decoder bug"):
            await get(client, address)
    assert (await get(client, address)).varbinds == [(OID, b"fake")]


async def test_not_in_time_window_resynchronises_once(client: v3c.V3Client) -> None:
    """An authenticated notInTimeWindow report (the agent rebooted) updates boots/time and
    the request is sent once more; a second report in a row is the failure."""

    def rebooted(agent: FakeAgent, msg: v3.V3Message, request: v2c.Message) -> bytes:
        if msg.boots != agent.boots:
            return report(agent, v3.NOT_IN_TIME_WINDOW, v3.FLAG_AUTH)
        return response(agent, request)

    agent, address = await serve(client, rebooted)
    assert (await get(client, address)).varbinds == [(OID, b"fake")]
    agent.boots, agent.time = 6, 3  # the agent restarts
    assert (await get(client, address)).varbinds == [(OID, b"fake")]
    state = client.engine(address)
    assert state is not None
    assert state.boots == 6
    assert [m.boots for m in agent.requests] == [5, 5, 6]

    agent.reply = lambda a, m, r: report(a, v3.NOT_IN_TIME_WINDOW, v3.FLAG_AUTH, boots=a.boots)
    with pytest.raises(v3c.UsmError) as caught:
        await get(client, address)
    assert "not in time window" in caught.value.reason
    assert len(agent.requests) == 5  # the request and one retry after resynchronising


async def test_an_unauthenticated_time_report_changes_nothing(client: v3c.V3Client) -> None:
    """A notInTimeWindow report in clear (anyone could send it) moves no clock."""
    agent, address = await serve(client, lambda a, m, r: response(a, r))
    await get(client, address)
    agent.reply = lambda a, m, r: report(a, v3.NOT_IN_TIME_WINDOW, 0, boots=99)
    with pytest.raises(v3c.UsmError):
        await get(client, address)
    state = client.engine(address)
    assert state is not None
    assert state.boots == 5


async def test_an_unknown_engine_report_rediscovers_once(client: v3c.V3Client) -> None:
    """usmStatsUnknownEngineIDs to a normal request (a replaced agent) discovers again."""
    agent, address = await serve(client, lambda a, m, r: response(a, r))
    await get(client, address)
    first = True

    def replaced(a: FakeAgent, m: v3.V3Message, r: v2c.Message) -> bytes:
        nonlocal first
        if first:
            first = False
            return report(a, v3.UNKNOWN_ENGINE_ID, 0)
        return response(a, r)

    agent.reply = replaced
    assert (await get(client, address)).varbinds == [(OID, b"fake")]
    assert agent.discoveries == 2


async def test_silence_is_a_timeout(client: v3c.V3Client) -> None:
    """No reply at all: TimeoutError after the tries."""
    _agent, address = await serve(client, lambda a, m, r: None)
    with pytest.raises(TimeoutError):
        await get(client, address)


async def test_a_clock_ahead_of_the_agent_is_set_back_by_its_report(client: v3c.V3Client) -> None:
    """Our estimate of the agent's time ran 1,000 s ahead (outside the 150 s window): its
    authenticated notInTimeWindow report sets it back, though that time is earlier."""

    def window(agent: FakeAgent, msg: v3.V3Message, request: v2c.Message) -> bytes:
        if abs(msg.engine_time - agent.time) > 150:
            return report(agent, v3.NOT_IN_TIME_WINDOW, v3.FLAG_AUTH)
        return response(agent, request)

    agent, address = await serve(client, window)
    await get(client, address)
    state = client.engine(address)
    assert state is not None
    state.engine_time += 1000
    assert (await get(client, address)).varbinds == [(OID, b"fake")]
    assert abs(state.engine_time - agent.time) <= 1
    assert [abs(m.engine_time - agent.time) > 150 for m in agent.requests] == [False, True, False]


async def test_garbage_from_the_agent_is_junk(client: v3c.V3Client) -> None:
    """A datagram from the polled agent that is not SNMPv3 counts in ``junk`` (the poller's
    ``protocol`` failure), not in ``dropped``; the request itself then times out."""
    _agent, address = await serve(client, lambda a, m, r: b"\x30\x03\x02\x01\x09")
    with pytest.raises(TimeoutError):
        await get(client, address)
    assert client.junk[address] == 1
    assert client.dropped == 0
