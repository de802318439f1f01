"""Observation is accounted for: a stalled camera is `video_lost` (event, warning to the page,
dashboard flag with no faces), its time is unobserved, and an unwatched session is never CLEAR."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP, eventually


def _is_analysis(m: dict[str, Any]) -> bool:
    return m.get("type") == "analysis"


async def _status(client: CandidateClient) -> dict[str, Any]:
    assert client.http is not None
    async with client.http.get(f"{client.base_url}/api/sessions/{client.session_id}",
                               headers={"Authorization": f"Bearer {client.token}"}) as resp:
        assert resp.status == 200
        return await resp.json()


async def _dashboard_row(server: Any, sid: str, predicate: Any, timeout: float) -> dict[str, Any]:
    """The first fan-out `status` message of `sid` that satisfies `predicate`."""
    pubsub = await server.store.subscribe_live()
    try:
        async def matching() -> dict[str, Any] | None:
            msg = await pubsub.get_message(timeout=0.5)
            if msg is None:
                return None
            data = json.loads(msg["data"])
            return data if data.get("type") == "status" and data["session_id"] == sid and predicate(data) else None
        return await eventually(matching, timeout, "a matching dashboard row")
    finally:
        await pubsub.aclose()


async def test_a_stalled_camera_is_video_lost_and_the_session_ends_review(
        vigil_server_factory, tmp_path: Path, ledger) -> None:
    policy = tmp_path / "policy.toml"  # a short session may be REVIEW for its unobserved time
    policy.write_text("[verdict]\nmin_unobserved_seconds = 2.0\n")
    server = await vigil_server_factory(policy_path=policy)
    client = CandidateClient(server.url, FACE_CLIP, candidate_id="stalled-camera")
    try:
        await client.connect()
        await client.wait_for(_is_analysis, timeout=20)
        live = await _status(client)
        assert live["status"] == "live" and isinstance(live["observed_seconds"], float)

        assert client.video_track is not None
        client.video_track.stall()  # the peer, the microphone and the data channel stay up
        ledger.injected("video_stall")
        mark = len(client.messages)
        warning = await client.wait_for(lambda m: m.get("type") == "warning", timeout=8, after=mark)
        assert "camera" in warning.message["message"]
        row = await _dashboard_row(server, client.session_id, lambda r: "video_lost" in r["flags"], timeout=5)
        assert row["faces"] is None and row["status"] == "live"
        events = await server.store.events(client.session_id)
        assert [e["event"]["type"] for e in events if e["kind"] == "event_started"].count("video_lost") == 1
        await asyncio.sleep(6.0)  # most of the session unobserved
        assert (await _status(client))["status"] == "live"  # the peer is up: stalled, not gone

        client.video_track.unstall()
        ledger.injected("video_resumed")

        async def lost_ended() -> bool:
            items = await server.store.events(client.session_id)
            return any(e["kind"] == "event_ended" and e["event"]["type"] == "video_lost" for e in items)
        await eventually(lost_ended, 10, "video_lost to end once frames came back")
        await client.wait_for(_is_analysis, timeout=10, after=len(client.messages))

        summary = await client.end()
        assert summary["verdict"] == "REVIEW"
        assert any(r.startswith("unobserved") and "no video frames" in r for r in summary["reasons"])
        assert summary["unobserved"]["no_video"] >= 5.0
        assert summary["counts"]["video_lost"] == 1
        ended = await _status(client)
        assert ended["observed_seconds"] == summary["observed_seconds"]
        assert ended["coverage"] == summary["coverage"] and ended["coverage"] < 0.8
        ledger.checked_events(2, len([e for e in await server.store.events(client.session_id)
                                      if e["kind"] in ("event_started", "event_ended")
                                      and e["event"]["type"] == "video_lost"]))
    finally:
        await client.close()


async def test_a_session_never_connected_is_review_never_observed(vigil_server, ledger) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(vigil_server.url + "/api/sessions", json={"candidate_id": "never-came"}) as resp:
            created = await resp.json()
        await asyncio.sleep(0.5)
        async with http.post(f"{vigil_server.url}/api/sessions/{created['session_id']}/end", json={},
                             headers={"Authorization": f"Bearer {created['token']}"}) as resp:
            summary = await resp.json()
    ledger.tried("ended_without_connecting")
    assert summary["verdict"] == "REVIEW"
    assert summary["reasons"][0].startswith("never observed") and "not connected" in summary["reasons"][0]
    assert summary["observed_seconds"] == 0.0 and summary["coverage"] == 0.0
