"""Liveness within seconds: a killed client is disconnected within 10 s, a peer that never connects
frees its slot, and session creation is limited per client address."""
from __future__ import annotations

import asyncio
import json
import signal
import sys

import aiohttp
from aiortc import RTCPeerConnection

from server.tools.candidate.media_files import LoopingVideoTrack, load_video_frames
from tests.conftest import FACE_CLIP, REPO, eventually


async def test_a_killed_client_process_is_disconnected_within_ten_seconds(vigil_server, ledger) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.tools.candidate", vigil_server.url, str(FACE_CLIP),
        "--candidate-id", "killed-client", cwd=REPO, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        sid = json.loads(line)["session_id"]

        async def live() -> bool:
            session = vigil_server.sessions.live.get(sid)
            return session is not None and session.status == "live" and session.counters.frames_analysed > 0
        await eventually(live, 20, "the candidate to stream")
        proc.send_signal(signal.SIGKILL)
        ledger.injected("client_sigkill")
        await proc.wait()

        async def disconnected() -> dict[str, str] | None:
            data = await vigil_server.store.session(sid)
            return data if data["status"] == "disconnected" else None
        data = await eventually(disconnected, 10, "the killed client to be disconnected within 10 s")
        assert data["disconnect_reason"]  # says why (silence, or the peer's own failure)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _without_candidates(sdp: str) -> str:
    return "".join(line for line in sdp.splitlines(keepends=True) if not line.startswith("a=candidate"))


async def test_an_offer_without_ice_candidates_frees_its_slot(vigil_server_factory, ledger) -> None:
    server = await vigil_server_factory(max_sessions=1)
    pc = RTCPeerConnection()
    pc.addTrack(LoopingVideoTrack(load_video_frames(FACE_CLIP, 640, 480, 15.0)))
    pc.createDataChannel("vigil")
    async with aiohttp.ClientSession() as http:
        try:
            async with http.post(server.url + "/api/sessions", json={"candidate_id": "squatter"}) as resp:
                created = await resp.json()
            await pc.setLocalDescription(await pc.createOffer())
            offer = {"sdp": _without_candidates(pc.localDescription.sdp), "type": "offer"}
            async with http.post(f"{server.url}/api/sessions/{created['session_id']}/offer", json=offer,
                                 headers={"Authorization": f"Bearer {created['token']}"}) as resp:
                assert resp.status == 200
            ledger.tried("ice_less_offer")
            async with http.post(server.url + "/api/sessions", json={"candidate_id": "waiting"}) as resp:
                assert resp.status == 503  # the slot is held while the peer is connecting (at capacity)

            async def slot_freed() -> bool:
                async with http.post(server.url + "/api/sessions", json={"candidate_id": "waiting"}) as resp:
                    return resp.status == 201
            await eventually(slot_freed, 30, "the unconnected peer's slot to be freed")
            data = await server.store.session(created["session_id"])
            assert data["status"] == "disconnected" and "did not connect" in data["disconnect_reason"]
        finally:
            await pc.close()


async def test_a_burst_of_creations_from_one_address_is_limited(vigil_server_factory, ledger) -> None:
    server = await vigil_server_factory(create_per_min=5)
    answers = []
    async with aiohttp.ClientSession() as http:
        for i in range(20):
            async with http.post(server.url + "/api/sessions", json={"candidate_id": f"burst-{i}"}) as resp:
                answers.append((resp.status, await resp.json()))
    ledger.tried("creation_burst", len(answers))
    statuses = [status for status, _ in answers]
    assert set(statuses) <= {201, 429} and statuses.count(201) <= 5 and 429 in statuses
    limited = next(body for status, body in answers if status == 429)
    assert limited["context"]["retry_after_s"] > 0
