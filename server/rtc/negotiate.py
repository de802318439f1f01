"""Answering a publisher's offer: the DTLS role that interoperates, the video bitrate Vigil asks for,
and why a peer failed.

**DTLS role.** For an `a=setup:actpass` offer (every conformant initial offer, RFC 8842) aiortc 1.16
answers `a=setup:active` and becomes the DTLS client; its client offers only ECDHE-ECDSA suites, so a
DTLS server with an RSA certificate (GStreamer's `webrtcbin`, and others) answers `no shared cipher`
and the peer never connects. We answer `a=setup:passive` instead: the publisher is the DTLS client,
aiortc the server with its ECDSA certificate, and any client's suite list includes ECDHE-ECDSA
(browsers, GStreamer, libwebrtc-based WHIP publishers). aiortc takes the role from the answer we give
`setLocalDescription`, so this is an edit of the answer's text, no private name. Only an offer that
itself says `a=setup:passive` still makes aiortc the client. Remove when aiortc's DTLS client offers
ECDHE-RSA suites again (aiortc issues #1392, #1421).

**Bitrate.** Analysis samples `VIGIL_ANALYSIS_FPS` frames a second at 640x480, and the server decodes
every frame it receives: past about 500 kbit/s of VP8 a busy worker's decoder falls behind (issue 23).
The answer's video sections carry `b=AS` (kbit/s) and `b=TIAS` (bit/s, RFC 3890) with the cap, and
each video receiver's REMB is clamped to it (`aiortc_private.cap_remb`) for senders that follow REMB.
What each sender honours is in docs/media.md. aiortc does not parse `b=` lines, so they are added to
the final answer text, after `setLocalDescription`.

**Failure reasons.** An ICE or DTLS transport that fails calls `on_failure` with why (the DTLS reason
comes from aiortc's log line, `aiortc_private.take_dtls_failure`), and logs it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription

from server.rtc import aiortc_private

log = logging.getLogger(__name__)

OnFailure = Callable[[str], None]


# -- SDP text (pure) -------------------------------------------------------------------------------

def _sections(sdp: str) -> list[list[str]]:
    """The session section, then one list of lines per `m=` section (line endings dropped)."""
    sections: list[list[str]] = [[]]
    for line in sdp.replace("\r\n", "\n").split("\n"):
        if line.startswith("m="):
            sections.append([])
        if line:
            sections[-1].append(line)
    return sections


def _join(sections: list[list[str]]) -> str:
    return "".join(line + "\r\n" for section in sections for line in section)


def _setup(lines: list[str]) -> str | None:
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("a=setup:")), None)


def answer_as_dtls_server(offer: str, answer: str) -> str:
    """`answer` with `a=setup:passive` in every media section whose offer said `actpass` (the
    section's own `a=setup`, else the session's): the publisher is then the DTLS client."""
    offered = _sections(offer)
    session_setup = _setup(offered[0])
    out = _sections(answer)
    for index, section in enumerate(out[1:], start=1):
        offer_setup = (_setup(offered[index]) if index < len(offered) else None) or session_setup
        if offer_setup == "actpass":
            out[index] = ["a=setup:passive" if line == "a=setup:active" else line for line in section]
    return _join(out)


def cap_video_bitrate(answer: str, max_kbps: int) -> str:
    """`answer` with `b=AS:<kbit/s>` and `b=TIAS:<bit/s>` in each accepted video section, after its
    `c=` line (RFC 4566 order: m, i, c, b, k, a), replacing any `b=` lines it had."""
    out = _sections(answer)
    for index, section in enumerate(out[1:], start=1):
        media = section[0].split()
        if media[0] != "m=video" or media[1] == "0":
            continue
        kept = [line for line in section if not line.startswith("b=")]
        at = next((i + 1 for i, line in enumerate(kept) if line.startswith("c=")), 1)
        out[index] = [*kept[:at], f"b=AS:{max_kbps}", f"b=TIAS:{max_kbps * 1000}", *kept[at:]]
    return _join(out)


# -- the answer ------------------------------------------------------------------------------------

async def answer(pc: RTCPeerConnection, offer_sdp: str, *, video_max_kbps: int, on_failure: OnFailure) -> str:
    """Apply `offer_sdp` to `pc` and return the answer's SDP (all candidates gathered: no trickle).

    `on_failure(reason)` is called once if the peer's ICE or DTLS transport fails."""
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
    for receiver in pc.getReceivers():
        aiortc_private.cap_remb(receiver, video_max_kbps * 1000)  # audio receivers send no REMB
    _watch_transports(pc, on_failure)
    proposed = await pc.createAnswer()
    local = answer_as_dtls_server(offer_sdp, proposed.sdp)
    await pc.setLocalDescription(RTCSessionDescription(sdp=local, type="answer"))  # gathers candidates
    return cap_video_bitrate(pc.localDescription.sdp, video_max_kbps)


def _dtls_transports(pc: RTCPeerConnection) -> list[Any]:
    """The peer's distinct DTLS transports (one when the offer bundles, as publishers do)."""
    found = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        found.append(pc.sctp.transport)
    return list({id(t): t for t in found}.values())


def _watch_transports(pc: RTCPeerConnection, on_failure: OnFailure) -> None:
    reported = False

    def report(reason: str) -> None:
        nonlocal reported
        if not reported:
            reported = True
            log.warning("peer failed: %s", reason)
            on_failure(reason)

    for dtls in _dtls_transports(pc):
        ice = dtls.transport

        def on_dtls_state(dtls: Any = dtls) -> None:  # synchronous: the reason was logged just before
            if dtls.state == "failed":
                report(aiortc_private.take_dtls_failure() or "DTLS handshake failed (aiortc gave no reason)")

        def on_ice_state(ice: Any = ice) -> None:
            if ice.state == "failed":
                report("ICE failed: no candidate pair connected (check the candidates, TURN, firewalls)")

        dtls.on("statechange", on_dtls_state)
        ice.on("statechange", on_ice_state)
