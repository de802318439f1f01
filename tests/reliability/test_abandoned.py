"""Retention for every session: abandoned sessions (created and never connected, or disconnected
and never resumed) are ended by the server with their verdict and expire like ended ones."""
from __future__ import annotations

from pathlib import Path

import aiohttp

from server.store.keys import events_key, session_key
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP, eventually

RETENTION_DAYS = 1


async def _ended_by_server(server, sid: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    async def ended() -> dict[str, str] | None:
        data = await server.store.session(sid)
        return data if data and data["status"] == "ended" else None
    return await eventually(ended, 15, f"the server to end abandoned session {sid}")


async def _assert_retained(server, sid: str) -> None:  # type: ignore[no-untyped-def]
    for key in (session_key(sid), events_key(sid)):
        ttl = await server.store.redis.ttl(key)
        assert 0 < ttl <= RETENTION_DAYS * 86400, (key, ttl)


async def test_abandoned_sessions_are_ended_with_their_verdict_and_expire(
        vigil_server_factory, tmp_path: Path, ledger) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(f"retention_days = {RETENTION_DAYS}\n")
    server = await vigil_server_factory(policy_path=policy, created_ttl_s=2.0, abandon_after_s=2.0)
    async with aiohttp.ClientSession() as http:
        async with http.post(server.url + "/api/sessions", json={"candidate_id": "never-offered"}) as resp:
            never = (await resp.json())["session_id"]
    client = CandidateClient(server.url, FACE_CLIP, candidate_id="walked-away")
    try:
        await client.connect()
        await client.wait_for(lambda m: m.get("type") == "analysis", timeout=20)
        await client.drop()  # gone, and never resumed
        ledger.injected("abandoned_after_drop")
        ledger.tried("abandoned_before_offer")

        data = await _ended_by_server(server, never)
        assert data["ended_by"] == "server" and data["end_reason"] == "never connected", data
        assert data["verdict"] == "REVIEW"
        await _assert_retained(server, never)

        data = await _ended_by_server(server, client.session_id)
        assert data["ended_by"] == "server" and data["end_reason"] == "disconnected and not resumed", data
        assert data["verdict"] in ("CLEAR", "REVIEW", "CHEATING")  # its verdict, by the policy's rules
        events = await server.store.events(client.session_id)
        verdict = next(e for e in events if e["kind"] == "verdict")
        assert verdict["summary"]["unobserved"]["disconnected"] > 0, verdict
        await _assert_retained(server, client.session_id)
        assert client.session_id not in server.sessions.live
        assert never not in server.sessions.open and client.session_id not in server.sessions.open
    finally:
        await client.close()
