"""A real microphone track over a real peer: speech found where it is, silence gives nothing,
speech over a still face is another voice, and a missing microphone is reported."""
from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest

from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP, eventually

pytestmark = pytest.mark.slow

TOLERANCE_S = 0.2


def speech_labels(shared_data: Path) -> list[tuple[float, float]]:
    with open(shared_data / "audio/vad_mix/vad_mix_01_labels.csv") as fh:
        return [(float(r["start_s"]), float(r["end_s"])) for r in csv.DictReader(fh) if r["label"] == "speech_active"]


async def test_speech_segments_match_the_labelled_clip_and_speaking_is_an_event(
        vigil_server_factory, shared_data: Path, tmp_path: Path) -> None:
    policy = tmp_path / "exam.toml"
    policy.write_text("speaking_forbidden = true\n")
    server = await vigil_server_factory(policy_path=policy)
    client = CandidateClient(server.url, FACE_CLIP, audio=shared_data / "audio/vad_mix/vad_mix_01_16k.wav",
                             candidate_id="speaker")
    try:
        await client.connect()

        async def two_segments_ended():  # type: ignore[no-untyped-def]
            events = await server.store.events(client.session_id)
            return [e for e in events if e["kind"] == "speech_ended"][1:] and events
        events = await eventually(two_segments_ended, 40, "two speech segments")
        starts = [e["track_s"] for e in events if e["kind"] == "speech_started"]
        ends = [e["track_s"] for e in events if e["kind"] == "speech_ended"]
        for (label_start, label_end), start, end in zip(speech_labels(shared_data)[:2], starts, ends, strict=False):
            # the track's first sample leaves the client a few ms after the file's start: same origin
            assert abs(start - label_start) <= TOLERANCE_S, (start, label_start)
            assert abs(end - label_end) <= TOLERANCE_S, (end, label_end)
        assert any(r.message.get("speaking") for r in client.analyses())
        speaking = [e for e in events if e["kind"] == "event_started" and e["event"]["type"] == "speaking"]
        assert speaking  # the exam forbids talking
    finally:
        await client.close()


async def test_room_tone_gives_no_speech(vigil_server, shared_data: Path) -> None:
    client = CandidateClient(vigil_server.url, FACE_CLIP,
                             audio=shared_data / "audio/noise/room_tone_proctoringai_center_focus_16k.wav",
                             candidate_id="quiet")
    try:
        await client.connect()
        await asyncio.sleep(8.0)
        events = await vigil_server.store.events(client.session_id)
        assert not [e for e in events if e["kind"] == "speech_started"]
        assert not any(r.message.get("speaking") for r in client.analyses())
        session = vigil_server.sessions.live[client.session_id]
        assert session.audio.chunks > 150  # the track was analysed: ~31 chunks a second
    finally:
        await client.close()


async def test_speech_over_a_still_face_is_another_voice(vigil_server, shared_data: Path) -> None:
    # the candidate in the clip is silent and still-lipped; the speech comes from someone else
    client = CandidateClient(vigil_server.url, FACE_CLIP, audio=shared_data / "audio/speech/librivox_0870.wav",
                             candidate_id="whisper")
    try:
        await client.connect()

        async def other_voice():  # type: ignore[no-untyped-def]
            events = await vigil_server.store.events(client.session_id)
            return [e for e in events if e["kind"] == "event_started" and e["event"]["type"] == "other_voice"]
        assert await eventually(other_voice, 30, "an other_voice event")
    finally:
        await client.close()


async def test_a_missing_microphone_is_reported(vigil_server) -> None:
    client = CandidateClient(vigil_server.url, FACE_CLIP, candidate_id="no-mic", with_audio=False)
    try:
        await client.connect()
        warning = await client.wait_for(lambda m: m.get("type") == "warning" and "microphone" in m["message"],
                                        timeout=15)
        assert warning
        muted = await client.wait_for(lambda m: any(e["type"] == "audio_muted" and e["state"] == "started"
                                                   for e in m.get("events", [])), timeout=20)
        assert muted
        assert (await vigil_server.store.session(client.session_id))["status"] == "live"
    finally:
        await client.close()
