"""The data channel's versions over a real aiortc peer and a real Vigil (real Valkey, real models):
a `hello` gets a `welcome`, every message carries `v`, a version the server does not speak gets a
clear `error`, and a client older than the hello keeps working."""
from __future__ import annotations

import json
from importlib.metadata import version

from server.protocol.datachannel import server_message
from server.protocol.versions import DC_VERSION
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP


def _is(kind: str):  # type: ignore[no-untyped-def]
    return lambda m: m.get("type") == kind


async def test_hello_gets_a_welcome_and_every_message_carries_v(vigil_server) -> None:
    client = CandidateClient(vigil_server.url, FACE_CLIP, candidate_id="hello", with_audio=False)
    try:
        await client.connect()
        welcome = (await client.wait_for(_is("welcome"), timeout=10)).message
        assert welcome == {"type": "welcome", "v": DC_VERSION, "session_id": client.session_id,
                           "server_version": version("vigil"), "versions": [DC_VERSION],
                           "features": welcome["features"]}
        assert {"analysis", "calibration"} <= set(welcome["features"])
        assert client.welcome == welcome
        await client.wait_for(_is("warning"), timeout=15)  # no microphone: microphone_missing
        await client.wait_for(_is("analysis"), timeout=15)
        await client.end()
        await client.wait_for(_is("ended"), timeout=10)
    finally:
        await client.close()
    received = [r.message for r in client.messages]
    assert {"welcome", "warning", "analysis", "ended"} <= {m["type"] for m in received}
    for message in received:
        assert message["v"] == DC_VERSION, message
        assert list(message)[:2] == ["type", "v"], message
        server_message.validate_python(message)


async def test_a_version_the_server_does_not_speak_gets_a_clear_error(vigil_server) -> None:
    client = CandidateClient(vigil_server.url, FACE_CLIP, candidate_id="future", with_audio=False, hello=False)
    try:
        await client.connect()
        client.send({"type": "hello", "v": 7, "versions": [7, 8], "client": "from the future"})
        error = (await client.wait_for(_is("error"), timeout=10)).message
        assert error == {"type": "error", "v": DC_VERSION, "code": "unsupported_version", "versions": [DC_VERSION],
                         "message": f"this server speaks data-channel version {DC_VERSION}, not 7, 8"}
        server_message.validate_python(error)
        # a hello that offers ours among others gets ours
        client.send({"type": "hello", "v": 7, "versions": [7, DC_VERSION]})
        assert (await client.wait_for(_is("welcome"), timeout=10)).message["v"] == DC_VERSION
    finally:
        await client.close()


async def test_a_client_without_hello_or_v_keeps_working(vigil_server) -> None:
    client = CandidateClient(vigil_server.url, FACE_CLIP, candidate_id="old-page", with_audio=False, hello=False)
    try:
        await client.connect()
        await client.wait_for(_is("analysis"), timeout=15)
        client.channel.send(json.dumps({"type": "browser", "event": "paste"}))  # as pages before the hello
        await client.wait_for(lambda m: m.get("type") == "analysis" and any(
            e["type"] == "paste" for e in m["events"]), timeout=15)
    finally:
        await client.close()
    assert client.welcome is None and not [r for r in client.messages if r.message["type"] == "welcome"]
    assert all(r.message["v"] == DC_VERSION for r in client.messages)
