"""Pre-encoded media: a clip encoded once to VP8 and Opus packets, replayed by many scripted candidates.

Encoding per candidate made the load generator the bottleneck (VP8 in aiortc cost 0.13-0.23 cores
per candidate). Here a process encodes the clip once (`encoded_video`, `encoded_audio`, cached by
their arguments) and every candidate's track hands the same bytes to aiortc as `av.Packet`s, which
`RTCRtpSender` packetizes without encoding (the path `MediaPlayer(decode=False)` uses): a candidate
then costs what RTP, SRTP and the data channel cost.

Keyframes. The encoder makes one every `KEYFRAME_EVERY_S`, so the packets decode from any of them.
A keyframe request (PLI or FIR from the server) cannot be answered by encoding one, so the track
jumps to the clip's next keyframe at once (`ReplayVideoTrack.recv`): the picture skips ahead, the
decoder recovers on the very next frame.

Timestamps. Packet pts are the capture schedule in 90 kHz ticks (frame i at i * 90000 / fps) and
aiortc's `pack` keeps them exact (`convert_timebase` within one time base), so with
`zero_rtp_origin` the RTP timestamp the server reports as `frame_pts` is the pts the track gave
`on_capture`. (Encoding per frame did not keep them: PyAV rebases a frame's pts to the encoder's
time base in floating point, and about one frame in four came out a tick early, unmatched.)
"""
from __future__ import annotations

import asyncio
import fractions
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from server.rtc.aiortc_private import take_keyframe_request
from server.tools.candidate.media_files import (
    AUDIO_RATE,
    AUDIO_SAMPLES,
    VIDEO_CLOCK_RATE,
    VIDEO_TIME_BASE,
    load_audio,
    load_video_frames,
)

#: a keyframe this often, so a decoder can start (or restart) within this many seconds of video
KEYFRAME_EVERY_S = 2.0
#: Opus bitrate of the replayed audio (speech, mono)
OPUS_BPS = 32000
#: longest audio encoded; longer files loop after this much
MAX_AUDIO_S = 60.0
AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_RATE)


@dataclass(frozen=True)
class EncodedVideo:
    """A clip's VP8 packets, one per frame at `fps`, and which of them are keyframes."""

    packets: tuple[bytes, ...]
    keyframes: tuple[bool, ...]
    fps: float

    def next_keyframe(self, index: int) -> int:
        """The first keyframe at or after `index` (looping); the clip starts with one."""
        n = len(self.packets)
        for step in range(n):
            if self.keyframes[(index + step) % n]:
                return index + step
        return index


_cache: dict[tuple[Any, ...], Any] = {}
_cache_lock = threading.Lock()


def _cached(key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    with _cache_lock:
        if key not in _cache:
            _cache[key] = build()
        return _cache[key]


def encoded_video(path: Path | str, width: int = 640, height: int = 480, fps: float = 15.0,
                  kbps: int = 500) -> EncodedVideo:
    """The clip as VP8 at `kbps` (CBR, realtime, as aiortc's own encoder sets it), once per process."""
    return _cached(("video", str(path), width, height, fps, kbps),  # type: ignore[no-any-return]
                   lambda: _encode_video(load_video_frames(path, width, height, fps), width, height, fps, kbps))


def _encode_video(frames: list[np.ndarray], width: int, height: int, fps: float, kbps: int) -> EncodedVideo:
    codec: Any = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.time_base = fractions.Fraction(fps).limit_denominator(1000) ** -1
    codec.bit_rate = kbps * 1000
    codec.gop_size = max(1, round(KEYFRAME_EVERY_S * fps))
    codec.options = {"deadline": "realtime", "cpu-used": "-6", "lag-in-frames": "0",
                     "minrate": str(kbps * 1000), "maxrate": str(kbps * 1000), "bufsize": str(kbps * 1000)}
    packets: list[bytes] = []
    keyframes: list[bool] = []
    for i, planes in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.pts = i
        for packet in codec.encode(frame):
            packets.append(bytes(packet))
            keyframes.append(bool(packet.is_keyframe))
    for packet in codec.encode(None):
        packets.append(bytes(packet))
        keyframes.append(bool(packet.is_keyframe))
    if not packets or not keyframes[0]:
        raise ValueError("the VP8 encoder gave no packets, or did not start with a keyframe")
    return EncodedVideo(tuple(packets), tuple(keyframes), fps)


def encoded_audio(path: Path | str | None) -> tuple[bytes, ...]:
    """An audio file (None: silence) as 20 ms Opus packets (at most MAX_AUDIO_S), once per process."""
    return _cached(("audio", str(path)), lambda: _encode_audio(load_audio(path)))  # type: ignore[no-any-return]


def _encode_audio(samples: np.ndarray) -> tuple[bytes, ...]:
    codec: Any = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = AUDIO_RATE, "mono", "s16"
    codec.bit_rate = OPUS_BPS
    codec.time_base = AUDIO_TIME_BASE
    codec.options = {"application": "voip"}
    samples = samples[: int(MAX_AUDIO_S * AUDIO_RATE)]
    usable = len(samples) - len(samples) % AUDIO_SAMPLES
    packets: list[bytes] = []
    for start in range(0, usable, AUDIO_SAMPLES):
        frame = av.AudioFrame.from_ndarray(samples[start:start + AUDIO_SAMPLES].reshape(1, -1),
                                           format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, start, AUDIO_TIME_BASE
        packets.extend(bytes(p) for p in codec.encode(frame))
    packets.extend(bytes(p) for p in codec.encode(None))
    if not packets:
        raise ValueError("no Opus packets: the audio is shorter than one 20 ms frame")
    return tuple(packets)


class _Pacer:
    """Real-time pacing: item i is due at start + i * period; a late caller is not made to catch up
    in a burst beyond what is due."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self.start: float | None = None

    async def wait(self, index: int) -> None:
        now = time.monotonic()
        if self.start is None:
            self.start = now
        due = self.start + index * self.period_s
        if due > now:
            await asyncio.sleep(due - now)


class ReplayVideoTrack(MediaStreamTrack):
    """A camera made of pre-encoded VP8: one packet every 1/fps s, pts = capture schedule in RTP ticks.

    `on_capture(pts, captured_ms)` is called for every packet handed to the sender (as
    `LoopingVideoTrack` does). `bind(sender)` lets the track see the sender's keyframe requests.
    """

    kind = "video"

    def __init__(self, video: EncodedVideo, on_capture: Callable[[int, float], None] | None = None) -> None:
        super().__init__()
        self.video = video
        self.on_capture = on_capture
        self.sent = 0
        #: keyframe requests answered by jumping ahead
        self.keyframe_jumps = 0
        self._clip_index = 0
        self._pacer = _Pacer(1.0 / video.fps)
        self._sender: Any = None

    def bind(self, sender: Any) -> None:
        self._sender = sender

    async def recv(self) -> av.Packet:
        await self._pacer.wait(self.sent)
        if self.readyState != "live":
            raise MediaStreamError
        if self._sender is not None and take_keyframe_request(self._sender):
            jumped = self.video.next_keyframe(self._clip_index)
            self.keyframe_jumps += jumped != self._clip_index
            self._clip_index = jumped
        packets = self.video.packets
        packet = av.Packet(packets[self._clip_index % len(packets)])
        pts = int(round(self.sent * VIDEO_CLOCK_RATE / self.video.fps)) % (1 << 32)
        packet.pts, packet.time_base = pts, VIDEO_TIME_BASE
        self._clip_index = (self._clip_index + 1) % len(packets)
        self.sent += 1
        if self.on_capture is not None:
            self.on_capture(pts, time.time() * 1000.0)
        return packet


class ReplayAudioTrack(MediaStreamTrack):
    """A microphone made of pre-encoded Opus: one 20 ms packet every 20 ms, looped."""

    kind = "audio"

    def __init__(self, packets: tuple[bytes, ...]) -> None:
        super().__init__()
        self.packets = packets
        self.sent = 0
        self._pacer = _Pacer(AUDIO_SAMPLES / AUDIO_RATE)

    async def recv(self) -> av.Packet:
        await self._pacer.wait(self.sent)
        if self.readyState != "live":
            raise MediaStreamError
        packet = av.Packet(self.packets[self.sent % len(self.packets)])
        packet.pts, packet.time_base = self.sent * AUDIO_SAMPLES, AUDIO_TIME_BASE
        self.sent += 1
        return packet
