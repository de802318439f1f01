"""Real media files as live aiortc tracks, paced in real time and looped.

Video frames are decoded once per (file, size, fps) and shared by every client in the process
(yuv420p planes, about 0.46 MB a frame at 640x480), so many scripted candidates cost little memory.
"""
from __future__ import annotations

import asyncio
import fractions
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack

VIDEO_CLOCK_RATE = 90000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
AUDIO_RATE = 48000
AUDIO_PTIME_S = 0.020
AUDIO_SAMPLES = int(AUDIO_RATE * AUDIO_PTIME_S)

_cache: dict[tuple[str, int, int, float], list[np.ndarray]] = {}
_cache_lock = threading.Lock()


def pts_seconds(frame: av.VideoFrame, time_base: fractions.Fraction | None) -> float | None:
    """A decoded frame's presentation time in seconds; None when the file does not give one."""
    if frame.pts is None or time_base is None:
        return None
    return float(frame.pts * time_base)


def load_video_frames(path: Path | str, width: int = 640, height: int = 480, fps: float = 15.0,
                      max_seconds: float | None = None) -> list[np.ndarray]:
    """The clip resampled to `fps` (nearest frame), scaled to width x height, as yuv420p arrays."""
    key = (str(path), width, height, fps)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        frames: list[np.ndarray] = []
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            next_t = 0.0
            for frame in container.decode(stream):
                pts_s = pts_seconds(frame, stream.time_base)
                t = next_t if pts_s is None else pts_s
                if max_seconds is not None and t > max_seconds:
                    break
                while t + 1e-6 >= next_t:  # repeat or skip to reach the target rate
                    frames.append(frame.reformat(width=width, height=height, format="yuv420p").to_ndarray())
                    next_t += 1.0 / fps
        if not frames:
            raise ValueError(f"no video frames in {path}")
        _cache[key] = frames
        return frames


class LoopingVideoTrack(MediaStreamTrack):
    """A camera made of a video file: frames at `fps`, looped, with pts = capture time in RTP ticks.

    `on_capture(pts, captured_ms)` is called for every frame handed to the encoder, so the client can
    tell the server (data channel `clock`) and keep its own map for end-to-end latency.
    """

    kind = "video"

    def __init__(self, frames: list[np.ndarray], fps: float = 15.0,
                 on_capture: Callable[[int, float], None] | None = None) -> None:
        super().__init__()
        self.frames = frames
        self.fps = fps
        self.on_capture = on_capture
        self._index = 0
        self._start: float | None = None
        self.sent = 0
        self._flowing = asyncio.Event()
        self._flowing.set()

    def stall(self) -> None:
        """Stop delivering frames (a stopped or stalled camera); the track and the peer stay up."""
        self._flowing.clear()

    def unstall(self) -> None:
        """Deliver frames again, at the normal rate from now (no burst to catch up)."""
        if not self._flowing.is_set():
            self._start = time.monotonic() - self._index / self.fps
            self._flowing.set()

    async def recv(self) -> av.VideoFrame:
        await self._flowing.wait()
        if self.readyState != "live":
            from aiortc.mediastreams import MediaStreamError
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._index / self.fps
        if due > now:
            await asyncio.sleep(due - now)
        planes = self.frames[self._index % len(self.frames)]
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        pts = int(round(self._index * VIDEO_CLOCK_RATE / self.fps)) % (1 << 32)
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        self._index += 1
        self.sent += 1
        if self.on_capture is not None:
            self.on_capture(pts, time.time() * 1000.0)
        return frame


def load_audio(path: Path | str | None, seconds_if_silent: float = 10.0) -> np.ndarray:
    """A file as 48 kHz mono int16 samples; None gives digital silence."""
    if path is None:
        return np.zeros(int(AUDIO_RATE * seconds_if_silent), dtype=np.int16)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
    for out in resampler.resample(None):
        chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.int16)


class LoopingAudioTrack(MediaStreamTrack):
    """A microphone made of samples: 20 ms frames of 48 kHz mono s16, paced in real time, looped."""

    kind = "audio"

    def __init__(self, samples: np.ndarray, loop: bool = True) -> None:
        super().__init__()
        self.samples = samples
        self.loop = loop
        self._pos = 0
        self._start: float | None = None
        self._pts = 0

    async def recv(self) -> av.AudioFrame:
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._pts / AUDIO_RATE
        if due > now:
            await asyncio.sleep(due - now)
        end = self._pos + AUDIO_SAMPLES
        if end <= len(self.samples):
            chunk = self.samples[self._pos:end]
        elif self.loop:
            chunk = np.concatenate([self.samples[self._pos:], self.samples[: end - len(self.samples)]])
            end -= len(self.samples)
        else:
            chunk = np.zeros(AUDIO_SAMPLES, dtype=np.int16)
            end = len(self.samples)
        self._pos = end
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._pts += AUDIO_SAMPLES
        return frame


def rgb_frames(path: Path | str, fps: float = 5.0) -> list[tuple[float, np.ndarray]]:
    """(t seconds, RGB array) of a video file at about `fps` (the first frame at or after each step)."""
    out: list[tuple[float, np.ndarray]] = []
    next_t = 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            t = pts_seconds(frame, stream.time_base)
            if t is None:
                raise ValueError(f"{path}: a video frame without a timestamp")
            if t + 1e-6 < next_t:
                continue
            next_t = t + 1.0 / fps
            out.append((t, frame.to_ndarray(format="rgb24")))
    return out
