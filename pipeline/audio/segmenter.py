"""Speech segmentation with hysteresis, and a muted-microphone detector, per 32 ms chunk.

Pure: the caller passes each chunk's start time (session clock, seconds), its speech probability
and its level; nothing here reads a clock or touches audio.

Speech (the rule silero's own `VADIterator` uses, plus a minimum length):
- idle -> *candidate* when a chunk's probability reaches `start_threshold`; the onset is that chunk's
  start.
- While in a segment, a chunk below `end_threshold` opens a *hangover* (if none is open); a chunk
  at or above `start_threshold` closes it. Chunks between the two thresholds change nothing: that
  gap is the hysteresis that keeps a wavering probability from toggling the state.
- A hangover that lasts `min_silence_s` ends the segment. Its end is where the hangover began,
  plus `pad_s`.
- A candidate becomes speech (emits `SpeechStarted`, `speaking` turns true) once it has lasted
  `min_speech_s` with no hangover open; a candidate that ends before that was a click or a cough
  and emits nothing. `SpeechStarted.t` is the onset minus `pad_s`, so it lies in the past of the
  chunk that confirms it (by `min_speech_s` at least): events are exact in time, late in arrival.

Level and mute: each chunk's RMS level in dBFS (digital zeros clamp to `LEVEL_FLOOR_DBFS`).
`muted` turns true once every chunk for `muted_hold_s` has been below `muted_floor_dbfs`, and
false on the first chunk above it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

#: Probability that opens a segment: silero's documented default threshold.
START_THRESHOLD = 0.5
#: Probability below which a segment starts to end: silero's `neg_threshold` (threshold - 0.15).
END_THRESHOLD = 0.35
#: Shorter bursts (clicks, a cough, a chair) are not speech; silero's `min_speech_duration_ms`.
MIN_SPEECH_S = 0.25
#: Pauses between words and breaths last up to ~250 ms; a segment ends only after a longer one.
MIN_SILENCE_S = 0.30
#: Soft onsets and final consonants score under the threshold; widen each edge by silero's
#: `speech_pad_ms` (30 ms). Measured on vad_mix_01: edges then lie within ~150 ms of the labels.
PAD_S = 0.03

#: Level given to an all-zero chunk instead of -inf (keeps messages JSON-safe).
LEVEL_FLOOR_DBFS = -120.0
#: Below this a chunk is digital silence, not a quiet room. One int16 LSB of RMS is -90.3 dBFS;
#: a quiet room measured -80..-60 dBFS (median -73, 5th percentile -80 after an Opus round trip),
#: so the -70 often quoted for "silence" would call a quiet room muted. A muted browser track
#: (track.enabled = false) sends exact zeros, which decode to exact zeros.
MUTED_FLOOR_DBFS = -85.0
#: How long the level must stay below the floor before `muted` is reported: rides over the short
#: zero runs a decoder emits on packet loss or at stream start.
MUTED_HOLD_S = 1.0


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level of float samples in [-1, 1], in dBFS, clamped to LEVEL_FLOOR_DBFS."""
    x = np.asarray(samples, dtype=np.float32)
    if x.size == 0:
        return LEVEL_FLOOR_DBFS
    mean_square = float(np.mean(np.square(x, dtype=np.float64)))
    if mean_square <= 0.0:
        return LEVEL_FLOOR_DBFS
    return max(LEVEL_FLOOR_DBFS, 10.0 * math.log10(mean_square))


@dataclass(frozen=True)
class SegmenterConfig:
    """Thresholds and durations of `SpeechSegmenter`; the defaults are the module constants."""

    start_threshold: float = START_THRESHOLD
    end_threshold: float = END_THRESHOLD
    min_speech_s: float = MIN_SPEECH_S
    min_silence_s: float = MIN_SILENCE_S
    pad_s: float = PAD_S
    muted_floor_dbfs: float = MUTED_FLOOR_DBFS
    muted_hold_s: float = MUTED_HOLD_S

    def __post_init__(self) -> None:
        if not 0.0 <= self.end_threshold <= self.start_threshold <= 1.0:
            raise ValueError("need 0 <= end_threshold <= start_threshold <= 1")
        if min(self.min_speech_s, self.min_silence_s, self.pad_s, self.muted_hold_s) < 0:
            raise ValueError("durations must not be negative")


@dataclass(frozen=True)
class SpeechStarted:
    """Speech began at `t` (session seconds); reported once it has lasted `min_speech_s`."""

    t: float
    kind: Literal["speech_started"] = "speech_started"


@dataclass(frozen=True)
class SpeechEnded:
    """Speech that began at `t - duration` ended at `t`; reported `min_silence_s` later."""

    t: float
    duration: float
    kind: Literal["speech_ended"] = "speech_ended"


SpeechEvent = SpeechStarted | SpeechEnded


@dataclass(frozen=True)
class SegmenterStep:
    """The segmenter's answer to one chunk."""

    speaking: bool
    muted: bool
    events: tuple[SpeechEvent, ...] = ()


class SpeechSegmenter:
    """Per-session hysteresis segmenter and mute detector (see the module docstring)."""

    def __init__(self, config: SegmenterConfig | None = None) -> None:
        self.config = config or SegmenterConfig()
        self._onset: float | None = None  # start of the current candidate or segment
        self._confirmed = False  # the current segment has been reported (SpeechStarted sent)
        self._hangover_since: float | None = None  # start of the first sub-threshold chunk
        self._last_end: float | None = None  # end of the last reported segment (no overlaps)
        self._quiet_since: float | None = None  # start of the current run below the mute floor
        self._muted = False

    @property
    def speaking(self) -> bool:
        return self._confirmed

    @property
    def muted(self) -> bool:
        return self._muted

    def push(self, t: float, duration: float, probability: float, level_dbfs: float) -> SegmenterStep:
        """Feed one chunk starting at `t` and lasting `duration` seconds."""
        events: list[SpeechEvent] = []
        self._segment(t, t + duration, probability, events)
        self._mute(t, t + duration, level_dbfs)
        return SegmenterStep(speaking=self._confirmed, muted=self._muted, events=tuple(events))

    def finish(self, t: float) -> SegmenterStep:
        """The stream ended at `t`: close a confirmed segment there, drop an unconfirmed one."""
        events: list[SpeechEvent] = []
        if self._onset is not None and self._confirmed:
            end = t if self._hangover_since is None else min(t, self._hangover_since + self.config.pad_s)
            events.append(self._close(end))
        self._reset_segment()
        return SegmenterStep(speaking=False, muted=self._muted, events=tuple(events))

    # -- speech ----------------------------------------------------------------------------
    def _segment(self, t: float, t_end: float, p: float, events: list[SpeechEvent]) -> None:
        cfg = self.config
        if self._onset is None:
            if p >= cfg.start_threshold:
                self._onset = t
                self._hangover_since = None
                self._confirmed = False
            else:
                return
        elif p >= cfg.start_threshold:
            self._hangover_since = None
        elif p < cfg.end_threshold and self._hangover_since is None:
            self._hangover_since = t

        if self._hangover_since is not None and t_end - self._hangover_since >= cfg.min_silence_s:
            if self._confirmed:
                events.append(self._close(self._hangover_since + cfg.pad_s))
            self._reset_segment()
            return

        if (not self._confirmed and self._hangover_since is None
                and t_end - self._onset >= cfg.min_speech_s):
            self._confirmed = True
            start = self._onset - cfg.pad_s
            if self._last_end is not None:
                start = max(start, self._last_end)
            self._onset = start
            events.append(SpeechStarted(start))

    def _close(self, end: float) -> SpeechEnded:
        assert self._onset is not None
        end = max(end, self._onset)
        self._last_end = end
        return SpeechEnded(end, end - self._onset)

    def _reset_segment(self) -> None:
        self._onset = None
        self._confirmed = False
        self._hangover_since = None

    # -- mute ------------------------------------------------------------------------------
    def _mute(self, t: float, t_end: float, level_dbfs: float) -> None:
        if level_dbfs >= self.config.muted_floor_dbfs:
            self._quiet_since = None
            self._muted = False
            return
        if self._quiet_since is None:
            self._quiet_since = t
        if t_end - self._quiet_since >= self.config.muted_hold_s:
            self._muted = True
