"""One session's audio analysis: blocks of 16 kHz mono in, one `AudioUpdate` per 32 ms chunk out.

The media edge hands over blocks of any length (a resampled 20 ms WebRTC frame is 320 samples)
with the session time of their first sample. `AudioAnalyzer` appends them to a buffer, cuts
512-sample chunks, and for each chunk runs the shared silero model (`SileroVad`), measures the
level and feeds the `SpeechSegmenter`.

Time: a chunk's time is the buffer's anchor time plus its sample offset / 16000, so chunk times
follow the sample count, not the jitter of the times passed in. A block whose time differs from
where the buffer expects it by more than `RESYNC_TOLERANCE_S` (lost packets, a paused track, a
clock re-anchor at the edge) re-anchors the buffer at the block's time; the partial chunk pending
before the jump (under 32 ms) is dropped, and the model state is kept (silero recovers within a
few chunks).

Pure apart from the model call; not thread-safe: the edge runs one batch per session at a time.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from pipeline.audio.segmenter import (
    LEVEL_FLOOR_DBFS,
    SegmenterConfig,
    SpeechEnded,
    SpeechEvent,
    SpeechSegmenter,
    SpeechStarted,
    rms_dbfs,
)
from pipeline.audio.vad import CHUNK_SAMPLES, SAMPLE_RATE, SileroVad, VadState

#: A block more than this far from where the buffer expects it re-anchors the buffer. Larger than
#: the few milliseconds of resampler delay and timestamp rounding at the edge; smaller than any
#: gap worth noticing (a lost 20 ms packet keeps the count; a 100 ms jump is a real gap).
RESYNC_TOLERANCE_S = 0.1

_INT16_SCALE = 1.0 / 32768.0


@dataclass(frozen=True)
class AudioUpdate:
    """The analysis of one 32 ms chunk that starts at `t` (session seconds).

    `events` holds speech started/ended events decided on this chunk; their times are their own
    (a start lies `min_speech_s` or more before `t`, an end `min_silence_s` before it).
    `finish()` may add one closing update with `duration` 0 that carries only a `SpeechEnded`.
    """

    t: float
    duration: float
    speaking: bool
    probability: float
    level_dbfs: float
    muted: bool
    events: tuple[SpeechEvent, ...] = ()

    @property
    def started(self) -> SpeechStarted | None:
        return next((e for e in self.events if isinstance(e, SpeechStarted)), None)

    @property
    def ended(self) -> SpeechEnded | None:
        return next((e for e in self.events if isinstance(e, SpeechEnded)), None)

    @property
    def ended_duration(self) -> float | None:
        ended = self.ended
        return None if ended is None else ended.duration


def to_float32(block: np.ndarray) -> np.ndarray:
    """Mono samples as float32 in [-1, 1]: int16 is scaled, float is taken as is, 2-D is flattened."""
    x = np.asarray(block)
    if x.ndim > 1:
        if x.shape[0] != 1 and x.shape[-1] != 1:
            raise ValueError(f"expected mono audio, got shape {x.shape}")
        x = x.reshape(-1)
    if x.dtype == np.int16:
        return x.astype(np.float32) * np.float32(_INT16_SCALE)
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32, copy=False)
    raise TypeError(f"expected int16 or float samples, got {x.dtype}")


class AudioAnalyzer:
    """Per-session buffer + VAD + segmenter. `push(block, t)` returns the updates it completes."""

    def __init__(self, vad: SileroVad, *, config: SegmenterConfig | None = None) -> None:
        self.vad = vad
        self.segmenter = SpeechSegmenter(config)
        self._state: VadState = vad.new_state()
        self._pending = np.zeros(0, np.float32)
        # Session time of the anchor and samples consumed since it: chunk times are computed from
        # an integer count, so they do not accumulate rounding over hours.
        self._anchor_t: float | None = None
        self._consumed = 0
        self.chunks = 0
        self.resyncs = 0

    @property
    def _pending_t(self) -> float | None:
        """Session time of the first pending sample."""
        if self._anchor_t is None:
            return None
        return self._anchor_t + self._consumed / SAMPLE_RATE

    @property
    def expected_t(self) -> float | None:
        """Where the next block should start, by the sample count."""
        if self._anchor_t is None:
            return None
        return self._anchor_t + (self._consumed + self._pending.shape[0]) / SAMPLE_RATE

    def push(self, block: np.ndarray, t: float) -> list[AudioUpdate]:
        """Add a block of 16 kHz mono samples whose first sample is at session time `t`."""
        samples = to_float32(block)
        expected = self.expected_t
        if expected is None or abs(t - expected) > RESYNC_TOLERANCE_S:
            if expected is not None:
                self.resyncs += 1
            self._pending = samples
            self._anchor_t = t
            self._consumed = 0
        else:
            self._pending = np.concatenate([self._pending, samples]) if self._pending.size else samples
        return self._drain()

    def push_many(self, blocks: Iterable[tuple[np.ndarray, float]]) -> list[AudioUpdate]:
        """`push` for each (block, t) in order; what the edge runs in its executor."""
        updates: list[AudioUpdate] = []
        for block, t in blocks:
            updates.extend(self.push(block, t))
        return updates

    def finish(self, t: float | None = None) -> list[AudioUpdate]:
        """The stream ended (at `t`, default: after the last full chunk): close open speech.

        The partial chunk still pending is dropped (under 32 ms). Returns at most one update,
        carrying the `SpeechEnded` when speech was open.
        """
        end = t if t is not None else (self._pending_t if self._pending_t is not None else 0.0)
        step = self.segmenter.finish(end)
        self._pending = np.zeros(0, np.float32)
        if not step.events:
            return []
        return [AudioUpdate(end, 0.0, False, 0.0, LEVEL_FLOOR_DBFS, step.muted, step.events)]

    def _drain(self) -> list[AudioUpdate]:
        updates: list[AudioUpdate] = []
        assert self._anchor_t is not None
        n_chunks = self._pending.shape[0] // CHUNK_SAMPLES
        duration = CHUNK_SAMPLES / SAMPLE_RATE
        for i in range(n_chunks):
            chunk = self._pending[i * CHUNK_SAMPLES:(i + 1) * CHUNK_SAMPLES]
            t = self._anchor_t + (self._consumed + i * CHUNK_SAMPLES) / SAMPLE_RATE
            probability, self._state = self.vad.run(chunk, self._state)
            level = rms_dbfs(chunk)
            step = self.segmenter.push(t, duration, probability, level)
            updates.append(AudioUpdate(t, duration, step.speaking, probability, level, step.muted, step.events))
        if n_chunks:
            self.chunks += n_chunks
            self._pending = self._pending[n_chunks * CHUNK_SAMPLES:].copy()
            self._consumed += n_chunks * CHUNK_SAMPLES
        return updates
