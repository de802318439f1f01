"""Isolation under abuse: a login flood costs the flooder, not a candidate being analysed.

Reproduces issue 16's finding 7: eight concurrent logins with random e-mails (argon2 on a shared
pool, a lock-out keyed on e-mail + address) cut a live candidate from 5.0 to 1.3 analyses/s.
"""
from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from server.accounts.hashing import PasswordHashing
from server.protocol.errors import ApiError
from server.store.keys import rate_key
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP

pytestmark = pytest.mark.slow
WINDOW_S = 6.0


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


async def test_a_login_flood_does_not_slow_a_live_candidate(vigil_server, ledger) -> None:
    client = CandidateClient(vigil_server.url, FACE_CLIP, candidate_id="beside-a-flood")
    try:
        await client.connect()
        await client.wait_for(lambda m: m.get("type") == "analysis", timeout=20)
        await asyncio.sleep(2.0)  # past the start-up burst
        quiet = await _analysed_in(client, WINDOW_S)
        stop, answers = asyncio.Event(), []
        flooders = [asyncio.create_task(_flood(vigil_server.url, stop, answers)) for _ in range(8)]
        try:
            flooded = await _analysed_in(client, WINDOW_S)
        finally:
            stop.set()
            await asyncio.gather(*flooders)
        ledger.tried("login_flood", len(answers))
        assert set(answers) <= {401, 429, 503}, set(answers)
        assert flooded >= 0.9 * quiet, f"analysed fps fell from {quiet:.2f} to {flooded:.2f} under a login flood"
    finally:
        await client.close()
        # the suite shares one Valkey and one client address: give the next tests their login budget back
        await vigil_server.store.redis.delete(rate_key("login", "127.0.0.1"), rate_key("login", "all"))


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
