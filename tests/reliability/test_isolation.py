"""Isolation under abuse: a login flood or a data-channel flood costs the flooder, not a candidate
being analysed.

Reproduces issue 16's finding 7: eight concurrent logins with random e-mails (argon2 on a shared
pool, a lock-out keyed on e-mail + address) cut a live candidate from 5.0 to 1.3 analyses/s; a
data-channel flood from one session cut another candidate from 5.0 to 2.2/s.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from server.accounts.hashing import PasswordHashing
from server.live.channel import FLOOD_REASON
from server.protocol.errors import ApiError
from server.store.keys import rate_key
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP

pytestmark = pytest.mark.slow
WINDOW_S = 6.0
#: the flooded window keeps at least this share of the quiet one. The regressions this guards against cut
#: it to 0.26 (login flood) and 0.44 (channel flood); a CI host shared with other work moves two 6 s windows
#: apart by 10-40 % on its own, so 0.9 failed on noise and 0.75 still catches both.
KEPT_SHARE = 0.75
#: paired trials (a quiet window, then a flooded one) until one keeps the share: host noise fails a pair
#: now and then, a flood that really costs the bystander fails every one.
TRIALS = 3
#: a flood is sent until the server cuts its sender off, at most this long: on a loaded host SCTP
#: delivers it slowly, and a slow flood spends the tolerance slowly (`server.live.channel`).
CUT_OFF_S = 60.0


async def _analysed_in(client: CandidateClient, seconds: float) -> float:
    before = len(client.analyses())
    await asyncio.sleep(seconds)
    return (len(client.analyses()) - before) / seconds


async def _flood(url: str, stop: asyncio.Event, answers: list[int]) -> None:
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            body = {"email": f"{uuid.uuid4().hex[:12]}@example.org", "password": "not the password"}
            async with http.post(url + "/api/auth/login", json=body) as resp:
                answers.append(resp.status)


async def _live_past_start(client: CandidateClient) -> None:
    await client.connect()
    await client.wait_for(lambda m: m.get("type") == "analysis", timeout=20)
    await asyncio.sleep(2.0)  # past the start-up burst


async def _kept_under(client: CandidateClient, flood: Callable[[], Awaitable[Callable[[], Awaitable[None]]]]) -> list[tuple[float, float]]:
    """Paired windows (quiet, then under `flood`), until one keeps `KEPT_SHARE` or `TRIALS` are spent.
    `flood()` starts a flood and returns its stop. Every pair's analysed fps, in order."""
    pairs: list[tuple[float, float]] = []
    while len(pairs) < TRIALS:
        quiet = await _analysed_in(client, WINDOW_S)
        stop = await flood()
        try:
            flooded = await _analysed_in(client, WINDOW_S)
        finally:
            await stop()
        pairs.append((quiet, flooded))
        if flooded >= KEPT_SHARE * quiet:
            break
    return pairs


def _kept(pairs: list[tuple[float, float]]) -> bool:
    return any(flooded >= KEPT_SHARE * quiet for quiet, flooded in pairs)


async def test_a_login_flood_does_not_slow_a_live_candidate(vigil_server, ledger) -> None:
    client = CandidateClient(vigil_server.url, FACE_CLIP, candidate_id="beside-a-flood")
    answers: list[int] = []

    async def login_flood() -> Callable[[], Awaitable[None]]:
        stop = asyncio.Event()
        flooders = [asyncio.create_task(_flood(vigil_server.url, stop, answers)) for _ in range(8)]

        async def stopped() -> None:
            stop.set()
            await asyncio.gather(*flooders)
        return stopped
    try:
        await _live_past_start(client)
        pairs = await _kept_under(client, login_flood)
        ledger.tried("login_flood", len(answers))
        assert set(answers) <= {401, 429, 503}, set(answers)
        assert _kept(pairs), f"analysed fps (quiet, flooded) under a login flood, every trial: {pairs}"
    finally:
        await client.close()
        # the suite shares one Valkey and one client address: give the next tests their login budget back
        await vigil_server.store.redis.delete(rate_key("login", "127.0.0.1"), rate_key("login", "all"))


async def _flood_channel(client: CandidateClient, message: str, stop: asyncio.Event) -> int:
    """`message` as fast as the channel takes it, until the channel closes (the server cut it off),
    `stop` is set, or `CUT_OFF_S` pass."""
    deadline, sent = time.monotonic() + CUT_OFF_S, 0
    while time.monotonic() < deadline and client.channel.readyState == "open" and not stop.is_set():
        while client.channel.readyState == "open" and client.channel.bufferedAmount < 256_000:
            client.channel.send(message)
            sent += 1
        await asyncio.sleep(0.002)  # let the SCTP sender (and everything else in this loop) run
    return sent


async def _status(client: CandidateClient) -> dict[str, Any]:
    assert client.http is not None
    async with client.http.get(f"{client.base_url}/api/sessions/{client.session_id}",
                               headers={"Authorization": f"Bearer {client.token}"}) as resp:
        assert resp.status == 200
        status: dict[str, Any] = await resp.json()
        return status


async def _disconnected(client: CandidateClient) -> dict[str, Any]:
    """The session's status once the server wrote the disconnect (after it closed the peer)."""
    for _ in range(50):
        status = await _status(client)
        if status["status"] == "disconnected":
            break
        await asyncio.sleep(0.2)
    return status


@pytest.mark.parametrize("message", ['{"type":"clock","pts":1,"captured_ms":1.0}', "x" * 60_000],
                         ids=["small-valid", "big-oversized"])
async def test_a_data_channel_flood_is_cut_off_and_does_not_slow_another_candidate(
        vigil_server, ledger, message: str) -> None:
    quiet = CandidateClient(vigil_server.url, FACE_CLIP, candidate_id="beside-a-channel-flood")
    flooders: list[CandidateClient] = []
    floods: list[asyncio.Task[int]] = []

    async def channel_flood() -> Callable[[], Awaitable[None]]:
        """A new flooder per trial (each is cut off by its flood); the flood goes on after the window
        until the server cuts it off, so the cut-off is the server's doing, not the test's."""
        flooder = CandidateClient(vigil_server.url, FACE_CLIP, candidate_id=f"channel-flooder-{len(flooders)}")
        flooders.append(flooder)
        await flooder.connect()
        flood = asyncio.create_task(_flood_channel(flooder, message, asyncio.Event()))
        floods.append(flood)

        async def cut_off() -> None:  # the next quiet window starts once this flood has ended
            await asyncio.wait({flood})
        return cut_off
    try:
        await _live_past_start(quiet)
        pairs = await _kept_under(quiet, channel_flood)
        ledger.tried("datachannel_flood", sum(task.result() for task in floods))
        assert _kept(pairs), f"analysed fps (quiet, flooded) under a data-channel flood, every trial: {pairs}"
        # every flooder is disconnected with the reason (the warning sent before it is best effort: the
        # flooder's own channel is congested by its flood, so its arrival is not asserted)
        for flooder in flooders:
            live = vigil_server.sessions.live.get(flooder.session_id)  # held for a grace period once gone
            status = await _disconnected(flooder)
            assert status["status"] == "disconnected" and status["dc_rate_limited"] > 0, status
            # the reason is the flood's, unless on a starved host the peer's own failure (ICE consent)
            # was written first: then the channel must still have cut the flooder off
            assert status["disconnect_reason"] == FLOOD_REASON or (live is not None and live.channel.flooded), status
        assert (await _status(quiet))["status"] == "live"
    finally:
        for task in floods:
            task.cancel()
        await quiet.close()
        for flooder in flooders:
            await flooder.close()


async def test_the_hashing_pool_refuses_beyond_its_queue_instead_of_growing() -> None:
    hashing = PasswordHashing(threads=1, max_waiting=2)
    try:
        results = await asyncio.gather(*(hashing.hash("a password") for _ in range(5)), return_exceptions=True)
        refused = [r for r in results if isinstance(r, ApiError)]
        assert len(refused) == 3 and all(r.status == 503 for r in refused)
        assert sum(isinstance(r, str) and r.startswith("$argon2") for r in results) == 2
        assert await hashing.verify(str(results[0]), "a password")
    finally:
        hashing.close()


def test_the_channel_cuts_a_flooder_off_once_and_reads_a_new_channel_again() -> None:
    from server.live.channel import DC_FLOOD_TOLERANCE, DC_MESSAGE_BURST, SessionChannel
    from server.live.counters import Counters

    class Dc:  # the one method `bind` uses
        def on(self, event: str, handler: object) -> None:
            pass

    counters, reasons, dispatched = Counters(), [], []
    channel = SessionChannel("s1", counters, dispatched.append, reasons.append)
    clock = '{"type":"clock","pts":1,"captured_ms":1.0}'
    for _ in range(int(DC_MESSAGE_BURST)):  # a burst within the budget: all read
        channel.receive(clock)
    assert len(dispatched) == int(DC_MESSAGE_BURST) and not reasons
    for _ in range(int(DC_FLOOD_TOLERANCE) + 1000):
        channel.receive(clock)
    assert reasons == [FLOOD_REASON] and channel.flooded
    refused = counters.dc_rate_limited
    channel.receive(clock)  # cut off: not even counted
    assert counters.dc_rate_limited == refused
    channel.bind(Dc())  # a resume: the new channel is read again
    assert not channel.flooded
