"""Vigil's ephemeral TURN credentials work against a real coturn, without the Vigil server.

Two aiortc peers in this process connect through coturn on loopback and exchange a data-channel message.
Both use `RTCConfiguration(iceTransportPolicy=RTCIceTransportPolicy.RELAY)` (aiortc 1.16 passes it to
aioice's `TransportPolicy.RELAY`): each gathers only relayed candidates, so every candidate pair is
relay-to-relay and the only path between the peers is coturn; the test checks that in both SDPs and in
the nominated candidate pairs. Credentials whose
expiry is in the past are refused: no relayed candidate, no connection, and a 401 on a direct ALLOCATE.
"""
from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.rtc.turn import turn_credentials

try:  # tests/ is on sys.path (pytest's rootdir-less layout) ...
    from turn_helpers import start_coturn, turnserver_path
except ImportError:  # ... or a package, should it gain an __init__.py
    from tests.turn_helpers import start_coturn, turnserver_path

aiortc = pytest.importorskip("aiortc")
from aioice import stun  # noqa: E402  (after the importorskip)
from aioice.turn import TurnClientUdpProtocol, create_turn_endpoint  # noqa: E402
from aiortc import (  # noqa: E402
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)

pytestmark = [
    pytest.mark.skipif(
        turnserver_path() is None,
        reason="coturn's turnserver is not installed (apt-get install coturn; `make test` does it as root)",
    ),
    pytest.mark.timeout(60),
]

SECRET = "relay-test-secret-0123456789abcdef"
TTL = 600
#: Whole-connection budget: gathering through coturn, ICE checks and DTLS/SCTP take ~1 s on loopback.
CONNECT_TIMEOUT_SECS = 20.0
#: How long the expired-credentials peers get to (wrongly) connect; the fresh ones need about 1 s.
NO_CONNECTION_WAIT_SECS = 3.0
CANDIDATE_RE = re.compile(r"^a=candidate:.* typ (\w+)", re.MULTILINE)


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[str]:
    with start_coturn(tmp_path, SECRET) as (url, _proc):
        yield url


def relay_only_config(url: str, username: str, credential: str) -> RTCConfiguration:
    return RTCConfiguration(
        iceServers=[RTCIceServer(urls=url, username=username, credential=credential)],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,
    )


def candidate_types(sdp: str) -> list[str]:
    return CANDIDATE_RE.findall(sdp)


def nominated_local_candidate_type(pc: RTCPeerConnection) -> str | None:
    """Type of the local candidate of the nominated ICE pair carrying the data channel (aioice internals)."""
    sctp = pc.sctp
    if sctp is None:
        return None
    connection = sctp.transport.transport._connection  # RTCDtlsTransport -> RTCIceTransport -> aioice
    pairs = list(connection._nominated.values())
    return pairs[0].local_candidate.type if pairs else None


async def negotiate(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> tuple[str, str]:
    """Offer/answer with complete candidates (aiortc gathers inside setLocalDescription)."""
    await offerer.setLocalDescription(await offerer.createOffer())
    offer = offerer.localDescription
    await answerer.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type=offer.type))
    await answerer.setLocalDescription(await answerer.createAnswer())
    answer = answerer.localDescription
    await offerer.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type=answer.type))
    return offer.sdp, answer.sdp


async def test_peers_exchange_a_message_through_coturn_with_ephemeral_credentials(coturn: str) -> None:
    now = time.time()
    offerer = RTCPeerConnection(relay_only_config(coturn, *turn_credentials(SECRET, "sess-a", TTL, now)))
    answerer = RTCPeerConnection(relay_only_config(coturn, *turn_credentials(SECRET, "sess-b", TTL, now)))
    reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @answerer.on("datachannel")
    def on_datachannel(channel) -> None:  # type: ignore[no-untyped-def]
        @channel.on("message")
        def on_message(message: str) -> None:
            channel.send(f"echo:{message}")

    channel = offerer.createDataChannel("vigil")

    @channel.on("open")
    def on_open() -> None:
        channel.send("hello over TURN")

    @channel.on("message")
    def on_reply(message: str) -> None:
        if not reply.done():
            reply.set_result(message)

    try:
        offer_sdp, answer_sdp = await asyncio.wait_for(negotiate(offerer, answerer), CONNECT_TIMEOUT_SECS)
        # Relay-only: each side offers exactly what coturn allocated for it, nothing else.
        assert candidate_types(offer_sdp) and set(candidate_types(offer_sdp)) == {"relay"}, offer_sdp
        assert candidate_types(answer_sdp) and set(candidate_types(answer_sdp)) == {"relay"}, answer_sdp

        assert await asyncio.wait_for(reply, CONNECT_TIMEOUT_SECS) == "echo:hello over TURN"
        assert offerer.connectionState == "connected"
        assert nominated_local_candidate_type(offerer) == "relay"
        assert nominated_local_candidate_type(answerer) == "relay"
    finally:
        await offerer.close()
        await answerer.close()


async def test_expired_credentials_get_no_relay_and_no_connection(coturn: str) -> None:
    expired = turn_credentials(SECRET, "sess-old", TTL, time.time() - 2 * TTL)
    assert int(expired[0].split(":", 1)[0]) < time.time()
    offerer = RTCPeerConnection(relay_only_config(coturn, *expired))
    answerer = RTCPeerConnection(relay_only_config(coturn, *expired))
    channel = offerer.createDataChannel("vigil")
    opened = asyncio.Event()
    channel.on("open", opened.set)

    try:
        offer_sdp, answer_sdp = await asyncio.wait_for(negotiate(offerer, answerer), CONNECT_TIMEOUT_SECS)
        # coturn refused the allocation, and the relay policy forbids host candidates: nothing to offer.
        assert candidate_types(offer_sdp) == [], offer_sdp
        assert candidate_types(answer_sdp) == [], answer_sdp
        # With no candidate aiortc never starts ICE (its state stays "new"); give it time to prove it.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(opened.wait(), NO_CONNECTION_WAIT_SECS)
        assert offerer.connectionState in ("new", "failed")
        assert answerer.connectionState in ("new", "failed")
    finally:
        await offerer.close()
        await answerer.close()


def _turn_address(url: str) -> tuple[str, int]:
    match = re.fullmatch(r"turn:([^:?]+):(\d+)(\?.*)?", url)
    assert match, url
    return match.group(1), int(match.group(2))


async def test_coturn_answers_401_to_an_expired_allocation_and_allocates_a_fresh_one(coturn: str) -> None:
    server = _turn_address(coturn)

    fresh_user, fresh_password = turn_credentials(SECRET, "sess-fresh", TTL, time.time())
    transport, _ = await asyncio.wait_for(
        create_turn_endpoint(asyncio.DatagramProtocol, server, fresh_user, fresh_password),
        CONNECT_TIMEOUT_SECS,
    )
    try:
        assert transport.get_extra_info("sockname")[0] == "127.0.0.1"  # the relayed address
    finally:
        transport.close()

    for user, password in (
        turn_credentials(SECRET, "sess-old", TTL, time.time() - 2 * TTL),  # expired
        turn_credentials(SECRET + "-wrong", "sess-x", TTL, time.time()),  # not signed with coturn's secret
    ):
        with pytest.raises(stun.TransactionFailed) as failure:
            await asyncio.wait_for(
                create_turn_endpoint(asyncio.DatagramProtocol, server, user, password), CONNECT_TIMEOUT_SECS
            )
        assert failure.value.response.attributes["ERROR-CODE"][0] == 401


async def test_an_allocation_made_in_time_outlives_its_credential(coturn: str) -> None:
    """coturn checks the credential when the allocation is made, not on each refresh.

    So VIGIL_TURN_TTL bounds how late a client may (re)connect with a credential, not how long an exam
    may run: an ICE restart or reconnect after expiry needs fresh credentials from Vigil.
    """
    server = _turn_address(coturn)
    ttl = 2
    username, password = turn_credentials(SECRET, "sess-long-exam", ttl, time.time())
    _, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: TurnClientUdpProtocol(server, username=username, password=password, lifetime=600,
                                      channel_refresh_time=500),
        remote_addr=server,
    )
    try:
        await asyncio.wait_for(protocol.connect(), CONNECT_TIMEOUT_SECS)
        await asyncio.sleep(ttl + 1.5)
        assert int(username.split(":", 1)[0]) < time.time()
        refresh = stun.Message(message_method=stun.Method.REFRESH, message_class=stun.Class.REQUEST)
        refresh.attributes["LIFETIME"] = 600
        response, _ = await asyncio.wait_for(protocol.request_with_retry(refresh), CONNECT_TIMEOUT_SECS)
        assert response.attributes["LIFETIME"] > 0
    finally:
        await protocol.delete()
