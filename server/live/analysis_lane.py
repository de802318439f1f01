"""One session's analysis lane: the newest frame through the pipeline, the risk engine and out.

Per frame (`analyse`, called by `AnalysisLoop` at most `fps` times a second, one at a time): the
frame is converted and analysed in the executor (the face path on every frame while calibration
collects gaze samples or speech is heard, else on its own schedule: `_refresh`), and if a newer frame arrived while the job waited
for a thread, the newer one is analysed instead (newest wins; the skipped one counts as dropped).
The slow stages (objects, posture) due on that frame run in the `background` executor, one job at
a time, off the per-frame path: later frames carry their results with their age. Then mouth
activity, calibrated gaze, the risk engine, evidence snapshots and clips see the frame, and one `analysis` message
goes out on the data channel. Event changes from outside a frame (browser, audio, ticks) wait in
`pending` and ride on the next analysis.

With `VIGIL_INFERENCE=process` the lane has a `remote` (`server.inference.host.RemoteSession`) instead
of a session pipeline: the executor still converts the frame (and makes the evidence and thumbnail
images), then the child process analyses it and runs the due slow stages in its own background lane.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.analysis import FrameAnalysis
from pipeline.default import FACE_PATH
from pipeline.frame import VideoFrame
from pipeline.runner import SessionPipeline
from pipeline.stages.base import StageOutput
from server.core import metrics
from server.inference.host import InferenceUnavailable, RemoteSession
from server.live.audio import SessionAudio
from server.live.calibration import CalibrationController
from server.live.clips import ClipWriter
from server.live.counters import Counters
from server.live.detections import Detections
from server.live.evidence import EvidenceWriter
from server.live.frame_ring import compress, thumbnail
from server.live.risk import RiskSession
from server.live.thumbnails import ThumbnailClock, encode_thumbnail
from server.protocol.analysis import AnalysedFrame, FrameRisk, FrameTiming, analysis_message
from server.rtc.clock_sync import CaptureClock
from server.rtc.frames import NewestFrame, Received

#: frames wider than this are scaled down before analysis (the models work at 640x480 or less).
MAX_ANALYSIS_WIDTH = 640


def to_rgb(frame: Any) -> np.ndarray:
    """An av.VideoFrame as RGB, scaled down to MAX_ANALYSIS_WIDTH. Runs in the executor."""
    if frame.width > MAX_ANALYSIS_WIDTH:
        height = int(round(frame.height * MAX_ANALYSIS_WIDTH / frame.width / 2) * 2)
        return frame.to_ndarray(format="rgb24", width=MAX_ANALYSIS_WIDTH, height=height)
    return frame.to_ndarray(format="rgb24")


@dataclass(frozen=True)
class Prepared:
    """The executor's part before the models: the frame chosen, converted, and its small images."""

    chosen: Received[Any]
    video: VideoFrame
    small: bytes | None
    thumbnail: bytes | None


@dataclass(frozen=True)
class Analysed:
    """What the executor job returns: the stages' results, the frame it chose, and its inputs."""

    analysis: FrameAnalysis
    chosen: Received[Any]
    video: VideoFrame
    #: the frame scaled down and compressed for the evidence ring (None without an evidence writer)
    small: bytes | None
    #: the live grid's JPEG thumbnail, when one was due (`server.live.thumbnails`)
    thumbnail: bytes | None = None


def record_stage_metrics(outputs: Mapping[str, StageOutput]) -> None:
    for name, out in outputs.items():
        if out.status == "error":
            metrics.STAGE_ERRORS.labels(name).inc()
        elif out.elapsed_ms:
            metrics.STAGE_SECONDS.labels(name).observe(out.elapsed_ms / 1000.0)


class AnalysisLane:
    def __init__(self, *, session_pipeline: SessionPipeline | None, executor: Executor, background: Executor | None,
                 slot: NewestFrame[Any], counters: Counters, first_frame_id: int, risk: RiskSession,
                 audio: SessionAudio, calibration: CalibrationController | None, evidence: EvidenceWriter | None,
                 clock: CaptureClock, clips: ClipWriter | None = None, send: Callable[[dict[str, Any]], bool],
                 log: logging.LoggerAdapter[Any], on_thumbnail: Callable[[bytes], None] | None = None,
                 remote: RemoteSession | None = None) -> None:
        #: exactly one of the two runs the models: this thread's pipeline, or the inference child
        self.session_pipeline = session_pipeline
        self.remote = remote
        self.executor = executor
        self.background = background
        self.slot = slot
        self.counters = counters
        self.risk = risk
        self.audio = audio
        self.calibration = calibration
        self.evidence = evidence
        self.clips = clips
        self.clock = clock
        self.send = send
        self.log = log
        #: gets each live thumbnail (made from the analysed frame, `server.live.thumbnails`)
        self.on_thumbnail = on_thumbnail
        self.thumbnail_clock = ThumbnailClock()
        self.frame_seq = first_frame_id  # frame ids continue across a resume
        self.pending: list[dict[str, Any]] = []
        self._background_busy = False
        #: frames_dropped already added to the process-wide metric
        self._dropped_counted = 0

    def note_changes(self, changed: list[dict[str, Any]]) -> None:
        """Event changes from outside a frame (browser, audio, ticks) ride on the next analysis."""
        self.pending.extend(changed)

    async def analyse(self, item: Received[Any]) -> None:
        self.frame_seq += 1
        frame_id = self.frame_seq
        thumb = self.on_thumbnail is not None and self.thumbnail_clock.due(time.monotonic())
        try:
            if self.remote is None:
                done = await asyncio.get_running_loop().run_in_executor(
                    self.executor, self._work, item, frame_id, thumb, self._refresh())
            else:
                done = await self._work_remote(self.remote, item, frame_id, thumb, self._refresh())
        except InferenceUnavailable:  # the inference child died or restarts: the host logged it once
            self.counters.analysis_errors += 1
            metrics.ANALYSIS_ERRORS.inc()
            return
        except Exception:
            self.counters.analysis_errors += 1
            metrics.ANALYSIS_ERRORS.inc()
            self.log.warning("analysis failed on frame %s", frame_id, exc_info=True)
            return
        self._settle(item, done.chosen)
        if done.thumbnail is not None and self.on_thumbnail is not None:
            self.on_thumbnail(done.thumbnail)
        self._start_background(done)
        self._record(done.analysis)
        self._publish(done)

    def _refresh(self) -> tuple[str, ...]:
        """The face path on every frame while a reader needs every frame's mesh: calibration
        collecting gaze samples, or speech heard (the other-voice check reads the lips' movement
        over a second, and half the meshes would hide it). Else its own schedule."""
        collecting = self.calibration is not None and self.calibration.collecting
        return FACE_PATH if collecting or self.audio.speaking else ()

    # -- the executor job -----------------------------------------------------------------------
    def _work(self, item: Received[Any], frame_id: int, thumb: bool = False,
              refresh: tuple[str, ...] = ()) -> Analysed:
        if self.session_pipeline is None:
            raise RuntimeError("this lane analyses in the inference process")
        p = self._prepare(item, frame_id, thumb)
        analysis = self.session_pipeline.analyse(p.video, defer_rated=self.background is not None, refresh=refresh)
        return Analysed(analysis, p.chosen, p.video, p.small, p.thumbnail)

    async def _work_remote(self, remote: RemoteSession, item: Received[Any], frame_id: int, thumb: bool,
                           refresh: tuple[str, ...]) -> Analysed:
        p = await asyncio.get_running_loop().run_in_executor(self.executor, self._prepare, item, frame_id, thumb)
        answer = await remote.analyse(p.video, self.executor, refresh)
        for outputs in answer.rated:  # the child's background lane: its stage metrics are counted here
            record_stage_metrics(outputs)
        assert answer.analysis is not None  # an answer without one raised
        return Analysed(answer.analysis, p.chosen, p.video, p.small, p.thumbnail)

    def _prepare(self, item: Received[Any], frame_id: int, thumb: bool) -> Prepared:
        # When the executor is busy with other sessions, the job starts later than the tick that
        # took `item`: a newer frame may be waiting by then, and the newest frame wins. (Reading
        # the slot's reference from this thread is atomic; the loop settles the bookkeeping.)
        newest = self.slot.newest()
        chosen = newest if newest is not None and newest.received_ms > item.received_ms else item
        rgb = to_rgb(chosen.frame)
        small = compress(thumbnail(rgb)) if self.evidence is not None else None
        jpeg = encode_thumbnail(rgb) if thumb else None
        video = VideoFrame(rgb, t=chosen.received_ms / 1000.0, pts=int(chosen.frame.pts or 0),
                           frame_id=frame_id, received_ms=chosen.received_ms)
        return Prepared(chosen, video, small, jpeg)

    def _settle(self, item: Received[Any], chosen: Received[Any]) -> None:
        """The tick's frame was never analysed; the newer one taken instead must not be again."""
        if chosen is not item and self.slot.newest() is chosen:
            self.slot.take_nowait()
            self.slot.dropped += 1

    # -- the background lane --------------------------------------------------------------------
    def _start_background(self, done: Analysed) -> None:
        """The slow stages due on this frame, in the background executor, one job at a time."""
        sp, analysis = self.session_pipeline, done.analysis
        if self.background is None or sp is None or self._background_busy:
            return
        due = sp.due_rated(analysis.t, analysis.outputs)
        if not due:
            return
        self._background_busy = True
        job = asyncio.get_running_loop().run_in_executor(
            self.background, sp.run_rated, done.video, dict(analysis.outputs), due)
        job.add_done_callback(self._background_done)

    def _background_done(self, job: asyncio.Future[dict[str, Any]]) -> None:
        self._background_busy = False
        if job.cancelled():
            return
        if job.exception() is not None:
            self.log.warning("background stages failed", exc_info=job.exception())
            return
        record_stage_metrics(job.result())

    # -- metrics and the message ----------------------------------------------------------------
    def _record(self, analysis: FrameAnalysis) -> None:
        self.counters.frames_analysed += 1
        metrics.FRAMES_ANALYSED.inc()
        dropped = self.counters.frames_dropped  # received - analysed: every frame not analysed
        metrics.FRAMES_DROPPED.inc(max(0, dropped - self._dropped_counted))
        self._dropped_counted = dropped
        metrics.PIPELINE_SECONDS.observe(analysis.total_ms / 1000.0)
        record_stage_metrics(analysis.outputs)

    def _publish(self, done: Analysed) -> None:
        """The frame through audio, calibration, risk and evidence, typed; then one message out."""
        analysis = done.analysis
        self.audio.on_frame(analysis)
        gaze = self.calibration.on_analysis(analysis, analysis.t) if self.calibration is not None else None
        update = self.risk.observe_frame(analysis, gaze)
        changed, self.pending = self.pending + update.changed, []
        if self.evidence is not None and done.small is not None:
            self.evidence.remember(analysis.frame_id, analysis.t, done.small, Detections.of(analysis))
            self.evidence.on_changes(changed)
            if self.clips is not None:
                self.clips.on_frame(analysis.t, changed)
        timing = FrameTiming(received_ms=done.chosen.received_ms, captured_ms=self.clock.captured_ms(analysis.pts),
                             analysed_ms=time.time() * 1000.0)
        self.send(analysis_message(AnalysedFrame(
            analysis, gaze, FrameRisk(update.risk_score, update.attention, tuple(changed)),
            speaking=self.audio.speaking, timing=timing)))
        metrics.SERVER_LATENCY_SECONDS.observe(max(0.0, timing.analysed_ms - timing.received_ms) / 1000.0)
        if timing.captured_ms is not None:
            metrics.E2E_LATENCY_SECONDS.observe(max(0.0, timing.analysed_ms - timing.captured_ms) / 1000.0)
