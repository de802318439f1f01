"""A stock GStreamer `webrtcbin` (Debian's 1.22) publishes the face clip to Vigil; analyses come back.

webrtcbin is an independent WebRTC stack (libnice, OpenSSL DTLS with an RSA certificate, its own SDP):
its stock offer says `a=setup:actpass`, bundles, and is sent once ICE gathering completes. Before issue
23 it never connected (aiortc as DTLS client offered only ECDSA suites). Now Vigil answers as the DTLS
server, and the publisher gets about 5 analyses a second with one face, in VP8 and in H.264; the
answer carries the video bitrate cap, which the publisher applies to its encoder (webrtcbin leaves
encoders to the application).

The publisher runs under Debian's /usr/bin/python3 (python3-gi), as a subprocess: tests/interop/gst_publisher.py.
"""
from __future__ import annotations

import pytest

from tests.conftest import FACE_CLIP
from tests.interop.helpers import Measured, gstreamer_missing_reason, run_gstreamer

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def gstreamer() -> None:
    reason = gstreamer_missing_reason()
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize("codec", ["vp8", "h264"])
async def test_webrtcbin_gets_analyses_with_one_face(gstreamer: None, vigil_server, codec: str) -> None:  # type: ignore[no-untyped-def]
    result = await run_gstreamer(vigil_server.url, FACE_CLIP, codec=codec, signal="json")
    answer = result["answer"]
    assert "a=setup:passive" in answer and "a=setup:active" not in answer  # Vigil is the DTLS server
    cap = vigil_server.settings.video_max_kbps
    assert f"b=TIAS:{cap * 1000}" in answer and result["encoder_kbps"] == cap
    Measured(result["rate"], result["faces"]).assert_reaches_bar(f"webrtcbin {codec}")
    data = await vigil_server.store.session(result["session_id"])
    assert data is not None and data["status"] in ("live", "disconnected") and "peer_error" not in data
