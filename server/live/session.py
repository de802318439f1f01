"""One candidate's live session on this worker: the peer, its tracks, its data channel, its risk.

Data flows one way: video track -> newest frame -> pipeline (executor) -> analysis -> risk engine
-> data channel, store (event stream via the outbox) and live fan-out. Browser signals from the
data channel and audio updates feed the same risk engine.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from pipeline.frame import VideoFrame
from pipeline.runner import Pipeline
from server.core import metrics
from server.core.rate_limit import TokenBucket
from server.live.audio import SessionAudio
from server.live.evidence import EvidenceWriter, thumbnail
from server.live.risk import RiskSession
from server.protocol.analysis import analysis_message
from server.protocol.datachannel import MAX_CLIENT_MESSAGE_BYTES, BrowserMessage, ClockMessage, client_message
from server.rtc.clock_sync import CaptureClock
from server.rtc.decode_guard import DecodeGuard, drop_decoder_backlog
from server.rtc.frames import AnalysisLoop, NewestFrame, Received, drain_track
from server.store.outbox import EventOutbox
from server.store.store import Store

log = logging.getLogger(__name__)

#: frames wider than this are scaled down before analysis (the models work at 640x480 or less).
MAX_ANALYSIS_WIDTH = 640
#: client messages a session may send: a scripted client's clock messages (15/s) plus browser
#: signals and calibration samples fit well inside; a flood beyond is dropped and counted.
DC_MESSAGES_PER_S = 60.0
DC_MESSAGE_BURST = 120.0
#: a client that does not read its data channel gets analyses dropped past this backlog.
MAX_CHANNEL_BUFFER_BYTES = 1 << 20


@dataclass
class Counters:
    frames_received: int = 0
    frames_analysed: int = 0
    frames_dropped: int = 0
    analysis_errors: int = 0
    dc_sent: int = 0
    dc_dropped: int = 0
    dc_bad_messages: int = 0
    dc_rate_limited: int = 0
    decode_sheds: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def to_rgb(frame: Any) -> np.ndarray:
    """An av.VideoFrame as RGB, scaled down to MAX_ANALYSIS_WIDTH. Runs in the executor."""
    if frame.width > MAX_ANALYSIS_WIDTH:
        height = int(round(frame.height * MAX_ANALYSIS_WIDTH / frame.width / 2) * 2)
        return frame.to_ndarray(format="rgb24", width=MAX_ANALYSIS_WIDTH, height=height)
    return frame.to_ndarray(format="rgb24")


@dataclass
class LiveSession:
    session_id: str
    candidate_id: str
    exam_id: str
    store: Store
    pipeline: Pipeline
    executor: Executor
    analysis_fps: float
    risk: RiskSession
    on_gone: Callable[[LiveSession, str], Any]
    counters: Counters = field(default_factory=Counters)
    pc: Any = None
    channel: Any = None
    status: str = "created"
    vad: Any = None
    #: per-session gaze calibration controller (server.live.calibration): `on_message(msg, t)` for the
    #: page's calibration messages, `on_analysis(analysis, fields, t) -> fields` to add the
    #: calibrated `gaze.screen` / `gaze.on_screen` before the risk engine sees the frame.
    calibration: Any = None
    #: when the peer went away (None while connected)
    gone_at: float | None = None
    #: executor for the rate-limited stages (None: they run inline on the frame that is due)
    background: Executor | None = None
    #: `<VIGIL_DATA_DIR>/evidence`: where event snapshots go (None: no snapshots)
    evidence_root: Path | None = None

    def __post_init__(self) -> None:
        self.outbox = EventOutbox(self.store, self.session_id)
        self.evidence = None if self.evidence_root is None else EvidenceWriter(
            evidence_root=self.evidence_root, session_id=self.session_id, outbox=self.outbox, executor=self.executor)
        self.risk.attach(self.outbox)
        self.session_pipeline = self.pipeline.new_session()
        self.clock = CaptureClock()
        self.video_slot: NewestFrame[Any] = NewestFrame()
        self._tasks: set[asyncio.Task[Any]] = set()
        #: callables that get every message sent to the candidate (proctors watching, as JSON text)
        self.listeners: set[Callable[[str], None]] = set()
        #: the candidate's live video for watchers (one decode shared; aiortc encodes per watcher)
        self.relay: Any = None
        self.video_track: Any = None
        self.last_message: dict[str, Any] | None = None
        self._background_busy = False
        self.decode_guard: DecodeGuard | None = None
        self._frame_seq = self.risk.last_frame_id  # frame ids continue across a resume
        self._pending_changes: list[dict[str, Any]] = []
        self._dc_bucket = TokenBucket(rate=DC_MESSAGES_PER_S, burst=DC_MESSAGE_BURST)
        self.audio = SessionAudio(risk=self.risk, executor=self.executor, vad=self.vad,
                                  note_changes=self.note_changes, warn=self.warn, log=self.outbox.put)
        self.connected_at: float | None = None
        self.log = logging.LoggerAdapter(log, {"session_id": self.session_id})

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self.outbox.start()

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"{name}-{self.session_id}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("task %s failed", task.get_name(), exc_info=task.exception())

    async def stop_media(self) -> None:
        """Close the peer and stop every task; the session's data stays."""
        self.video_slot.close()
        pc, self.pc = self.pc, None
        for receiver in pc.getReceivers() if pc is not None else ():
            drop_decoder_backlog(receiver)  # closing must not wait for a decode backlog
        self.channel = None
        if pc is not None:
            try:
                await pc.close()
            except Exception:  # closing a broken peer must not stop the shutdown
                self.log.warning("error closing peer", exc_info=True)
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.evidence is not None:  # snapshots in flight reach the stream before the outbox closes
            await self.evidence.drain()
        self.video_slot = NewestFrame()

    # -- peer wiring ----------------------------------------------------------------------------
    def attach_peer(self, pc: Any) -> None:
        self.pc = pc
        self.gone_at = None

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "video":
                from aiortc.contrib.media import MediaRelay

                self.relay = MediaRelay()
                self.video_track = track
                # the relay's proxy feeds our analysis; watchers subscribe to the same relay
                analysed = self.relay.subscribe(track, buffered=False)
                receiver = next((r for r in pc.getReceivers() if r.track is track), None)
                self.decode_guard = None if receiver is None else DecodeGuard(receiver)
                self.spawn(drain_track(analysed, self.video_slot, self._on_frame), "video-drain")
                loop = AnalysisLoop(self.video_slot, self.analysis_fps, self._analyse)
                self.spawn(loop.run(), "analysis")
            elif track.kind == "audio":
                self.spawn(self.audio.consume(track), "audio")

        @pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            if channel.label != "vigil":
                self.counters.dc_bad_messages += 1
                return
            self.channel = channel

            @channel.on("message")
            def on_message(raw: Any) -> None:
                self.on_client_message(raw)

            @channel.on("close")
            def on_close() -> None:
                if self.pc is pc:
                    self.spawn(self._gone("data channel closed"), "gone")

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            state = pc.connectionState
            self.log.info("peer %s", state)
            if state == "connected":
                self.status = "live"
                self.connected_at = time.time()
                await self._safe_store(self.store.update_session(self.session_id, {"status": "live"}))
                await self._safe_store(self.store.set_live(self.session_id, True))
            elif state in ("failed", "closed") and self.pc is pc:
                await self._gone(f"peer {state}")

    def _on_frame(self, frame: Any, received_ms: float) -> None:
        self.counters.frames_received += 1
        metrics.FRAMES_RECEIVED.inc()
        if self.decode_guard is not None:
            self.decode_guard.check(received_ms / 1000.0, frame.pts)
            self.counters.decode_sheds = self.decode_guard.sheds

    def watch_track(self) -> Any:
        """A new subscription to the candidate's live video for a watcher, or None before it arrives."""
        if self.relay is None or self.video_track is None:
            return None
        return self.relay.subscribe(self.video_track, buffered=False)

    async def _gone(self, reason: str) -> None:
        if self.status in ("ended", "disconnected"):
            return
        self.status = "disconnected"
        self.log.info("disconnected: %s", reason)
        await self.on_gone(self, reason)

    # -- data channel in ------------------------------------------------------------------------
    def on_client_message(self, raw: Any) -> None:
        """Unknown or malformed messages are counted and ignored; they never close the session."""
        if not self._dc_bucket.allow(time.monotonic()):
            self.counters.dc_rate_limited += 1
            metrics.REJECTED.labels("datachannel_rate").inc()
            return
        if isinstance(raw, bytes) or len(raw) > MAX_CLIENT_MESSAGE_BYTES:
            self.counters.dc_bad_messages += 1
            return
        try:
            msg = client_message.validate_json(raw)
        except ValidationError:
            self.counters.dc_bad_messages += 1
            metrics.DC_BAD.inc()
            return
        if isinstance(msg, ClockMessage):
            self.clock.record(msg.pts, msg.captured_ms)
        elif isinstance(msg, BrowserMessage):
            self.note_changes(self.risk.browser(time.time(), msg.event).changed)
        elif self.calibration is not None:  # calibration.start / calibration.sample
            self.calibration.on_message(msg, time.time())
        else:
            self.counters.dc_bad_messages += 1

    def counter_fields(self) -> dict[str, int]:
        return {**self.counters.as_dict(), "audio_chunks": self.audio.chunks}

    def warn(self, message: str) -> None:
        self.send({"type": "warning", "message": message})

    def note_changes(self, changed: list[dict[str, Any]]) -> None:
        """Event changes from outside a frame (browser, audio, ticks) ride on the next analysis."""
        self._pending_changes.extend(changed)

    def send(self, message: dict[str, Any]) -> bool:
        text = json.dumps(message, separators=(",", ":"))
        self.last_message = message
        for listener in list(self.listeners):
            try:
                listener(text)
            except Exception:  # a watcher's failure never disturbs the candidate
                self.listeners.discard(listener)
        channel = self.channel
        if channel is None or channel.readyState != "open":
            return False
        if channel.bufferedAmount > MAX_CHANNEL_BUFFER_BYTES:
            self.counters.dc_dropped += 1
            metrics.DC_DROPPED.inc()
            return False
        try:
            channel.send(text)
        except Exception:  # a channel closing under us: count it, the session goes on
            self.counters.dc_dropped += 1
            metrics.DC_DROPPED.inc()
            return False
        self.counters.dc_sent += 1
        return True

    # -- analysis -------------------------------------------------------------------------------
    async def _analyse(self, item: Received[Any]) -> None:
        self._frame_seq += 1
        frame_id = self._frame_seq
        sp = self.session_pipeline
        slot = self.video_slot
        small: list[np.ndarray] = []  # the frame for evidence snapshots, scaled down in the executor
        defer = self.background is not None
        frames: list[VideoFrame] = []

        def work() -> Any:
            # When the executor is busy with other sessions, the job starts later than the tick that
            # took `item`: a newer frame may be waiting by then, and the newest frame wins. (Reading
            # the slot's reference from this thread is atomic; the loop settles the bookkeeping.)
            newest = slot.newest()
            chosen = newest if newest is not None and newest.received_ms > item.received_ms else item
            rgb = to_rgb(chosen.frame)
            if self.evidence is not None:
                small.append(thumbnail(rgb))
            video = VideoFrame(rgb, t=chosen.received_ms / 1000.0, pts=int(chosen.frame.pts or 0),
                               frame_id=frame_id, received_ms=chosen.received_ms)
            frames.append(video)
            return sp.analyse(video, defer_rated=defer), chosen

        loop = asyncio.get_running_loop()
        try:
            analysis, chosen = await loop.run_in_executor(self.executor, work)
        except Exception:
            self.counters.analysis_errors += 1
            metrics.ANALYSIS_ERRORS.inc()
            self.log.warning("analysis failed on frame %s", frame_id, exc_info=True)
            return
        if chosen is not item:  # the tick's frame was never analysed; the newer one must not be again
            if slot.newest() is chosen:
                slot.take_nowait()
                slot.dropped += 1
        pts, received_ms = int(chosen.frame.pts or 0), chosen.received_ms
        if defer and not self._background_busy and (due := sp.due_rated(analysis.t)):
            # slow stages (objects, posture) on this frame, off the per-frame path: later frames
            # carry their results with their age
            self._background_busy = True
            job = loop.run_in_executor(self.background, sp.run_rated, frames[0], dict(analysis.outputs), due)
            job.add_done_callback(self._background_done)
        self.counters.frames_analysed += 1
        metrics.FRAMES_ANALYSED.inc()
        dropped = self.video_slot.dropped
        metrics.FRAMES_DROPPED.inc(max(0, dropped - self.counters.frames_dropped))
        self.counters.frames_dropped = dropped
        metrics.PIPELINE_SECONDS.observe(analysis.total_ms / 1000.0)
        for name, out in analysis.outputs.items():
            if out.status == "error":
                metrics.STAGE_ERRORS.labels(name).inc()
            elif out.elapsed_ms:
                metrics.STAGE_SECONDS.labels(name).observe(out.elapsed_ms / 1000.0)
        fields = analysis.message_fields()
        self.audio.on_frame(analysis.t, fields)
        if self.calibration is not None:
            fields = self.calibration.on_analysis(analysis, fields, analysis.t)
        update = self.risk.observe_frame(analysis.t, frame_id, fields)
        changed, self._pending_changes = self._pending_changes + update.changed, []
        if self.evidence is not None and small:
            self.evidence.remember(frame_id, analysis.t, small[0], fields)
            self.evidence.on_changes(changed)
        msg = analysis_message(
            analysis, fields, received_ms=received_ms, captured_ms=self.clock.captured_ms(pts),
            analysed_ms=time.time() * 1000.0, risk_score=update.risk_score, attention=update.attention,
            speaking=self.audio.speaking, events=changed)
        self.send(msg)
        metrics.SERVER_LATENCY_SECONDS.observe(max(0.0, msg["analysed_ms"] - received_ms) / 1000.0)
        if msg["captured_ms"] is not None:
            metrics.E2E_LATENCY_SECONDS.observe(max(0.0, msg["analysed_ms"] - msg["captured_ms"]) / 1000.0)

    def _background_done(self, job: asyncio.Future[dict[str, Any]]) -> None:
        self._background_busy = False
        if job.cancelled():
            return
        if job.exception() is not None:
            self.log.warning("background stages failed", exc_info=job.exception())
            return
        for name, out in job.result().items():
            if out.status == "error":
                metrics.STAGE_ERRORS.labels(name).inc()
            elif out.elapsed_ms:
                metrics.STAGE_SECONDS.labels(name).observe(out.elapsed_ms / 1000.0)

    async def _safe_store(self, coro: Any) -> bool:
        try:
            await coro
            return True
        except Exception as exc:  # Redis away: state is rewritten on the next tick
            self.store.errors += 1
            self.log.warning("store write failed: %s", exc)
            return False
