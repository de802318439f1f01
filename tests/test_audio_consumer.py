"""The audio edge: real 48 kHz stereo s16 av.AudioFrames in, per-chunk updates out on the loop.

The frames are built from a real recording (CMU ARCTIC sentence, 16 kHz mono) resampled with PyAV
to what aiortc hands over after Opus decoding: 48 kHz stereo s16, 20 ms, pts in 1/48000. The
track is a minimal stand-in with a `recv()` coroutine (a unit test, not an integration test).
"""
from __future__ import annotations

import asyncio
import fractions
import threading
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from pipeline.audio.analyzer import AudioAnalyzer, AudioUpdate
from pipeline.audio.segmenter import SpeechEnded, SpeechStarted
from pipeline.audio.vad import SileroVad
from server.rtc.audio_track import MediaClock, consume_audio

SPEECH = Path("/work/shared/data/audio/speech/cmu_arctic_us_aew_a0001.wav")
#: Speech in this file, from vad_mix_01's labels (18.28-21.83 s, the file joined at 18.09 s), +-100 ms.
SPEECH_SPAN = (0.19, 3.74)
LEAD_S, TAIL_S = 1.5, 1.0  # digital silence around the sentence (muted after 1 s)
FRAME_SAMPLES = 960  # 20 ms at 48 kHz
TIME_BASE = fractions.Fraction(1, 48_000)
SESSION_T0 = 50.0  # session clock at the first frame's arrival


def webrtc_frames(pts0: int = 0) -> list[av.AudioFrame]:
    """The sentence, padded with silence, as aiortc's decoded Opus frames."""
    with wave.open(str(SPEECH)) as w:
        mono16k = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    pad = lambda s: np.zeros(int(s * 16_000), np.int16)  # noqa: E731
    source = av.AudioFrame.from_ndarray(
        np.concatenate([pad(LEAD_S), mono16k, pad(TAIL_S)])[np.newaxis, :], format="s16", layout="mono")
    source.sample_rate = 16_000
    resampler = av.AudioResampler(format="s16", layout="stereo", rate=48_000)
    fifo = av.AudioFifo()
    for frame in resampler.resample(source) + resampler.resample(None):
        fifo.write(frame)
    frames = []
    for i, frame in enumerate(fifo.read_many(FRAME_SAMPLES)):
        frame.pts = pts0 + i * FRAME_SAMPLES
        frame.time_base = TIME_BASE
        frame.sample_rate = 48_000
        frames.append(frame)
    assert frames[0].format.name == "s16" and frames[0].layout.name == "stereo"
    return frames


class FakeTrack:
    """Plays frames as fast as recv() is awaited, then ends as aiortc does. `now` is its clock."""

    kind = "audio"

    def __init__(self, frames: list[av.AudioFrame], *, pace_s: float = 0.0) -> None:
        self.frames = list(frames)
        self.delivered = 0
        self.pace_s = pace_s

    def now(self) -> float:
        """A session clock consistent with the media: 20 ms per delivered frame."""
        return SESSION_T0 + max(0, self.delivered - 1) * FRAME_SAMPLES / 48_000

    async def recv(self) -> av.AudioFrame:
        await asyncio.sleep(self.pace_s)
        if self.delivered >= len(self.frames):
            raise MediaStreamError
        self.delivered += 1
        return self.frames[self.delivered - 1]


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    model = SileroVad()
    model.load()
    return model


@pytest.fixture
def executor():
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="analysis") as pool:
        yield pool


async def test_updates_arrive_on_the_loop_with_speaking_during_speech(vad, executor) -> None:
    track = FakeTrack(webrtc_frames())
    loop = asyncio.get_running_loop()
    updates: list[AudioUpdate] = []

    def on_update(update: AudioUpdate) -> None:
        assert asyncio.get_running_loop() is loop
        assert threading.current_thread() is threading.main_thread()
        updates.append(update)

    stats = await consume_audio(track, lambda: AudioAnalyzer(vad), executor, on_update, track.now)

    assert stats.frames == len(track.frames) and stats.analysis_errors == stats.callback_errors == 0
    total_s = len(track.frames) * 0.02
    chunks = [u for u in updates if u.duration > 0]
    assert len(chunks) == pytest.approx(total_s / 0.032, abs=2)  # nothing dropped
    assert chunks[0].t == pytest.approx(SESSION_T0, abs=0.002)
    assert np.allclose(np.diff([u.t for u in chunks]), 0.032)

    started = [u.started for u in updates if u.started]
    ended = [u.ended for u in updates if u.ended]
    assert len(started) == len(ended) == 1
    speech_start = SESSION_T0 + LEAD_S + SPEECH_SPAN[0]
    speech_end = SESSION_T0 + LEAD_S + SPEECH_SPAN[1]
    assert abs(started[0].t - speech_start) <= 0.2
    assert abs(ended[0].t - speech_end) <= 0.2

    during = [u.speaking for u in chunks if speech_start + 0.3 <= u.t <= speech_end - 0.4]
    assert during and all(during)
    assert not any(u.speaking for u in chunks if u.t < speech_start - 0.1)
    lead = [u.muted for u in chunks if SESSION_T0 + 1.0 <= u.t + u.duration <= SESSION_T0 + LEAD_S - 0.01]
    assert lead and all(lead)
    assert not updates[-1].speaking


async def test_a_busy_executor_batches_without_dropping_audio(vad, executor) -> None:
    frames = webrtc_frames()
    track = FakeTrack(frames, pace_s=0.001)

    class SlowAnalyzer(AudioAnalyzer):
        def push_many(self, blocks):  # a stalled executor: 30 ms per batch, frames keep coming
            time.sleep(0.03)
            return super().push_many(blocks)

    updates: list[AudioUpdate] = []
    stats = await consume_audio(track, lambda: SlowAnalyzer(vad), executor, updates.append, track.now)

    assert stats.batches < stats.frames / 3  # blocks accumulated while a batch was in flight
    assert stats.max_backlog_blocks > 3
    assert stats.samples_16k == pytest.approx(len(frames) * 320, abs=32)
    assert len([u for u in updates if u.duration > 0]) == stats.samples_16k // 512
    assert sum(1 for u in updates if isinstance(u.started, SpeechStarted)) == 1
    assert sum(1 for u in updates if isinstance(u.ended, SpeechEnded)) == 1


async def test_speech_open_at_track_end_is_closed(vad, executor) -> None:
    frames = webrtc_frames()[: int((LEAD_S + 2.0) / 0.02)]  # cut mid-sentence
    track = FakeTrack(frames)
    updates: list[AudioUpdate] = []
    await consume_audio(track, lambda: AudioAnalyzer(vad), executor, updates.append, track.now)
    assert updates[-1].ended is not None and not updates[-1].speaking
    assert updates[-1].ended.t == pytest.approx(SESSION_T0 + len(frames) * 0.02, abs=0.001)


async def test_unavailable_analysis_still_drains_the_track(executor) -> None:
    track = FakeTrack(webrtc_frames())

    def broken() -> AudioAnalyzer:
        raise RuntimeError("VAD not loaded")

    updates: list[AudioUpdate] = []
    stats = await consume_audio(track, broken, executor, updates.append, track.now)
    assert stats.frames == len(track.frames) and not stats.analyzer_available and updates == []


def test_media_clock_anchors_on_the_first_frame_and_reanchors_on_a_jump() -> None:
    now = [10.0]
    clock = MediaClock(lambda: now[0])
    frame = av.AudioFrame(format="s16", layout="stereo", samples=FRAME_SAMPLES)
    frame.time_base = TIME_BASE
    frame.pts = 123_456  # media time 2.572 s
    assert clock.session_time(frame) == pytest.approx(10.0)
    frame.pts += 48_000  # one second of media later, arriving 80 ms late: media time wins
    now[0] = 11.08
    assert clock.session_time(frame) == pytest.approx(11.0)
    frame.pts = 0  # pts reset (renegotiation): re-anchor on the clock
    now[0] = 12.0
    assert clock.session_time(frame) == pytest.approx(12.0) and clock.reanchors == 1
