"""A WHIP publisher (RFC 9725) sends the face clip; the server analyses it at about 5/s with one face.

Debian 12 has no WHIP publisher: GStreamer's `whipsink`/`whipclientsink` live in gst-plugins-rs (not
packaged), and ffmpeg's WHIP muxer arrived in ffmpeg 8 (Debian has 5.1). So the publisher is GStreamer's
stock `webrtcbin` speaking WHIP through tests/interop/gst_publisher.py `--signal whip`: an independent
WebRTC stack with the offer it makes by itself, POSTed as `application/sdp` with the session token as
bearer, the `201` answer applied, and the `Location` DELETEd at the end. Like WHIP publishers it opens
no data channel, so the analyses are read on the server, from the session's channel listeners (what a
watching proctor gets).
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from tests.conftest import FACE_CLIP
from tests.interop.helpers import SKIP_S, WINDOW_S, Measured, gstreamer_missing_reason, run_gstreamer

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def gstreamer() -> None:
    reason = gstreamer_missing_reason()
    if reason:
        pytest.skip(reason)


async def test_whip_publisher_gets_analysed_and_delete_ends_the_session(gstreamer: None, vigil_server) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[float, Any]] = []
    listening: list[asyncio.Task[None]] = []

    def on_message(text: str) -> None:
        message = json.loads(text)
        if message.get("type") == "analysis":
            seen.append((time.monotonic(), message.get("faces")))

    async def listen(sid: str) -> None:
        for _ in range(1500):  # the live session appears with the WHIP offer; bounded at 30 s
            session = vigil_server.sessions.live.get(sid)
            if session is not None:
                session.channel.listeners.add(on_message)
                return
            await asyncio.sleep(0.02)

    async def on_session(sid: str) -> None:
        listening.append(asyncio.ensure_future(listen(sid)))

    result = await run_gstreamer(vigil_server.url, FACE_CLIP, codec="vp8", signal="whip", on_session=on_session)
    assert listening and listening[0].done()
    assert "a=setup:passive" in result["answer"] and f"b=AS:{vigil_server.settings.video_max_kbps}" in result["answer"]
    assert seen, "no analysis of the WHIP publisher's video"
    start = seen[0][0] + SKIP_S  # steady state, as for the other webrtcbin tests (helpers.SKIP_S)
    window = [faces for at, faces in seen if 0 <= at - start <= WINDOW_S]
    Measured(len(window) / WINDOW_S, window).assert_reaches_bar("WHIP publisher (webrtcbin)")
    data = await vigil_server.store.session(result["session_id"])
    assert data is not None and data["status"] == "ended"  # the publisher's DELETE of its Location
