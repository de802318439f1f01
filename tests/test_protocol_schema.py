"""The protocol's models are the contract: the committed JSON Schema is what they generate, and what
a real session sends (data channel, live fan-out, event stream) validates against them."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from server.protocol.datachannel import server_message
from server.protocol.fanout import fanout_message
from server.protocol.schema import REGENERATE, SCHEMA_DIR, stale
from server.protocol.stream import stream_item
from server.store.store import LIVE_CHANNEL
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP, FACE_THEN_EMPTY
from tests.test_accounts import logged_in


def test_the_committed_schema_is_what_the_models_generate() -> None:
    files = stale()
    assert not files, f"{SCHEMA_DIR} is stale ({', '.join(files)}): regenerate it with `{REGENERATE}` and commit"


def test_an_undocumented_or_missing_key_fails_validation() -> None:
    """The session test below can fail: outbound models refuse keys they do not describe."""
    ended = {"type": "ended", "v": 1, "session_id": "s1"}
    server_message.validate_python(ended)
    with pytest.raises(ValidationError):
        server_message.validate_python({**ended, "reason": "new and undocumented"})
    with pytest.raises(ValidationError):
        server_message.validate_python({"type": "warning"})
    with pytest.raises(ValidationError):  # every message carries the channel's version, and only it
        server_message.validate_python({**ended, "v": 2})
    with pytest.raises(ValidationError):
        server_message.validate_python({"type": "ended", "session_id": "s1"})
    with pytest.raises(ValidationError):  # `Absent` keys may be missing, never null
        stream_item.validate_python({"kind": "score", "t": 1.0, "risk": 0.0, "attention": None, "id": None})


class Capture:
    """Every message the live session sends (its listeners get the exact text, whatever happens to
    the peer, so the `ended` sent just before the peer closes is captured too), and the fan-out."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.fanout: list[str] = []

    async def listen(self, redis: Any) -> None:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(LIVE_CHANNEL)
        try:
            while True:
                msg = await pubsub.get_message(timeout=1.0)
                if msg is not None and msg.get("type") == "message":
                    self.fanout.append(msg["data"])
        finally:
            await pubsub.aclose()


async def run_session(server: Any, client: CandidateClient, script: Any) -> tuple[Capture, list[dict[str, Any]]]:
    """Connect, record what the session sends while `script(client)` runs, end it, and return the
    capture and the session's event stream as an admin reads it."""
    capture = Capture()
    listener = asyncio.get_running_loop().create_task(capture.listen(server.store.redis))
    try:
        await client.connect()
        server.sessions.live[client.session_id].listeners.add(capture.sent.append)
        await script(client)
        await client.end()
    finally:
        await client.close()
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    _, token = await logged_in(server, "admin")
    async with aiohttp.ClientSession() as http, http.get(
            f"{server.url}/api/sessions/{client.session_id}/events",
            headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    assert body["session_id"] == client.session_id
    return capture, body["events"]


def check(client: CandidateClient, capture: Capture, items: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """Validate everything; returns the message types and the stream kinds seen."""
    received = [r.message for r in client.messages]
    assert received, "the client received nothing"
    for message in received + [json.loads(text) for text in capture.sent]:
        server_message.validate_python(message)
    for text in capture.fanout:
        fanout_message.validate_json(text)
    for item in items:
        stream_item.validate_python(item)
    types = {json.loads(text)["type"] for text in capture.sent}
    # the answer to the client's own hello goes to its channel only, not to the session's listeners
    assert {m["type"] for m in received} - {"welcome"} <= types
    assert [m["type"] for m in received].count("welcome") == 1
    return types, {item["kind"] for item in items}


async def test_a_session_with_speech_and_calibration_sends_only_documented_messages(
        vigil_server, shared_data: Path) -> None:
    client = CandidateClient(vigil_server.url, FACE_CLIP, audio=shared_data / "audio/speech/librivox_0870.wav",
                             candidate_id="schema-speech")

    async def script(client: CandidateClient) -> None:
        await client.wait_for(lambda m: m.get("type") == "analysis" and m.get("faces") == 1, timeout=20)
        client.send({"type": "browser", "event": "paste"})
        client.send({"type": "calibration.start", "points": 5, "screen_w": 1536, "screen_h": 864, "dpr": 1.25})
        await client.wait_for(lambda m: m.get("type") == "calibration.result", timeout=40)
        n = len(client.messages)
        client.send({"type": "calibration.recentre"})
        await client.wait_for(lambda m: m.get("type") == "calibration.result" and m["mode"] == "recentre",
                              timeout=20, after=n)

    capture, items = await run_session(vigil_server, client, script)
    types, kinds = check(client, capture, items)
    assert {"analysis", "calibration.target", "calibration.result", "ended"} <= types
    assert {"event_started", "browser", "score", "verdict", "speech_started"} <= kinds
    assert any(json.loads(t)["type"] == "status" for t in capture.fanout)
    assert any(json.loads(t)["type"] == "events" for t in capture.fanout)


async def test_a_session_without_a_microphone_and_an_empty_scene_sends_only_documented_messages(
        vigil_server) -> None:
    client = CandidateClient(vigil_server.url, FACE_THEN_EMPTY, candidate_id="schema-nomic", with_audio=False)

    async def script(client: CandidateClient) -> None:
        await client.wait_for(lambda m: m.get("type") == "analysis" and any(
            e["type"] == "no_face" and e["state"] == "started" for e in m.get("events", [])), timeout=25)

    capture, items = await run_session(vigil_server, client, script)
    types, kinds = check(client, capture, items)
    assert {"analysis", "warning", "ended"} <= types
    assert {"event_started", "event_ended", "verdict"} <= kinds
    assert kinds & {"evidence", "evidence_skipped", "evidence_error"}
