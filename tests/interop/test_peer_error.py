"""A peer whose DTLS fails is reported: the session's status says why (`peer_error`), not only "peer failed".

A real aiortc publisher offers with a certificate fingerprint that is not its certificate's (the one
SDP edit in this suite, to make DTLS fail on purpose): Vigil, the DTLS server, completes the handshake,
finds the fingerprint wrong and fails the transport; the reason aiortc logged reaches the session hash
and the status the client reads.
"""
from __future__ import annotations

import re

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

from tests.conftest import eventually


async def test_dtls_failure_reason_reaches_the_session_status(vigil_server) -> None:  # type: ignore[no-untyped-def]
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("video", direction="sendonly")
        pc.createDataChannel("vigil")
        await pc.setLocalDescription(await pc.createOffer())
        offer = re.sub(r"(a=fingerprint:sha-256 )\S+", lambda m: m.group(1) + ":".join(["AB"] * 32),
                       pc.localDescription.sdp)
        async with aiohttp.ClientSession() as http:
            async with http.post(vigil_server.url + "/api/sessions", json={"candidate_id": "dtls"}) as resp:
                created = await resp.json()
            sid, auth = created["session_id"], {"Authorization": f"Bearer {created['token']}"}
            async with http.post(f"{vigil_server.url}/api/sessions/{sid}/offer", headers=auth,
                                 json={"sdp": offer, "type": "offer"}) as resp:
                assert resp.status == 200, await resp.text()
                answer = await resp.json()
            assert "a=setup:passive" in answer["sdp"]
            await pc.setRemoteDescription(RTCSessionDescription(**answer))

            async def reported() -> str | None:
                data = await vigil_server.store.session(sid)
                return None if data is None else data.get("peer_error")

            reason = await eventually(reported, 20, "peer_error in the session hash")
            assert "DTLS handshake failed" in reason and "fingerprint mismatch" in reason, reason
            async with http.get(f"{vigil_server.url}/api/sessions/{sid}", headers=auth) as resp:
                status = await resp.json()
            assert status["peer_error"] == reason
    finally:
        await pc.close()
