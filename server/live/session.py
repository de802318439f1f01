"""One candidate's live session on this worker: it owns the peer and everything made for it.

Data flows one way: video track -> newest frame -> analysis lane (executor) -> risk engine -> data
channel, store (event stream via the outbox) and live fan-out. Browser signals from the data channel
and audio updates feed the same risk engine. The parts, one module each: `channel` (data channel in
and out), `analysis_lane` (per-frame job, background stages, metrics), `audio`, `risk`,
`calibration`, `evidence`, `clips`; the watchers subscribe through `watch_track` and `channel.listeners`.

Statuses: created -> connecting (offer answered; the manager writes it) -> live (peer connected:
writes `status=live` and the live set) -> disconnected (peer gone; `on_gone` tells the manager,
which writes it) -> ended (the manager writes the verdict). The status follows the peer: a peer
that fails or closes, a data channel that closes, a peer that never connects (`CONNECT_TIMEOUT_S`)
and a peer from which nothing arrives (`SILENCE_TIMEOUT_S`) all make the session disconnected.

Observation: the risk engine hears when the peer connects and goes away (`risk.connection`), and
every tick gets the arrival time of the newest decoded video frame (`tick`), so it can account
every second as observed or not and raise `video_lost`, which also warns the candidate. A re-offer replaces the peer with
`stop_media` and keeps the rest. `aclose` is the one final close: idempotent, it stops the media and
tasks, then closes what the session created (risk publishes, evidence writes, the outbox).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from pipeline.runner import Pipeline
from server.core import metrics
from server.inference.host import InferenceHost
from server.live.analysis_lane import MAX_ANALYSIS_WIDTH as MAX_ANALYSIS_WIDTH  # read here by routes/face_ws
from server.live.analysis_lane import AnalysisLane
from server.live.audio import SessionAudio
from server.live.calibration import CalibrationController
from server.live.channel import SessionChannel
from server.live.clips import ClipEncoder, ClipWriter
from server.live.counters import Counters
from server.live.evidence import EvidenceWriter
from server.live.risk import RiskSession
from server.live.tasks import TaskSet
from server.live.thumbnails import THUMBNAIL_TTL_S
from server.protocol.datachannel import BrowserMessage, ClientMessage, ClockMessage, ProctorMessage
from server.protocol.http import Reviewer
from server.protocol.stream import ProctorMessageItem
from server.protocol.versions import DC_VERSION
from server.rtc.clock_sync import CaptureClock
from server.rtc.decode_guard import DecodeGuard, drop_decoder_backlog
from server.rtc.frames import AnalysisLoop, NewestFrame, drain_track
from server.rtc.socket_buffers import drain_receive_buffers
from server.store.outbox import EventOutbox
from server.store.store import Store

log = logging.getLogger(__name__)

OnGone = Callable[["LiveSession", str], Awaitable[None]]

#: a peer not connected this long after its offer was answered is closed (its slot is freed).
CONNECT_TIMEOUT_S = 20.0
#: a connected peer from which no video frame, audio frame or data-channel message arrived for this
#: long is gone. Browsers send audio frames every 20 ms (silence included) and scripted clients
#: `clock` messages with every video frame, so only a vanished client is this quiet; ICE consent
#: freshness alone takes about 30 s to notice.
SILENCE_TIMEOUT_S = 6.0
VIDEO_LOST_WARNING = ("No camera video is reaching the proctoring server: check that the camera is "
                      "connected, allowed for this page and not used by another application.")


class LiveSession:
    def __init__(self, *, session_id: str, candidate_id: str, exam_id: str, store: Store, pipeline: Pipeline,
                 executor: Executor, analysis_fps: float, risk: RiskSession, on_gone: OnGone, vad: Any = None,
                 background: Executor | None = None, evidence_root: Path | None = None,
                 clip_encoder: ClipEncoder | None = None, inference: InferenceHost | None = None) -> None:
        self.session_id, self.candidate_id, self.exam_id = session_id, candidate_id, exam_id
        self.store = store
        self.executor = executor
        self.background = background
        self.analysis_fps = analysis_fps
        self.risk = risk
        self.on_gone = on_gone
        self.log = logging.LoggerAdapter(log, {"session_id": session_id})
        self.status = "created"
        #: when the peer connected / went away (None before / while connected)
        self.connected_at: float | None = None
        self.gone_at: float | None = None
        #: when the current peer's offer was answered, and when anything last arrived from it
        #: (a video or audio frame, a data-channel message); None before
        self.offered_at: float | None = None
        self.heard_at: float | None = None
        #: arrival time of the newest decoded video frame (None before the first)
        self.video_at: float | None = None
        self.pc: Any = None
        self.tasks = TaskSet(self.log, session_id)
        self.counters = Counters()
        self.clock = CaptureClock()
        self.video_slot: NewestFrame[Any] = NewestFrame()
        #: the models run here (executor threads) or in the worker's inference process (`VIGIL_INFERENCE`)
        self.remote = None if inference is None else inference.session(session_id)
        self.session_pipeline = pipeline.new_session() if self.remote is None else None
        self._closed = False
        self._make_parts(vad, evidence_root, clip_encoder)

    def _make_parts(self, vad: Any, evidence_root: Path | None, clip_encoder: ClipEncoder | None) -> None:
        self.outbox = EventOutbox(self.store, self.session_id)
        self.risk.attach(self.outbox)
        self.evidence = None if evidence_root is None else EvidenceWriter(
            evidence_root=evidence_root, session_id=self.session_id, outbox=self.outbox, executor=self.executor)
        self.clips = None if self.evidence is None or evidence_root is None or clip_encoder is None else ClipWriter(
            evidence_root=evidence_root, session_id=self.session_id, ring=self.evidence.ring, encoder=clip_encoder,
            outbox=self.outbox)
        self.channel = SessionChannel(self.session_id, self.counters, self._dispatch, self._flooded)
        self.audio = SessionAudio(risk=self.risk, executor=self.executor, vad=vad,
                                  note_changes=self.note_changes, warn=self.warn, log=self.outbox.put)
        self.calibration = CalibrationController(session=self)
        #: the candidate's live video and audio for watchers (one decode shared; aiortc encodes per watcher)
        self.relay: Any = None
        self.video_track: Any = None
        self.audio_relay: Any = None
        self.audio_track: Any = None
        self.decode_guard: DecodeGuard | None = None
        self.lane = self._new_lane()

    def _new_lane(self) -> AnalysisLane:
        return AnalysisLane(
            session_pipeline=self.session_pipeline, executor=self.executor, background=self.background,
            slot=self.video_slot, counters=self.counters, first_frame_id=self.risk.last_frame_id, risk=self.risk,
            audio=self.audio, calibration=self.calibration, evidence=self.evidence, clock=self.clock,
            send=self.send, log=self.log, clips=self.clips, on_thumbnail=self._store_thumbnail, remote=self.remote)

    # -- what other parts and the manager use ---------------------------------------------------
    @property
    def listeners(self) -> set[Callable[[str], None]]:
        return self.channel.listeners

    @property
    def last_message(self) -> dict[str, Any] | None:
        return self.channel.last_message

    def send(self, message: dict[str, Any]) -> bool:
        return self.channel.send(message)

    def _store_thumbnail(self, jpeg: bytes) -> None:
        """The live grid's thumbnail, to Redis (any worker serves it); a failed write waits for the next."""
        self.spawn(self.safe_store(self.store.put_thumbnail(self.session_id, jpeg, THUMBNAIL_TTL_S)), "thumbnail")

    def proctor_message(self, text: str, by: Reviewer, now: float) -> bool:
        """A proctor's message to the candidate (and every watcher), logged in the event stream through
        the outbox in order with everything else; True when the candidate's channel took it."""
        delivered = self.send(ProctorMessage(type="proctor.message", v=DC_VERSION, text=text, at=round(now, 3)).model_dump(mode="json"))
        self.outbox.put(ProctorMessageItem(kind="proctor_message", t=round(now, 3), by=by, text=text,
                                           delivered=delivered).model_dump(mode="json", exclude={"id"}))
        return delivered

    def warn(self, message: str, code: str) -> None:
        self.send({"type": "warning", "code": code, "message": message})

    def note_changes(self, changed: list[dict[str, Any]]) -> None:
        """Event changes from outside a frame (audio, browser, ticks, the peer): they ride on the
        next analysis; `video_lost` starting also warns the candidate now (no analysis comes)."""
        self.lane.note_changes(changed)
        if any(c["type"] == "video_lost" and c["state"] == "started" for c in changed):
            self.warn(VIDEO_LOST_WARNING, "video_lost")

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> Any:
        return self.tasks.spawn(coro, name)

    def counter_fields(self) -> dict[str, int]:
        return {**self.counters.as_dict(), "audio_chunks": self.audio.chunks}

    # -- time passing (the manager's periodic jobs) ---------------------------------------------
    def tick(self, now: float) -> None:
        """Advance the risk engine with the newest video frame's arrival."""
        self.note_changes(self.risk.tick(now, video_at=self.video_at).changed)

    def video_arriving(self, now: float) -> bool:
        """Whether decoded video arrived within the policy's observation gap."""
        gap = self.risk.engine.policy.observation_gap_seconds
        return self.video_at is not None and now - self.video_at <= gap

    def faces(self, now: float) -> int | None:
        """Faces in the latest analysis; None before one, and while no video arrives (the last
        analysis says nothing about a camera that stopped)."""
        if not self.video_arriving(now):
            return None
        faces = (self.last_message or {}).get("faces")
        return faces if isinstance(faces, int) else None

    def unresponsive(self, now: float) -> str | None:
        """Why the peer counts as gone although it did not say so, or None: an answered offer not
        connected within CONNECT_TIMEOUT_S, or a connected peer silent for SILENCE_TIMEOUT_S."""
        if self.status == "connecting" and self.offered_at is not None and now - self.offered_at > CONNECT_TIMEOUT_S:
            return f"peer did not connect within {CONNECT_TIMEOUT_S:.0f} s"
        if self.status == "live":
            last = max(self.heard_at or 0.0, self.connected_at or 0.0)
            if now - last > SILENCE_TIMEOUT_S:
                return f"nothing received for {SILENCE_TIMEOUT_S:.0f} s"
        return None

    def watch_track(self) -> Any:
        """A new subscription to the candidate's live video for a watcher, or None before it arrives."""
        if self.relay is None or self.video_track is None:
            return None
        return self.relay.subscribe(self.video_track, buffered=False)

    def watch_audio_track(self) -> Any:
        """A new subscription to the candidate's microphone for a watcher, or None without one. Buffered:
        every 20 ms frame reaches the watcher's Opus encoder (dropping frames would be heard); the
        watcher stops it when it closes, so nothing piles up behind a watcher that is gone."""
        if self.audio_relay is None or self.audio_track is None:
            return None
        return self.audio_relay.subscribe(self.audio_track, buffered=True)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self.outbox.start()

    async def stop_analysis(self) -> None:
        """Stop the tasks (drains, analysis) but keep the peer, so a last message goes out after
        the last analysis: the counters then say what the candidate received."""
        await self.tasks.cancel()

    async def stop_media(self) -> None:
        """Close the peer and stop every task; the session's data stays (a re-offer may follow)."""
        self.video_slot.close()
        pc, self.pc = self.pc, None
        for receiver in pc.getReceivers() if pc is not None else ():
            drop_decoder_backlog(receiver)  # closing must not wait for a decode backlog
        self.channel.dc = None
        if pc is not None:
            try:
                await pc.close()
            except Exception:  # closing a broken peer must not stop the shutdown
                self.log.warning("error closing peer", exc_info=True)
        await self.tasks.cancel()
        if self.evidence is not None:  # snapshots in flight reach the stream before the outbox closes
            await self.evidence.drain()
        if self.clips is not None:  # so do clips: pending ones with the frames there are
            await self.clips.drain()
        self.video_slot = NewestFrame()
        self.lane.slot = self.video_slot

    async def aclose(self, flush_s: float = 5.0) -> None:
        """The final close; a second call returns at once. The outbox gets `flush_s` seconds to flush."""
        if self._closed:
            return
        self._closed = True
        await self.stop_media()
        if self.remote is not None:
            self.remote.close()
        await self.risk.close()
        await self.outbox.close(timeout=flush_s)

    # -- peer wiring ----------------------------------------------------------------------------
    def attach_peer(self, pc: Any) -> None:
        self.pc = pc
        self.status = "connecting"
        self.gone_at = None
        self.offered_at = time.time()
        self.heard_at = None
        pc.on("track", self._on_track)
        pc.on("datachannel", lambda dc: self._on_datachannel(pc, dc))
        pc.on("connectionstatechange", lambda: self._on_peer_state(pc))

    def _on_track(self, track: Any) -> None:
        if track.kind == "video":
            self._on_video(track)
        elif track.kind == "audio":
            from aiortc.contrib.media import MediaRelay

            # the voice analysis reads every frame through the relay, as it read the track; watchers subscribe too
            self.audio_relay, self.audio_track = MediaRelay(), track
            self.spawn(self.audio.consume(self.audio_relay.subscribe(track), on_frame=self._heard), "audio")

    def _heard(self) -> None:
        self.heard_at = time.time()

    def _on_video(self, track: Any) -> None:
        from aiortc.contrib.media import MediaRelay

        self.relay = MediaRelay()
        self.video_track = track
        # the relay's proxy feeds our analysis; watchers subscribe to the same relay
        analysed = self.relay.subscribe(track, buffered=False)
        pc = self.pc
        receiver = None if pc is None else next((r for r in pc.getReceivers() if r.track is track), None)
        self.decode_guard = None if receiver is None else DecodeGuard(
            receiver, drain=lambda: drain_receive_buffers(pc))
        self.spawn(drain_track(analysed, self.video_slot, self._on_frame), "video-drain")
        self.spawn(AnalysisLoop(self.video_slot, self.analysis_fps, self.lane.analyse).run(), "analysis")

    def _on_frame(self, frame: Any, received_ms: float) -> None:
        self.video_at = self.heard_at = received_ms / 1000.0
        self.counters.frames_received += 1
        metrics.FRAMES_RECEIVED.inc()
        if self.decode_guard is not None:
            self.decode_guard.check(received_ms / 1000.0, frame.pts)
            self.counters.decode_sheds = self.decode_guard.sheds

    def _on_datachannel(self, pc: Any, dc: Any) -> None:
        if dc.label != "vigil":
            self.counters.dc_bad_messages += 1
            return
        self.channel.bind(dc)

        @dc.on("close")
        def on_close() -> None:
            if self.pc is pc:
                self.spawn(self.gone("data channel closed"), "gone")

    def _flooded(self, reason: str) -> None:
        """The channel cut the candidate off for a flood: tell them and the watchers, then disconnect."""
        self.warn(reason, "message_flood")
        self.spawn(self.gone(reason), "gone")

    async def _on_peer_state(self, pc: Any) -> None:
        state = pc.connectionState
        self.log.info("peer %s", state)
        if state == "connected":
            await self._went_live()
        elif state in ("failed", "closed") and self.pc is pc:
            await self.gone(f"peer {state}")

    async def _went_live(self) -> None:
        self.status = "live"
        self.connected_at = time.time()
        self.note_changes(self.risk.connection(self.connected_at, True).changed)
        await self.safe_store(self.store.update_session(self.session_id, {"status": "live"}))
        await self.safe_store(self.store.set_live(self.session_id, True))

    async def gone(self, reason: str) -> None:
        """The peer went away (or is treated so): disconnected, told to the risk engine and the
        manager, which stops the media and writes the status. A second call does nothing."""
        if self.status in ("ended", "disconnected"):
            return
        self.status = "disconnected"
        self.log.info("disconnected: %s", reason)
        self.note_changes(self.risk.connection(time.time(), False).changed)
        await self.on_gone(self, reason)

    # -- data channel in ------------------------------------------------------------------------
    def _dispatch(self, msg: ClientMessage) -> None:
        """A valid client message to the part it is for."""
        self._heard()
        if isinstance(msg, ClockMessage):
            self.clock.record(msg.pts, msg.captured_ms)
        elif isinstance(msg, BrowserMessage):
            self.note_changes(self.risk.browser(time.time(), msg.event).changed)
        else:  # calibration.start / calibration.sample / calibration.recentre
            self.calibration.on_message(msg, time.time())

    async def safe_store(self, coro: Coroutine[Any, Any, Any]) -> bool:
        try:
            await coro
            return True
        except Exception as exc:  # Redis away: state is rewritten on the next tick
            self.store.errors += 1
            self.log.warning("store write failed: %s", exc)
            return False
