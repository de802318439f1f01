"""The media edge for one audio track: receive, resample to 16 kHz mono, analyse off the loop.

`consume_audio(...)` (or `AudioConsumer(...).run()`) runs until the track ends. Two tasks:

- the *receiver* awaits `track.recv()` (aiortc delivers `av.AudioFrame`s, Opus decoded to 48 kHz
  stereo s16 in 20 ms frames), resamples each with PyAV to 16 kHz mono s16, stamps the block
  with its session time and appends it to a pending list. It never waits on analysis.
- the *worker* takes everything pending as one batch, runs `analyzer.push_many(batch)` in the
  given executor (never on the event loop), and calls `on_update(update)` on the loop for each
  32 ms update, in order. One batch is in flight per track; blocks that arrive meanwhile
  accumulate and form the next batch.

Drop semantics: **audio is never dropped** for load. A batch is ~0.2 ms of model time per 32 ms,
so the backlog stays small; its peak is counted (`stats.max_backlog_blocks`). If the analyzer
raises, that batch is lost, counted in `stats.analysis_errors` and logged; the stream goes on.
If `analyzer_factory()` fails (VAD unavailable), the track is still drained, so aiortc's
unbounded receive queue cannot grow, and no updates are made.

Clock alignment: aiortc stamps decoded audio with `pts` in `time_base` (1/48000) counted from the
track's first RTP packet, unwrapped (aiortc's `TimestampMapper`), so `pts * time_base` is media
time since the first frame. The first frame anchors it to the session clock:
`offset = clock() - media_t(first frame)`, then `session_t = offset + media_t` for every frame.
Session times therefore follow the sender's sample clock (no receive jitter) and sit at the first
frame's arrival, i.e. after network + jitter-buffer delay, like video frames stamped on arrival.
The anchor is reset (`stats.clock_reanchors`) when a frame's session time strays more than
`MAX_CLOCK_SKEW_S` from `clock()` (a pts reset on renegotiation, a false RTP wrap, or drift), and a
frame without pts is stamped `clock()`. Within the analyzer, chunk times follow the sample count;
the resampler's ~1 ms delay is ignored.

The track ending (`aiortc.mediastreams.MediaStreamError` from `recv()`) flushes the resampler,
lets the worker finish the backlog, closes any open speech segment at the end of the last
sample (a final update with `SpeechEnded`), and returns the stats. Cancelling `run()` stops both
tasks without waiting for the analysis in flight.

This module knows nothing of peers, sessions or messages: it gets callables.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError

from pipeline.audio.analyzer import AudioAnalyzer, AudioUpdate

logger = logging.getLogger(__name__)

#: The analyzer's input: what silero was trained on.
ANALYSIS_RATE = 16_000
#: A frame whose pts-derived session time differs from `clock()` by more than this re-anchors the
#: media clock. Far above network jitter and jitter-buffer depth (< 1 s), far below a pts reset.
MAX_CLOCK_SKEW_S = 2.0


class AudioTrack(Protocol):
    """What the consumer needs of an aiortc `MediaStreamTrack` of kind "audio"."""

    async def recv(self) -> Any: ...


@dataclass
class AudioConsumerStats:
    """Live counters of one consumer (mutated by it; read them, don't write)."""

    frames: int = 0
    samples_16k: int = 0
    batches: int = 0
    updates: int = 0
    analysis_errors: int = 0
    callback_errors: int = 0
    resampler_resets: int = 0
    clock_reanchors: int = 0
    max_backlog_blocks: int = 0
    analyzer_available: bool = True


class MediaClock:
    """Maps a frame's media time (`pts * time_base`) to the session clock (see module docstring)."""

    def __init__(self, clock: Callable[[], float], *, max_skew_s: float = MAX_CLOCK_SKEW_S) -> None:
        self._clock = clock
        self._max_skew_s = max_skew_s
        self._offset: float | None = None
        self.reanchors = 0

    def session_time(self, frame: Any) -> float:
        now = self._clock()
        if frame.pts is None or frame.time_base is None:
            return now
        media_t = float(frame.pts * frame.time_base)
        if self._offset is None:
            self._offset = now - media_t
        elif abs(self._offset + media_t - now) > self._max_skew_s:
            self.reanchors += 1
            logger.warning("audio clock re-anchored: media time %.3f s is %.3f s from the session clock",
                           media_t, self._offset + media_t - now)
            self._offset = now - media_t
        return self._offset + media_t


def _new_resampler() -> av.AudioResampler:
    return av.AudioResampler(format="s16", layout="mono", rate=ANALYSIS_RATE)


class AudioConsumer:
    """Consumes one audio track into per-chunk `AudioUpdate`s (see the module docstring).

    - `analyzer_factory()`: a fresh `AudioAnalyzer` for this track (called once, on the loop).
    - `executor`: where the analyzer runs (a thread pool shared by the worker process).
    - `on_update(update)`: called on the event loop for each update, in time order; must not block.
    - `clock()`: the session clock, seconds (e.g. `time.monotonic() - session_start`).
    """

    def __init__(self, track: AudioTrack, analyzer_factory: Callable[[], AudioAnalyzer],
                 executor: Executor | None, on_update: Callable[[AudioUpdate], None],
                 clock: Callable[[], float]) -> None:
        self.track = track
        self.analyzer_factory = analyzer_factory
        self.executor = executor
        self.on_update = on_update
        self.media_clock = MediaClock(clock)
        self.stats = AudioConsumerStats()
        self._blocks: list[tuple[np.ndarray, float]] = []
        self._wakeup = asyncio.Event()
        self._ended = False
        self._end_t: float | None = None  # session time just after the last received sample

    async def run(self) -> AudioConsumerStats:
        try:
            analyzer: AudioAnalyzer | None = self.analyzer_factory()
        except Exception:
            logger.exception("audio analysis unavailable; draining the track without analysis")
            analyzer = None
            self.stats.analyzer_available = False
        worker = asyncio.create_task(self._work(analyzer)) if analyzer is not None else None
        try:
            await self._receive(analyzer is not None)
        except BaseException:
            if worker is not None:
                worker.cancel()
            raise
        self._ended = True
        self._wakeup.set()
        if worker is not None:
            try:
                await worker
            except BaseException:
                worker.cancel()
                raise
        return self.stats

    # -- receiver --------------------------------------------------------------------------
    async def _receive(self, analysing: bool) -> None:
        resampler = _new_resampler()
        while True:
            try:
                frame = await self.track.recv()
            except MediaStreamError:
                break
            self.stats.frames += 1
            t = self.media_clock.session_time(frame)
            self.stats.clock_reanchors = self.media_clock.reanchors
            self._end_t = t + frame.samples / frame.sample_rate if frame.sample_rate else t
            if not analysing:
                continue
            try:
                out = resampler.resample(frame)
            except ValueError:  # the input format changed mid-stream (e.g. mono <-> stereo)
                self.stats.resampler_resets += 1
                resampler = _new_resampler()
                out = resampler.resample(frame)
            self._append(out, t)
        if analysing:
            self._append(resampler.resample(None), self._end_t)

    def _append(self, frames: list[av.AudioFrame], t: float | None) -> None:
        if t is None:
            return
        for out in frames:
            block = out.to_ndarray().reshape(-1)
            if block.size == 0:
                continue
            self._blocks.append((block, t))
            self.stats.samples_16k += block.size
            t += block.size / ANALYSIS_RATE
        self.stats.max_backlog_blocks = max(self.stats.max_backlog_blocks, len(self._blocks))
        if self._blocks:
            self._wakeup.set()

    # -- worker ----------------------------------------------------------------------------
    async def _work(self, analyzer: AudioAnalyzer) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._blocks and not self._ended:
                await self._wakeup.wait()
            self._wakeup.clear()
            if self._blocks:
                batch, self._blocks = self._blocks, []
                try:
                    updates = await loop.run_in_executor(self.executor, analyzer.push_many, batch)
                except Exception:
                    self.stats.analysis_errors += 1
                    logger.exception("audio analysis failed on a batch of %d blocks", len(batch))
                    continue
                self.stats.batches += 1
                self._deliver(updates)
            elif self._ended:
                final = await loop.run_in_executor(self.executor, analyzer.finish, self._end_t)
                self._deliver(final)
                return

    def _deliver(self, updates: list[AudioUpdate]) -> None:
        for update in updates:
            self.stats.updates += 1
            try:
                self.on_update(update)
            except Exception:
                self.stats.callback_errors += 1
                logger.exception("audio on_update callback failed")


async def consume_audio(track: AudioTrack, analyzer_factory: Callable[[], AudioAnalyzer],
                        executor: Executor | None, on_update: Callable[[AudioUpdate], None],
                        clock: Callable[[], float]) -> AudioConsumerStats:
    """Run an `AudioConsumer` on `track` until it ends; returns its stats."""
    return await AudioConsumer(track, analyzer_factory, executor, on_update, clock).run()
