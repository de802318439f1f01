"""Every reach into aiortc's (and aioice's) private names, in one module that checks itself at start.

aiortc 1.16 (pinned in pyproject.toml) does not expose what bounded latency needs: its decode queue
(to shed a backlog), its ICE sockets (to bound their receive buffers), its video jitter buffer (to
complete frames on the marker bit), its REMB estimate (to cap the bitrate it asks for), why a DTLS
handshake failed (to tell the client), and, for scripted test clients, the RTP timestamp origin and keyframe requests. Each
private name has one accessor below, with why we need it and when it can go; nothing else in Vigil
touches them.

`check()` verifies that every name still exists with the shape we use, without a live peer: an
attribute set in `__init__` appears (name-mangled for `__x`) in that code object's `co_names`, a
method or a module global is looked up and its parameters compared. `install()` runs it at worker
start (`server/cli/serve.py`, and `tests/conftest.py` the same way), so an aiortc upgrade that moves one
fails loudly at start, naming it, instead of silently at run time (a `getattr(..., None)` that
quietly stops shedding).
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import queue
import sys
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import aioice.ice
import aiortc
import aiortc.jitterbuffer
import aiortc.rtcdtlstransport
import aiortc.rtcicetransport
import aiortc.rtcpeerconnection
import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.jitterbuffer import JitterBuffer, JitterFrame

from server.rtc.jitter import complete_frame


class AiortcChanged(RuntimeError):
    """aiortc (or aioice) no longer has a private name Vigil relies on."""


@dataclass(frozen=True)
class Modules:
    """The modules whose private names we use (a unit test passes fakes)."""

    receiver: ModuleType = aiortc.rtcrtpreceiver
    sender: ModuleType = aiortc.rtcrtpsender
    jitterbuffer: ModuleType = aiortc.jitterbuffer
    peerconnection: ModuleType = aiortc.rtcpeerconnection
    icetransport: ModuleType = aiortc.rtcicetransport
    ice: ModuleType = aioice.ice
    dtlstransport: ModuleType = aiortc.rtcdtlstransport


# -- decode backlog (server/rtc/decode_guard.py) ---------------------------------------------------
# Why: aiortc decodes every received frame in a thread fed by an unbounded queue; under overload it
# grows without bound and so does latency. We empty it on a shed and before a peer closes.
# Until: aiortc bounds the decoder queue or lets a receiver drop frames (not in 1.16).

def decoder_queue(receiver: Any) -> queue.Queue[Any] | None:
    """`RTCRtpReceiver.__decoder_queue`: encoded frames for the decoder thread; None stops it."""
    pending: queue.Queue[Any] | None = getattr(receiver, "_RTCRtpReceiver__decoder_queue", None)
    return pending


def decoded_frames(track: Any) -> deque[Any] | None:
    """`RemoteStreamTrack._queue._queue`: decoded frames waiting for `recv()` (None ends the track).

    The inner name is asyncio.Queue's deque (CPython 3.11, pinned by requires-python)."""
    return getattr(getattr(track, "_queue", None), "_queue", None)


async def request_keyframe(receiver: Any, ssrc: int) -> None:
    """`RTCRtpReceiver._send_rtcp_pli`: ask the sender for a keyframe (RTCP PLI) after a shed.

    Until: aiortc exposes a public keyframe request on the receiver."""
    await receiver._send_rtcp_pli(ssrc)


# -- ICE sockets (server/rtc/socket_buffers.py) -----------------------------------------------------
# Why: RTP waiting in a socket's receive buffer is latency; we set SO_RCVBUF small so the kernel
# drops instead. aiortc does not expose its sockets.
# Until: aiortc/aioice accept socket options (or a receive-buffer size) in RTCConfiguration.

def ice_transports(pc: Any) -> Iterable[Any]:
    """`RTCPeerConnection.__iceTransports`: the peer's ICE transports."""
    transports: Iterable[Any] = getattr(pc, "_RTCPeerConnection__iceTransports", set())
    return transports


def ice_connection(ice_transport: Any) -> Any:
    """`RTCIceTransport._connection`: the aioice `Connection` under an ICE transport."""
    return getattr(ice_transport, "_connection", None)


def stun_protocols(connection: Any) -> list[Any]:
    """`aioice.Connection._protocols`: one `StunProtocol` per local candidate socket; each has a
    public `transport` (an asyncio DatagramTransport) once its socket is open."""
    protocols: list[Any] = getattr(connection, "_protocols", [])
    return protocols


# -- marker-bit jitter buffer (server/rtc/jitter.py) -------------------------------------------------
# Why: aiortc completes a video frame only when the next frame's first packet arrives: one frame
# interval of latency. We subclass its JitterBuffer, override `_remove_frame` (reading its ring of
# packets and the depayloaded `_data` the receiver stores on each packet), and make the receiver
# module build ours for video.
# Until: aiortc completes frames on the RTP marker bit itself.

def _packet_payload(packet: Any) -> bytes:
    """`RtpPacket._data`: the depayloaded bytes `RTCRtpReceiver._handle_rtp_packet` stores."""
    data: bytes = packet._data
    return data


class MarkerJitterBuffer(JitterBuffer):
    """aiortc's buffer, emitting a video frame at its marked last packet (`jitter.complete_frame`)."""

    def _slot(self, count: int) -> Any:
        assert self._origin is not None  # set by the first `add`, which calls `_remove_frame`
        return self._packets[(self._origin + count) % self.capacity]

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        found = complete_frame(self._slot, self.capacity)
        if found is None:
            return None
        count, packets = found
        self.remove(count)
        return JitterFrame(data=b"".join(_packet_payload(p) for p in packets), timestamp=packets[0].timestamp)


def _jitter_buffer(capacity: int, prefetch: int = 0, is_video: bool = False) -> JitterBuffer:
    cls = MarkerJitterBuffer if is_video and prefetch == 0 else JitterBuffer
    return cls(capacity=capacity, prefetch=prefetch, is_video=is_video)


def _install_marker_jitter_buffer() -> None:
    """`aiortc.rtcrtpreceiver.JitterBuffer`: the name receivers build their buffer from. Idempotent."""
    aiortc.rtcrtpreceiver.JitterBuffer = _jitter_buffer  # type: ignore[assignment, misc]


# -- RTP timestamp origin (server/tools/candidate/, scripted clients only) ---------------------------
# Why: end-to-end latency needs the server's `frame_pts` to equal the pts the client gave the frame;
# aiortc's sender starts RTP timestamps at a random origin. Test clients only, never a server.
# Until: aiortc lets a sender choose its timestamp origin.

def zero_rtp_origin() -> None:
    """Make this process's aiortc senders start RTP timestamps at 0 instead of a random value.

    aiortc draws the origin with `random32()` inside `RTCRtpSender._run_rtp`; we answer 0 to that
    one caller (SSRCs and everything else stay random). A test-client device, not for servers.
    """
    sender = aiortc.rtcrtpsender
    if getattr(sender.random32, "_vigil_zero_origin", False):
        return
    original = sender.random32

    def random32() -> int:
        if sys._getframe(1).f_code.co_name == "_run_rtp":
            return 0
        return original()

    random32._vigil_zero_origin = True  # type: ignore[attr-defined]
    sender.random32 = random32


# -- keyframe requests to a replaying sender (server/tools/candidate/encoded_media.py) --------------
# Why: a scripted client that sends pre-encoded packets cannot encode a keyframe when the server asks
# for one (PLI/FIR); aiortc records the request only in the sender's private flag, which its encoder
# path reads and clears. We read and clear it, so the replaying track jumps to its next keyframe.
# Until: aiortc tells a track about keyframe requests (not in 1.16).

def take_keyframe_request(sender: Any) -> bool:
    """Whether a keyframe was requested of `sender` since the last call (the request is cleared)."""
    requested = bool(getattr(sender, "_RTCRtpSender__force_keyframe", False))
    if requested:
        sender._RTCRtpSender__force_keyframe = False
    return requested


# -- fixed encoder bitrate (server/tools/candidate/, scripted clients only) ---------------------------
# Why: a load test must send what production sends. Browsers under Vigil's cap send at the cap
# (`VIGIL_VIDEO_MAX_KBPS`, 500 kbit/s by default; about 800 kbit/s at 640x480 without one), while aiortc's
# encoder starts at 500 kbit/s and then follows the server's REMB estimate (issue 23 measured ~416).
# We wrap `aiortc.rtcrtpsender.get_encoder` (called by `RTCRtpSender._next_encoded_frame`) so the video
# encoders of this process keep one target bitrate: the REMB setter is ignored, and the encoder's own
# `__target_bitrate` (read directly for VP8's `bufsize`) is set once. Test-client device, not for servers.
# Until: aiortc lets a sender set its encoder's bitrate (RTCRtpEncodingParameters.maxBitrate).

_FIXED_BITRATE_ATTRIBUTES = {"Vp8Encoder": "_Vp8Encoder__target_bitrate", "H264Encoder": "_H264Encoder__target_bitrate"}


def _fixed_bitrate_class(cls: type, bps: int) -> type:
    def get(self: Any) -> int:
        return bps

    def ignore(self: Any, bitrate: int) -> None:  # REMB: the load test's stream stays as asked
        return None

    return type(f"Fixed{cls.__name__}", (cls,), {"target_bitrate": property(get, ignore)})


def fix_encoder_bitrate(bps: int | None) -> None:
    """Make this process's aiortc VP8 and H.264 encoders created from now on send at `bps`, whatever
    REMB says; None restores aiortc's own. The last call in a process wins (the load test gives all
    clients of a run one rate)."""
    sender = aiortc.rtcrtpsender
    original = getattr(sender.get_encoder, "_vigil_original", sender.get_encoder)
    if bps is None:
        sender.get_encoder = original
        return

    def get_encoder(codec: Any) -> Any:
        encoder = original(codec)
        attribute = _FIXED_BITRATE_ATTRIBUTES.get(type(encoder).__name__)
        if attribute is not None:
            setattr(encoder, attribute, bps)
            encoder.__class__ = _fixed_bitrate_class(type(encoder), bps)
        return encoder

    get_encoder._vigil_original = original  # type: ignore[attr-defined]
    sender.get_encoder = get_encoder


# -- REMB ceiling (server/rtc/negotiate.py) -----------------------------------------------------------
# Why: the answer's `b=AS`/`b=TIAS` cap the video bitrate for senders that read them; senders that adapt
# to REMB instead (libwebrtc-based publishers when only goog-remb is negotiated, as with aiortc, which
# has no transport-cc) take aiortc's estimate, which grows past what we analyse. We clamp the estimate
# each video receiver reports: `RTCRtpReceiver.__remote_bitrate_estimator.add()` returns
# `(bitrate, ssrcs)` for the REMB it sends.
# Until: aiortc lets a receiver set a maximum bitrate for its REMB.

class _CappedEstimator:
    """aiortc's RemoteBitrateEstimator whose REMB never exceeds `max_bps`."""

    def __init__(self, inner: Any, max_bps: int) -> None:
        self._inner = inner
        self._max_bps = max_bps

    def add(self, arrival_time_ms: int, abs_send_time: int, payload_size: int,
            ssrc: int) -> tuple[int, list[int]] | None:
        estimate = self._inner.add(arrival_time_ms=arrival_time_ms, abs_send_time=abs_send_time,
                                   payload_size=payload_size, ssrc=ssrc)
        if estimate is None:
            return None
        bitrate, ssrcs = estimate
        return min(bitrate, self._max_bps), ssrcs


def cap_remb(receiver: Any, max_bps: int) -> bool:
    """Clamp the REMB a video receiver sends to `max_bps`; False for a receiver without one (audio)."""
    name = "_RTCRtpReceiver__remote_bitrate_estimator"
    inner = getattr(receiver, name, None)
    if inner is None:
        return False
    if isinstance(inner, _CappedEstimator):
        inner = inner._inner
    setattr(receiver, name, _CappedEstimator(inner, max_bps))
    return True


# -- DTLS failure reasons (server/rtc/negotiate.py) ------------------------------------------------
# Why: when a DTLS handshake fails, aiortc moves the transport to `failed` and says why only in a DEBUG
# line of its `aiortc.rtcdtlstransport` logger ("x DTLS handshake failed (error ...)"), just before the
# state change, in the same synchronous step. A filter on that logger keeps the latest reason (and lets
# through only the records the logger's configured level would have let through), and the transport's
# `statechange` listener takes it at once. Single-threaded event loop: no other failure comes between.
# Until: aiortc's RTCDtlsTransport exposes why it failed.

_DTLS_LOGGER = "aiortc.rtcdtlstransport"
_DTLS_FAILED = "x DTLS handshake failed"


class _DtlsFailureFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.latest: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _DTLS_FAILED in message:
            role = "server" if "(server)" in message.split(_DTLS_FAILED, 1)[0] else "client"
            detail = message.split(_DTLS_FAILED, 1)[1].strip()
            self.latest = f"DTLS handshake failed {detail} with Vigil as the DTLS {role}".replace("  ", " ")
        parent = logging.getLogger(_DTLS_LOGGER.rsplit(".", 1)[0])
        return record.levelno >= parent.getEffectiveLevel()


_dtls_failures = _DtlsFailureFilter()


def _install_dtls_failure_filter() -> None:
    """Idempotent: one filter on aiortc's DTLS logger, which now creates its DEBUG records for it."""
    logger = logging.getLogger(_DTLS_LOGGER)
    if _dtls_failures not in logger.filters:
        logger.addFilter(_dtls_failures)
    logger.setLevel(logging.DEBUG)


def take_dtls_failure() -> str | None:
    """The reason of the DTLS failure aiortc just logged (once), or None when it logged none."""
    reason, _dtls_failures.latest = _dtls_failures.latest, None
    return reason


def _logs_constant(function: Any, prefix: str) -> bool:
    code = getattr(function, "__code__", None)
    return code is not None and any(isinstance(c, str) and prefix in c for c in code.co_consts)


# -- the check ------------------------------------------------------------------------------------

def _sets(cls: Any, method: str, attribute: str) -> bool:
    """`cls.method` exists and its code names `attribute` (as `self.attribute = ...` would)."""
    code = getattr(getattr(cls, method, None), "__code__", None)
    return code is not None and attribute in code.co_names


def _takes(function: Any, *parameters: str) -> bool:
    """`function` exists and its parameters start with `parameters` (after `self`)."""
    if not callable(function):
        return False
    names = list(inspect.signature(function).parameters)
    return names[1:1 + len(parameters)] == list(parameters)


@dataclass(frozen=True)
class PrivateName:
    name: str
    used_for: str
    present: Callable[[Modules], bool]


PRIVATE_NAMES: tuple[PrivateName, ...] = (
    PrivateName("aiortc.rtcrtpreceiver.RTCRtpReceiver.__decoder_queue", "shed the decode backlog",
                lambda m: _sets(m.receiver.RTCRtpReceiver, "__init__", "_RTCRtpReceiver__decoder_queue")),
    PrivateName("aiortc.rtcrtpreceiver.RemoteStreamTrack._queue", "drop decoded frames on a shed",
                lambda m: _sets(m.receiver.RemoteStreamTrack, "__init__", "_queue")),
    PrivateName("asyncio.Queue._queue", "drop decoded frames on a shed",
                lambda m: _sets(asyncio.Queue, "_init", "_queue")),
    PrivateName("aiortc.rtcrtpreceiver.RTCRtpReceiver._send_rtcp_pli(media_ssrc)", "request a keyframe",
                lambda m: _takes(getattr(m.receiver.RTCRtpReceiver, "_send_rtcp_pli", None), "media_ssrc")),
    PrivateName("aiortc.rtcpeerconnection.RTCPeerConnection.__iceTransports", "bound ICE socket buffers",
                lambda m: _sets(m.peerconnection.RTCPeerConnection, "__init__",
                                "_RTCPeerConnection__iceTransports")),
    PrivateName("aiortc.rtcicetransport.RTCIceTransport._connection", "bound ICE socket buffers",
                lambda m: _sets(m.icetransport.RTCIceTransport, "__init__", "_connection")),
    PrivateName("aioice.ice.Connection._protocols", "bound ICE socket buffers",
                lambda m: _sets(m.ice.Connection, "__init__", "_protocols")),
    PrivateName("aioice.ice.StunProtocol.transport", "bound ICE socket buffers",
                lambda m: _sets(m.ice.StunProtocol, "connection_made", "transport")),
    PrivateName("aiortc.rtcrtpreceiver.JitterBuffer (built by RTCRtpReceiver.__init__)",
                "install the marker-bit jitter buffer",
                lambda m: m.receiver.JitterBuffer is not None
                and _sets(m.receiver.RTCRtpReceiver, "__init__", "JitterBuffer")),
    PrivateName("aiortc.jitterbuffer.JitterBuffer(capacity, prefetch, is_video)",
                "install the marker-bit jitter buffer",
                lambda m: _takes(m.jitterbuffer.JitterBuffer.__init__, "capacity", "prefetch", "is_video")),
    PrivateName("aiortc.jitterbuffer.JitterBuffer._remove_frame(sequence_number)",
                "complete video frames on the marker bit",
                lambda m: _takes(getattr(m.jitterbuffer.JitterBuffer, "_remove_frame", None), "sequence_number")
                and _takes(getattr(m.jitterbuffer.JitterBuffer, "remove", None), "count")),
    PrivateName("aiortc.jitterbuffer.JitterBuffer._packets and ._origin",
                "complete video frames on the marker bit",
                lambda m: _sets(m.jitterbuffer.JitterBuffer, "__init__", "_packets")
                and _sets(m.jitterbuffer.JitterBuffer, "__init__", "_origin")),
    PrivateName("aiortc.rtp.RtpPacket._data (set by RTCRtpReceiver._handle_rtp_packet)",
                "complete video frames on the marker bit",
                lambda m: _sets(m.receiver.RTCRtpReceiver, "_handle_rtp_packet", "_data")),
    PrivateName("aiortc.rtcrtpsender.random32 (called by RTCRtpSender._run_rtp)",
                "start scripted clients' RTP timestamps at 0",
                lambda m: callable(getattr(m.sender, "random32", None))
                and _sets(m.sender.RTCRtpSender, "_run_rtp", "random32")),
    PrivateName("aiortc.rtcrtpsender.RTCRtpSender.__force_keyframe (set by _send_keyframe)",
                "answer scripted clients' keyframe requests from pre-encoded packets",
                lambda m: _sets(m.sender.RTCRtpSender, "_send_keyframe", "_RTCRtpSender__force_keyframe")
                and _sets(m.sender.RTCRtpSender, "__init__", "_RTCRtpSender__force_keyframe")),
    PrivateName("aiortc.rtcrtpsender.get_encoder (called by RTCRtpSender._next_encoded_frame)",
                "fix scripted clients' video bitrate",
                lambda m: callable(getattr(m.sender, "get_encoder", None))
                and _sets(m.sender.RTCRtpSender, "_next_encoded_frame", "get_encoder")),
    PrivateName("aiortc Vp8Encoder/H264Encoder.__target_bitrate and target_bitrate",
                "fix scripted clients' video bitrate",
                lambda m: all(_sets(cls, "__init__", _FIXED_BITRATE_ATTRIBUTES[cls.__name__])
                              and isinstance(getattr(cls, "target_bitrate", None), property)
                              for cls in (Vp8Encoder, H264Encoder))),
    PrivateName("aiortc.rtcrtpreceiver.RTCRtpReceiver.__remote_bitrate_estimator.add(arrival_time_ms, ...)",
                "cap the REMB Vigil sends",
                lambda m: _sets(m.receiver.RTCRtpReceiver, "__init__", "_RTCRtpReceiver__remote_bitrate_estimator")
                and _sets(m.receiver.RTCRtpReceiver, "_handle_rtp_packet",
                          "_RTCRtpReceiver__remote_bitrate_estimator")
                and _takes(m.receiver.RemoteBitrateEstimator.add, "arrival_time_ms", "abs_send_time",
                           "payload_size", "ssrc")),
    PrivateName("aiortc.rtcdtlstransport logger line 'x DTLS handshake failed' in RTCDtlsTransport._do_handshake",
                "report why a DTLS handshake failed",
                lambda m: m.dtlstransport.logger.name == _DTLS_LOGGER
                and _logs_constant(m.dtlstransport.RTCDtlsTransport._do_handshake, _DTLS_FAILED)),
)


def check(modules: Modules | None = None) -> None:
    """Raise `AiortcChanged` naming every private name that is gone or changed shape."""
    modules = modules or Modules()
    missing = []
    for private in PRIVATE_NAMES:
        try:
            ok = private.present(modules)
        except (AttributeError, TypeError, ValueError):  # a module or class itself is gone
            ok = False
        if not ok:
            missing.append(f"  {private.name}: used to {private.used_for}")
    if missing:
        raise AiortcChanged(
            f"aiortc {getattr(aiortc, '__version__', '?')} changed private names Vigil relies on "
            f"(tested with 1.16.0; see server/rtc/aiortc_private.py):\n" + "\n".join(missing))


def install() -> None:
    """At worker start: check every private name, then use the marker-bit jitter buffer and keep DTLS
    failure reasons. Idempotent."""
    check()
    _install_marker_jitter_buffer()
    _install_dtls_failure_filter()
