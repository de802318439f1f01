"""A proctor watching hears the candidate: the watcher's peer gets the candidate's microphone, and the
candidate's own voice analysis reads every frame as before (both through the one audio relay).

Real peers both ways (scripted aiortc candidate speaking a LibriVox recording, aiortc watcher), real
server, real voice detection.
"""
from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription

from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP, eventually
from tests.test_accounts import call, logged_in, new_exam

SPEECH = "audio/speech/librivox_0870.wav"
#: audio frames (20 ms each) the watcher must receive with sound in them: one second of speech
SOUND_FRAMES = 50


async def test_a_watcher_hears_the_candidate_and_the_voice_analysis_goes_on(vigil_server, shared_data: Path) -> None:
    base = vigil_server.url
    _, proctor = await logged_in(vigil_server, "proctor")
    async with aiohttp.ClientSession() as http:
        exam = await new_exam(http, base, proctor)
    client = CandidateClient(base, FACE_CLIP, audio=shared_data / SPEECH, candidate_id="olga",
                             join_code=exam["join_code"])
    watcher = RTCPeerConnection()
    readers: list[asyncio.Future[None]] = []  # held, so a reader is not garbage-collected mid-read
    loud: list[float] = []
    kinds: set[str] = set()
    heard = asyncio.Event()
    try:
        await client.connect()
        await client.wait_for(lambda m: m.get("type") == "analysis", timeout=20)
        watcher.addTransceiver("video", direction="recvonly")
        watcher.addTransceiver("audio", direction="recvonly")

        @watcher.on("track")
        def on_track(track) -> None:  # type: ignore[no-untyped-def]
            kinds.add(track.kind)
            if track.kind != "audio":
                return

            async def read() -> None:
                while len(loud) < SOUND_FRAMES:
                    samples = (await track.recv()).to_ndarray().astype(np.float64)
                    if np.sqrt(np.mean(samples ** 2)) > 100:  # s16: well above Opus' silence
                        loud.append(float(np.sqrt(np.mean(samples ** 2))))
                heard.set()
            readers.append(asyncio.ensure_future(read()))

        await watcher.setLocalDescription(await watcher.createOffer())
        async with aiohttp.ClientSession() as http:
            st, answer = await call(http, "POST", f"{base}/api/sessions/{client.session_id}/watch", proctor,
                                    json={"sdp": watcher.localDescription.sdp, "type": "offer"})
        assert st == 200, answer
        assert "m=audio" in answer["sdp"]
        await watcher.setRemoteDescription(RTCSessionDescription(**answer))
        session = vigil_server.sessions.live[client.session_id]
        chunks = session.audio.chunks
        await asyncio.wait_for(heard.wait(), 30)
        assert kinds == {"video", "audio"}
        # the candidate's voice analysis kept reading the same microphone meanwhile
        await eventually(lambda: _true(session.audio.chunks > chunks + 30), 10, "voice analysis to go on")
        await watcher.close()  # the proctor leaves: the candidate's audio goes on
        chunks = session.audio.chunks
        await eventually(lambda: _true(session.audio.chunks > chunks + 30), 10, "voice analysis after the watcher left")
    finally:
        await watcher.close()
        for reader in readers:
            reader.cancel()
        await client.close()


async def _true(value: bool) -> bool:
    return value
