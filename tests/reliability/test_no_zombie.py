"""No zombie: a resume that cannot be negotiated is refused before the working peer is touched."""
from __future__ import annotations

import re
from typing import Any

from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP


def _is_analysis(m: dict[str, Any]) -> bool:
    return m.get("type") == "analysis"


def _video_without_usable_codec(sdp: str) -> str:
    """The offer with every codec of its video m-line renamed to one nobody knows."""
    head, video = sdp.split("m=video", 1)
    video, sep, rest = video.partition("\r\nm=")
    video = re.sub(r"(a=rtpmap:\d+ )(VP8|H264|VP9|AV1)/", r"\1X-UNKNOWN/", video)
    return head + "m=video" + video + sep + rest


async def test_a_bad_resume_is_refused_and_the_session_keeps_streaming(vigil_server, ledger) -> None:
    client = CandidateClient(vigil_server.url, FACE_CLIP, candidate_id="bad-resume")
    try:
        await client.connect()
        await client.wait_for(_is_analysis, timeout=20)
        assert client.pc is not None and client.http is not None
        bad = _video_without_usable_codec(client.pc.localDescription.sdp)
        assert "X-UNKNOWN/" in bad and "VP8/" not in bad.split("m=video", 1)[1].split("\r\nm=")[0]
        async with client.http.post(f"{client.base_url}/api/sessions/{client.session_id}/resume",
                                    json={"sdp": bad, "type": "offer"},
                                    headers={"Authorization": f"Bearer {client.token}"}) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"] == "could not negotiate this offer"
        ledger.tried("resume_without_usable_codec")
        mark = len(client.messages)
        await client.wait_for(_is_analysis, timeout=10, after=mark)  # the working peer was not touched
        assert (await vigil_server.store.session(client.session_id))["status"] == "live"
        summary = await client.end()
        assert summary["session_id"] == client.session_id
    finally:
        await client.close()
