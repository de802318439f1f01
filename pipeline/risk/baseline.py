"""The candidate's own baseline: neutral head pose, and the gaze seen while working on the screen.

Why: raw angles are relative to the camera, not to the screen. A webcam above a laptop screen, an
external camera beside a monitor or a phone held low puts "looking at the screen" tens of degrees
off the camera axis, and a candidate reading the screen's edges moves the gaze by up to the screen's
half-width (about 16 deg for a 15-inch laptop at 60 cm). So looking away is judged against what
this candidate's gaze did while working, not against fixed labels.

What is kept (`CandidateBaseline`):

- `head`: neutral (yaw, pitch), degrees, `head_pose.py` conventions;
- `gaze`: a `GazeBox`: the neutral gaze angles (h, v: head pose plus eyes, `gaze.py` conventions)
  and how far the gaze may go each way (left, right, down, up) and still be on the screen.

Estimation, when no calibration gave it: from the first *confident* frame (exactly one face, face
confidence at least the policy minimum, head pose present, image assessable), every confident frame
for the next `seconds` (the first minute) is a sample. The baseline exists from `min_seconds` on
(provisional, recomputed as samples arrive) and is fixed at `seconds`, when the samples are dropped.

- neutral head and neutral gaze: the medians of all samples (a glance moves a median only when it
  lasts half the time);
- the gaze box: per side, the distance from the neutral gaze to the 10th / 90th percentile of the
  gaze samples that lie within `max_extent` of it, plus `EXTENT_MARGIN_DEG` (the frame-to-frame
  noise), clamped to [`min_extent`, `max_extent`]. Samples beyond `max_extent` are glances and
  never widen the box; glances within it shorter than a tenth of the minute do not either. The
  floor `min_extent` means a candidate who stared at the centre for a minute can still read the
  screen's edges; the ceiling means a long look away in the first minute cannot teach the box that
  the phone is part of the screen.

A calibration may call `set(yaw, pitch, gaze=...)` at any time: the head neutral (and the gaze box
when given) it sets wins and is no longer estimated. Without a gaze box from the calibration, the
gaze box is still estimated (the calibrated gaze itself, `gaze_on_screen`, takes precedence in
`conditions.py` whenever a frame carries it).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: degrees added to the learned gaze extent on each side: the gaze angle's frame-to-frame noise on
#: the test clips is 0.5-1.3 deg (sd), its drift between two fixations of the same point up to 5.
EXTENT_MARGIN_DEG = 3.0
#: the percentiles of the gaze samples that bound the learned extent (a glance shorter than a tenth
#: of the learning window stays outside it).
EXTENT_QUANTILES = (10.0, 90.0)
#: gaze samples needed before a gaze box is given (1 s at the server's 5 fps).
MIN_GAZE_SAMPLES = 5


@dataclass(frozen=True)
class GazeBox:
    """Gaze angles (degrees) that count as on the screen: a neutral point and an extent each way."""

    h: float
    v: float
    #: allowed deviation from (h, v), each > 0: toward the image's left, right, down, up
    left: float
    right: float
    down: float
    up: float

    def excess(self, h: float, v: float) -> float:
        """How far (h, v) is outside the box, as a share of the extent on its side: <= 1 inside."""
        dh, dv = h - self.h, v - self.v
        return max(-dh / self.left if dh < 0 else dh / self.right,
                   -dv / self.down if dv < 0 else dv / self.up)


@dataclass(frozen=True)
class CandidateBaseline:
    """What this candidate looks like while working: see the module docstring."""

    head: tuple[float, float]
    gaze: GazeBox | None = None


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def gaze_box(h: np.ndarray, v: np.ndarray, min_extent: float, max_extent: float) -> GazeBox:
    """The box learned from gaze samples (module docstring); `h`, `v` are equal-length arrays."""
    h0, v0 = float(np.median(h)), float(np.median(v))
    lo_q, hi_q = EXTENT_QUANTILES

    def sides(values: np.ndarray, neutral: float) -> tuple[float, float]:
        near = values[np.abs(values - neutral) <= max_extent]  # never empty: the median is near
        lo, hi = np.percentile(near, [lo_q, hi_q])
        below = min(max(neutral - float(lo) + EXTENT_MARGIN_DEG, min_extent), max_extent)
        above = min(max(float(hi) - neutral + EXTENT_MARGIN_DEG, min_extent), max_extent)
        return below, above

    left, right = sides(h, h0)
    down, up = sides(v, v0)
    return GazeBox(h0, v0, left, right, down, up)


class BaselineEstimator:
    def __init__(self, seconds: float, min_seconds: float, min_face_confidence: float,
                 min_extent: float, max_extent: float) -> None:
        self._seconds = seconds
        self._min_seconds = min(min_seconds, seconds)
        self._min_confidence = min_face_confidence
        self._min_extent = min_extent
        self._max_extent = max_extent
        self._first_t: float | None = None
        #: (yaw, pitch, gaze h, gaze v); gaze NaN when the frame had none (a blink)
        self._samples: list[tuple[float, float, float, float]] = []
        self._fixed = False
        self._head: tuple[float, float] | None = None
        self._head_set = False
        self._gaze: GazeBox | None = None
        self._gaze_set = False

    @property
    def value(self) -> CandidateBaseline | None:
        """The baseline, or None while it has fewer than `min_seconds` of samples."""
        return None if self._head is None else CandidateBaseline(self._head, self._gaze)

    def set(self, yaw: float, pitch: float, gaze: GazeBox | None = None) -> None:
        """From a calibration: the neutral head pose (and the gaze box) no longer estimated."""
        if not _finite(yaw, pitch):
            raise ValueError(f"baseline must be finite degrees, got yaw={yaw!r} pitch={pitch!r}")
        if gaze is not None and not (_finite(*asdict(gaze).values()) and
                                     min(gaze.left, gaze.right, gaze.down, gaze.up) > 0):
            raise ValueError(f"gaze box must be finite with positive extents, got {gaze!r}")
        self._head, self._head_set = (float(yaw), float(pitch)), True
        if gaze is not None:
            self._gaze, self._gaze_set = gaze, True
        if self._gaze_set:
            self._fix()

    def add(self, t: float, yaw: float, pitch: float, gaze: tuple[float, float] | None,
            faces: int, confidence: float | None) -> None:
        """Offer one assessable frame's head pose and gaze angles; ignored once fixed."""
        if self._fixed or faces != 1 or confidence is None or confidence < self._min_confidence:
            return
        if self._first_t is None:
            self._first_t = t
        elapsed = t - self._first_t
        if elapsed <= self._seconds:
            h, v = gaze if gaze is not None else (math.nan, math.nan)
            self._samples.append((yaw, pitch, h, v))
        if elapsed >= self._min_seconds:
            self._estimate()
        if elapsed >= self._seconds:
            self._fix()

    def _estimate(self) -> None:
        samples = np.asarray(self._samples, dtype=np.float64)
        if not self._head_set:
            self._head = (float(np.median(samples[:, 0])), float(np.median(samples[:, 1])))
        if not self._gaze_set:
            gazes = samples[~np.isnan(samples[:, 2])]
            if len(gazes) >= MIN_GAZE_SAMPLES:
                self._gaze = gaze_box(gazes[:, 2], gazes[:, 3], self._min_extent, self._max_extent)

    def _fix(self) -> None:
        self._fixed = True
        self._samples.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "first_t": self._first_t,
            "samples": [[None if math.isnan(x) else x for x in s] for s in self._samples],
            "fixed": self._fixed,
            "head": None if self._head is None else list(self._head),
            "head_set": self._head_set,
            "gaze": None if self._gaze is None else asdict(self._gaze),
            "gaze_set": self._gaze_set,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        if "samples" not in state:  # a snapshot from before the gaze baseline: its head value stands
            value = state.get("value")
            self._head = None if value is None else (value[0], value[1])
            self._head_set = value is not None
            return
        self._first_t = state["first_t"]
        self._samples = [tuple(math.nan if x is None else x for x in s) for s in state["samples"]]  # type: ignore[misc]
        self._fixed = state["fixed"]
        head = state["head"]
        self._head = None if head is None else (head[0], head[1])
        self._head_set = state["head_set"]
        self._gaze = None if state["gaze"] is None else GazeBox(**state["gaze"])
        self._gaze_set = state["gaze_set"]
