"""Voice activity on real recordings: silero (ONNX) + hysteresis segmenter + mute detector.

Data: /work/shared/data/audio (see its README, "Audio"). vad_mix_01 is 24 s of room tone, three
read sentences and a running tap; its `speech_active` labels come from silero at 0.5 on the clean
sources and are good to +-100 ms.
"""
from __future__ import annotations

import csv
import wave
from pathlib import Path

import numpy as np
import pytest

from pipeline.audio.analyzer import AudioAnalyzer, AudioUpdate
from pipeline.audio.segmenter import (
    LEVEL_FLOOR_DBFS,
    SpeechEnded,
    SpeechSegmenter,
    SpeechStarted,
)
from pipeline.audio.vad import CHUNK_SAMPLES, SileroVad
from pipeline.stages.base import StageUnavailable

AUDIO = Path("/work/shared/data/audio")
VAD_MIX = AUDIO / "vad_mix" / "vad_mix_01_16k.wav"
VAD_MIX_LABELS = AUDIO / "vad_mix" / "vad_mix_01_labels.csv"
RUNNING_TAP = AUDIO / "noise" / "speechcommands_running_tap.wav"
ROOM_TONE = AUDIO / "noise" / "room_tone_proctoringai_center_focus_16k.wav"

#: Labels are +-100 ms; the segmenter's edges must fall within this of them.
BOUNDARY_TOLERANCE_S = 0.2
#: An arbitrary session time for the clip's first sample: nothing may assume t starts at 0.
T0 = 100.0
#: A resampled 20 ms WebRTC frame: the block size the edge hands over.
BLOCK = 320


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16_000, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    model = SileroVad()
    model.load()
    return model


def run(analyzer: AudioAnalyzer, samples: np.ndarray, t0: float = T0, block: int = BLOCK) -> list[AudioUpdate]:
    updates: list[AudioUpdate] = []
    for i in range(0, len(samples), block):
        updates += analyzer.push(samples[i:i + block], t0 + i / 16_000)
    return updates + analyzer.finish()


def segments(updates: list[AudioUpdate]) -> list[tuple[float, float]]:
    events = [e for u in updates for e in u.events]
    starts = [e.t for e in events if isinstance(e, SpeechStarted)]
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(starts) == len(ends)
    for start, end in zip(starts, ends, strict=True):
        assert end.duration == pytest.approx(end.t - start)
    return [(s, e.t) for s, e in zip(starts, ends, strict=True)]


def test_speech_segments_match_the_labelled_spans(vad: SileroVad) -> None:
    with open(VAD_MIX_LABELS, newline="") as f:
        labelled = [(float(r["start_s"]), float(r["end_s"])) for r in csv.DictReader(f)
                    if r["label"] == "speech_active"]
    found = [(s - T0, e - T0) for s, e in segments(run(AudioAnalyzer(vad), read_wav(VAD_MIX)))]

    assert len(found) == len(labelled) == 3
    for (start, end), (label_start, label_end) in zip(found, labelled, strict=True):
        assert abs(start - label_start) <= BOUNDARY_TOLERANCE_S, (start, label_start)
        assert abs(end - label_end) <= BOUNDARY_TOLERANCE_S, (end, label_end)


def test_speaking_flag_follows_the_segments_and_events_arrive_late_but_exact(vad: SileroVad) -> None:
    updates = run(AudioAnalyzer(vad), read_wav(VAD_MIX))
    found = segments(updates)
    for u in updates:
        if u.started is not None:  # confirmed after min speech, dated at the onset
            assert u.speaking and u.t > u.started.t
        if u.ended is not None:
            assert not u.speaking and u.t >= u.ended.t
    # Inside each span (away from the edges, where the decision is still pending) the flag is on.
    for start, end in found:
        inside = [u.speaking for u in updates if start + 0.3 <= u.t <= end - 0.4]
        assert inside and all(inside)
    # In the tap noise (15.09-18.09 s; speech ended at 14.95 and was decided 300 ms later) it is off.
    assert not any(u.speaking for u in updates if T0 + 15.4 <= u.t <= T0 + 18.0)


@pytest.mark.parametrize("path", [RUNNING_TAP, ROOM_TONE], ids=["running_tap", "room_tone"])
def test_noise_gives_no_speech(vad: SileroVad, path: Path) -> None:
    updates = run(AudioAnalyzer(vad), read_wav(path))
    assert len(updates) >= len(read_wav(path)) // CHUNK_SAMPLES
    assert not any(u.events for u in updates)
    assert not any(u.speaking for u in updates)
    # A quiet room is quiet, not muted: that is what the -85 dBFS floor is for.
    assert not any(u.muted for u in updates)


def test_digital_silence_is_muted_until_sound_returns(vad: SileroVad) -> None:
    zeros = np.zeros(16_000 * 2, dtype=np.int16)
    room = read_wav(ROOM_TONE)[16_000:32_000]
    updates = run(AudioAnalyzer(vad), np.concatenate([zeros, room]))
    silent = [u for u in updates if u.t + u.duration <= T0 + 2.0]
    assert all(u.level_dbfs == LEVEL_FLOOR_DBFS for u in silent)
    # Muted only after the hold (1 s), then for the rest of the silence.
    assert not any(u.muted for u in silent if u.t + u.duration < T0 + 0.99)
    assert all(u.muted for u in silent if u.t + u.duration >= T0 + 1.0)
    after = [u for u in updates if u.t >= T0 + 2.0]
    assert after and not any(u.muted for u in after)
    assert not any(u.speaking for u in updates)


def test_sessions_share_the_model_without_sharing_state(vad: SileroVad) -> None:
    speech, tap = read_wav(VAD_MIX), read_wav(RUNNING_TAP)[: len(read_wav(VAD_MIX))]
    alone = segments(run(AudioAnalyzer(vad), speech))
    a, b = AudioAnalyzer(vad), AudioAnalyzer(vad)
    interleaved: list[AudioUpdate] = []
    for i in range(0, len(speech), BLOCK):
        interleaved += a.push(speech[i:i + BLOCK], T0 + i / 16_000)
        assert not any(u.events for u in b.push(tap[i:i + BLOCK], T0 + i / 16_000))
    assert segments(interleaved + a.finish()) == alone


def test_block_size_and_float_input_do_not_change_the_result(vad: SileroVad) -> None:
    samples = read_wav(VAD_MIX)
    reference = segments(run(AudioAnalyzer(vad), samples))
    as_float = samples.astype(np.float32) / 32768.0
    again = segments(run(AudioAnalyzer(vad), as_float, block=1234))
    assert np.allclose(again, reference, atol=1e-6)


def test_a_time_jump_reanchors_the_buffer(vad: SileroVad) -> None:
    analyzer = AudioAnalyzer(vad)
    samples = read_wav(ROOM_TONE)
    first = analyzer.push(samples[:1100], T0)
    second = analyzer.push(samples[1100:3100], T0 + 5.0)  # ~4.9 s of lost audio
    assert [u.t for u in first] == pytest.approx([T0, T0 + 0.032])
    assert analyzer.resyncs == 1
    assert second[0].t == pytest.approx(T0 + 5.0)
    # Sub-tolerance jitter in the stamps is absorbed: chunk times follow the sample count.
    third = analyzer.push(samples[3100:3420], T0 + 5.0 + 2000 / 16_000 + 0.004)
    assert analyzer.resyncs == 1 and third[0].t == pytest.approx(second[-1].t + 0.032)


def test_missing_model_is_a_clear_unavailable_error(tmp_path: Path) -> None:
    with pytest.raises(StageUnavailable, match="not found"):
        SileroVad(tmp_path / "nope.onnx").load()


# -- the segmenter's rules on their own (probabilities given, 32 ms chunks) ---------------------
def feed(segmenter: SpeechSegmenter, probabilities: list[float]) -> list[tuple[float, object]]:
    out = []
    for i, p in enumerate(probabilities):
        for e in segmenter.push(i * 0.032, 0.032, p, -30.0).events:
            out.append((i, e))
    return out


def test_a_short_burst_is_not_speech() -> None:
    assert feed(SpeechSegmenter(), [0.0] * 5 + [0.9] * 6 + [0.0] * 20) == []  # 192 ms < 250 ms


def test_short_pauses_and_mid_threshold_wavering_do_not_end_speech() -> None:
    probs = [0.9] * 20 + [0.1] * 8 + [0.9] * 10 + [0.4] * 30 + [0.9] * 5 + [0.0] * 12
    events = feed(SpeechSegmenter(), probs)
    assert [type(e) for _, e in events] == [SpeechStarted, SpeechEnded]
    (i_start, start), (i_end, end) = events
    assert i_start == 7 and start.t == pytest.approx(-0.03)  # confirmed at 256 ms, dated at onset - pad
    assert end.t == pytest.approx(73 * 0.032 + 0.03)  # hangover opened by the first 0.0 chunk
    assert i_end == 73 + 9  # after 10 chunks (>= 300 ms) of silence
