"""The browser signals added for the embeddable client (copy, the window's focus, a second screen) sent
by a real aiortc candidate on the `vigil` data channel: each becomes its event on the channel and in the
session's event stream, as `paste` and `visibility_hidden` do."""
from __future__ import annotations

from typing import Any

from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP


def changed(message: dict[str, Any], kind: str, state: str) -> bool:
    return message.get("type") == "analysis" and any(
        e["type"] == kind and e["state"] == state for e in message.get("events", []))


async def test_copy_focus_and_second_screen_become_their_events(vigil_server) -> None:
    client = CandidateClient(vigil_server.url, FACE_CLIP, candidate_id="signals", with_audio=False)
    try:
        await client.connect()
        await client.wait_for(lambda m: m.get("type") == "analysis", timeout=20)
        for event in ("copy", "second_screen"):
            client.send({"type": "browser", "event": event})
            await client.wait_for(lambda m, event=event: changed(m, event, "started"), timeout=10)
        client.send({"type": "browser", "event": "focus_lost"})
        # a state: it opens once it has held for its debounce, and stays open until focus returns
        await client.wait_for(lambda m: changed(m, "focus_lost", "started"), timeout=15)
        client.send({"type": "browser", "event": "focus_regained"})
        await client.wait_for(lambda m: changed(m, "focus_lost", "ended"), timeout=10)
        await client.end()
        sid = client.session_id
    finally:
        await client.close()
    assert sid is not None
    items = await vigil_server.store.events(sid)
    signals = [i["event"] for i in items if i["kind"] == "browser"]
    assert signals == ["copy", "second_screen", "focus_lost", "focus_regained"]
    started = [i["event"] for i in items if i["kind"] == "event_started"]
    by_type = {e["type"]: e for e in started}
    assert {"copy", "second_screen", "focus_lost"} <= set(by_type)
    assert by_type["copy"]["severity"] == "low" and by_type["copy"]["end"] == by_type["copy"]["start"]
    assert by_type["second_screen"]["severity"] == "medium"
    ended = [i["event"] for i in items if i["kind"] == "event_ended"]
    assert any(e["type"] == "focus_lost" and e["end"] > e["start"] for e in ended)
