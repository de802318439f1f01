"""The original AI proctoring API's contract, from its description: a WebSocket streaming one session's
events, and the session's PDF report; on a session fed real face photos, against a real server."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from tests.legacy.images import jpeg_b64
from tests.legacy.test_interview_api import MAX_FRAMES, post

#: a hang guard for one WebSocket message, not a measured time
RECEIVE_GUARD_S = 120.0


async def next_event(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=RECEIVE_GUARD_S)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def feed(http: aiohttp.ClientSession, base: str, sid: str, image: str, stop: asyncio.Event) -> int:
    """Post `image` to the session until told to stop (or MAX_FRAMES); the frames posted."""
    for n in range(MAX_FRAMES):
        if stop.is_set():
            return n
        st, result = await post(http, base + "/analyze-frame", {"session_id": sid, "frame": image})
        assert st == 200, result
    return MAX_FRAMES


async def test_the_socket_streams_the_sessions_events_and_the_report_is_a_pdf(vigil_server, shared_data: Path) -> None:
    base = vigil_server.url
    ws_base = base.replace("http://", "ws://")
    two_faces = jpeg_b64(shared_data / "images/multi_face/obama_and_biden.jpg")
    async with aiohttp.ClientSession() as http:
        _, started = await post(http, base + "/start-session", {"candidate_id": "proctored"})
        sid = started["session_id"]
        _, other = await post(http, base + "/start-session", {"candidate_id": "someone-else"})
        async with http.ws_connect(f"{ws_base}/ws/{sid}") as ws, http.ws_connect(f"{ws_base}/ws/{other['session_id']}") as quiet:
            stop = asyncio.Event()
            feeding = asyncio.create_task(feed(http, base, sid, two_faces, stop))
            try:
                seen = [await next_event(ws)]
                while not any(m["event"]["type"] == "multiple_faces" for m in seen):
                    seen.append(await next_event(ws))
            finally:
                stop.set()
                await feeding
            assert all(m["type"] == "event" and m["session_id"] == sid for m in seen), seen
            assert all(m["risk_score"] is not None and m["event"]["state"] == "started" for m in seen), seen
            st, ended = await post(http, base + "/end-session", {"session_id": sid})
            assert st == 200
            # the other session's socket saw none of it: its first message is its own session's first event
            stop = asyncio.Event()
            feeding = asyncio.create_task(feed(http, base, other["session_id"], two_faces, stop))
            try:
                first = await next_event(quiet)
            finally:
                stop.set()
                await feeding
            assert first["session_id"] == other["session_id"] and first["event"]["state"] == "started"

        # a socket opened later replays the stream's events, in order, each once: with the ends of the
        # events the session's end closed (those are logged, not published live: docs/legacy-apis.md)
        stream = [(i["event"]["id"], i["event"]["state"]) for i in await vigil_server.store.events(sid)
                  if i["kind"] in ("event_started", "event_ended")]
        assert len(set(stream)) == len(stream) and len(stream) >= 2
        assert all((event_id, "ended") in stream for event_id, _ in stream)
        async with http.ws_connect(f"{ws_base}/ws/{sid}") as late:
            replay = [await next_event(late) for _ in stream]
        assert [(m["event"]["id"], m["event"]["state"]) for m in replay] == stream
        assert all(m["risk_score"] is None for m in replay)
        # the live socket sent each of those once too
        live = [(m["event"]["id"], m["event"]["state"]) for m in seen]
        assert len(set(live)) == len(live) and set(live) <= set(stream)

        async with http.post(f"{base}/generate_report/{sid}") as resp:
            assert resp.status == 200 and resp.content_type == "application/pdf"
            pdf = await resp.read()
        assert pdf.startswith(b"%PDF") and len(pdf) > 2000
        async with http.post(f"{base}/generate_report/{'0' * 32}") as resp:
            assert resp.status == 404 and (await resp.json())["error"] == "unknown session"
