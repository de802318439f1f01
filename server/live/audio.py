"""One session's microphone: voice activity off the event loop, other voices judged against the
mouth seen on video, and the risk engine fed about five times a second.

A session without an audio track (or whose track never delivers) is reported: once a warning on
the data channel, and, while the policy requires audio, `audio_muted` readings so the risk engine
raises the event as it would for a silent microphone.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from pipeline.analysis import FrameAnalysis
from pipeline.audio.analyzer import AudioAnalyzer, AudioUpdate
from pipeline.audio.other_voice import MouthActivity, other_voice
from pipeline.risk.messages import Observation
from pipeline.stages.landmarks import LandmarksResult
from server.rtc.audio_track import consume_audio

#: audio state goes to the risk engine when it changes, else at most this often (its debounce
#: filters need repeated readings to confirm a condition).
AUDIO_RISK_PERIOD_S = 0.2
#: no audio this long after the peer connected means no microphone track.
MISSING_AFTER_S = 3.0
MISSING_CODE = "microphone_missing"
MISSING_WARNING = ("No microphone audio is reaching the proctoring server: check that the microphone "
                   "is connected and allowed for this page.")


class _Arrivals:
    """An audio track that calls `on_frame()` as each frame arrives, before analysis."""

    def __init__(self, track: Any, on_frame: Callable[[], None]) -> None:
        self.track = track
        self.on_frame = on_frame

    async def recv(self) -> Any:
        frame = await self.track.recv()
        self.on_frame()
        return frame


class SessionAudio:
    def __init__(self, *, risk: Any, executor: Executor, vad: Any,
                 note_changes: Callable[[list[dict[str, Any]]], None],
                 warn: Callable[[str, str], None], log: Callable[[dict[str, Any]], None]) -> None:
        self.risk = risk
        self.executor = executor
        self.vad = vad
        self.note_changes = note_changes
        self.warn = warn
        self.log = log
        #: session time of the first analysed audio chunk (sample 0 of the track)
        self.first_t: float | None = None
        self.mouth = MouthActivity()
        self.speaking: bool | None = None
        self.chunks = 0
        self.track_seen = False
        self._state: tuple[Any, ...] = ()
        self._fed_t = 0.0
        self._warned = False

    async def consume(self, track: Any, on_frame: Callable[[], None] | None = None) -> None:
        """Voice activity off the event loop; without a VAD the track is still drained.
        `on_frame()` is called as each audio frame arrives (the session's liveness)."""
        vad = self.vad

        def analyzer() -> AudioAnalyzer:
            if vad is None or not vad.loaded:
                raise RuntimeError("voice activity detector unavailable")
            return AudioAnalyzer(vad)

        self.track_seen = True
        source = track if on_frame is None else _Arrivals(track, on_frame)
        await consume_audio(source, analyzer, self.executor, self.on_update, time.time)

    def on_update(self, update: AudioUpdate) -> None:
        """One 32 ms chunk: track speaking, judge other voices, feed the risk engine at ~5 Hz."""
        self.chunks += 1
        if self.first_t is None:
            self.first_t = update.t
        self.speaking = update.speaking
        for event in update.events:  # speech segments with their true boundaries, for the log
            item: dict[str, Any] = {"kind": event.kind, "t": event.t, "track_s": round(event.t - self.first_t, 3)}
            if event.kind == "speech_ended":
                item["duration"] = round(getattr(event, "duration", 0.0), 3)
            self.log(item)
        voice = other_voice(update.speaking, self.mouth.moving(update.t))
        self._feed(update.t, update.speaking, voice, update.muted)

    def on_frame(self, analysis: FrameAnalysis) -> None:
        """The mouth opening of an analysed frame (None without a face mesh), for the other-voice check."""
        landmarks = analysis.result("landmarks", LandmarksResult)
        self.mouth.add(analysis.t, None if landmarks is None else landmarks.mouth_open)

    def check_missing(self, now: float, connected_at: float | None) -> None:
        """Called about once a second: report a session whose microphone never delivered."""
        if self.chunks or connected_at is None or now - connected_at < MISSING_AFTER_S:
            return
        if not self._warned:
            self._warned = True
            self.warn(MISSING_WARNING, MISSING_CODE)
        self._feed(now, None, None, True, force=True)

    def _feed(self, t: float, speaking: bool | None, voice: bool | None, muted: bool | None,
              force: bool = False) -> None:
        state = (speaking, voice, muted)
        if not force and state == self._state and t - self._fed_t < AUDIO_RISK_PERIOD_S:
            return
        self._state, self._fed_t = state, t
        obs = Observation(t=t, speaking=speaking, other_voice=voice, audio_muted=muted)
        self.note_changes(self.risk.observe(obs).changed)
