"""Checks of a candidate's SDP offer before the session's peer is touched: what no candidate would send
is refused (400), and so is what aiortc cannot negotiate, found out on a throwaway peer."""
from __future__ import annotations

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from server.protocol.errors import ApiError


async def check_negotiable(sdp: str) -> None:
    """Refuse an offer aiortc cannot negotiate (SDP it cannot parse, a video m-line without a
    codec it can receive), on a throwaway peer: a failed resume must not stop the working one."""
    probe = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        await probe.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
    except Exception as exc:
        raise ApiError(400, "could not negotiate this offer", str(exc)[:300]) from None
    finally:
        await probe.close()


def check_offer(sdp: str) -> None:
    """Refuse offers that cannot be a candidate's: no video, or not SDP at all."""
    if not sdp.startswith("v=0"):
        raise ApiError(400, "offer is not SDP (must start with v=0)", code="invalid_offer")
    if "\nm=video " not in sdp.replace("\r\n", "\n"):
        raise ApiError(400, "offer has no video track", {"hint": "send the camera track (and audio, and a 'vigil' data channel)"}, code="invalid_offer")
