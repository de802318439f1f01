"""Whether a stored calibration still holds for the head in front of the camera now.

A calibration maps eye and head features to the screen; it was fitted on the head positions the
candidate held while the dots were shown. The server keeps it for the candidate's next session
(same day, same desk), where the head may sit elsewhere: sideways, higher, nearer. Inside the
fitted range the map interpolates; outside it extrapolates, and on real people (issue 17) a reused
map fell from 4.2 to 10.9 deg mean, worse than always guessing the screen's centre.

`HeadRange` records, for each head term (`features.HEAD_TERMS`), the lowest and highest per-dot
median seen in the fit. `decide` compares the median head terms of the first frames of the new
sitting with it, in units of `features.HEAD_TYPICAL_MOVE` (how much a seated head typically moves):

* every term within `REUSE_TOLERANCE` of the range: **reuse** the map as it is;
* distance (`log_scale`) further out than that: **recalibrate**. Nearer or further, the same eye
  rotation covers a different length of screen: a scale error, which an offset cannot fix;
* only position or rotation out (head_x, head_y, yaw, pitch), by at most `RECENTRE_LIMIT`:
  **recentre** (one dot at the centre measures the offset, `drift.recentre`);
* further out: **recalibrate**.

Within a sitting the same range gates the fit's head-aware map frame by frame (`head_aware_weight`):
a map that uses the head terms freely is trusted only where it interpolates, and fades to the
transfer-safe map over `HEAD_AWARE_FADE` past the range (fit.py, step 6).

Pure: the caller collects the frames (`CHECK_FRAMES` usable ones) and acts on the decision.
"""
from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from pipeline.calibration.features import HEAD_TERMS, HEAD_TYPICAL_MOVE, FeatureSample

#: usable frames of the new sitting whose median head terms are compared (1 s at 5 fps): a median
#: of five ignores a glance or a landmark glitch.
CHECK_FRAMES = 5
#: how far outside the fitted range a head term may be, in typical movements, and the map still be
#: used unchanged. Half a typical movement: the fit's head coefficients were shrunk towards the
#: eye-only map (fit.py), so half a movement past the range moves a prediction by a small part of
#: the map's own error.
REUSE_TOLERANCE = 0.5
#: position or rotation further out than this (typical movements) is a different seat, not a shift.
RECENTRE_LIMIT = 3.0
#: how far past the fitted range (typical movements, the furthest head term) the head-aware map
#: fades out, linearly from full weight at the range's edge to none. Inside the range its head
#: coefficients interpolate between what the dots showed; past it they extrapolate with slopes that
#: the dots pinned down only over the range's own width, and nothing bounds them (lambda may be 0).
#: The fade is narrower than `REUSE_TOLERANCE`, so a reused map's head terms are never
#: extrapolated unshrunk: half-way to the tolerance the safe map alone predicts. Not zero, so one
#: frame's landmark jitter across the edge (about a tenth of a typical movement) does not switch
#: maps (a jump of the pointer on screen).
HEAD_AWARE_FADE = 0.25
#: index of `log_scale` (distance) in `FeatureSample.NAMES`.
SCALE_TERM = 6

Action = Literal["reuse", "recentre", "recalibrate"]


@dataclass(frozen=True)
class HeadRange:
    """Lowest and highest per-dot median of each head term the map was fitted on (`HEAD_TERMS` order)."""

    low: tuple[float, ...]
    high: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"terms": [FeatureSample.NAMES[i] for i in HEAD_TERMS], "low": list(self.low), "high": list(self.high)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HeadRange:
        low, high = tuple(float(v) for v in d["low"]), tuple(float(v) for v in d["high"])
        if len(low) != len(HEAD_TERMS) or len(high) != len(HEAD_TERMS):
            raise ValueError(f"head_range needs {len(HEAD_TERMS)} low and high values")
        return cls(low, high)


def head_range(points: Sequence[Sequence[FeatureSample]]) -> HeadRange:
    """The range of the per-dot medians of each head term (each dot: its fixation's samples)."""
    medians = [[statistics.median(s.values[i] for s in samples) for i in HEAD_TERMS] for samples in points if samples]
    if not medians:
        raise ValueError("no samples to take a head range from")
    return HeadRange(tuple(min(m[k] for m in medians) for k in range(len(HEAD_TERMS))),
                     tuple(max(m[k] for m in medians) for k in range(len(HEAD_TERMS))))


@dataclass(frozen=True)
class TransferDecision:
    action: Action
    #: head term name -> how far outside the fitted range the new sitting's median is, in typical
    #: movements (0 inside it)
    outside: Mapping[str, float]
    reason: str  # plain words for the candidate


def beyond_range(fitted: HeadRange, features: np.ndarray) -> np.ndarray:
    """(n, head terms): how far each row's head terms lie outside the fitted range, in typical
    movements (0 inside). `features`: (n, len(FeatureSample.NAMES))."""
    head = np.atleast_2d(np.asarray(features, dtype=np.float64))[:, HEAD_TERMS]
    beyond = np.maximum(np.maximum(np.asarray(fitted.low) - head, head - np.asarray(fitted.high)), 0.0)
    return beyond / np.asarray(HEAD_TYPICAL_MOVE)


def head_aware_weight(fitted: HeadRange, features: np.ndarray) -> np.ndarray:
    """(n,): the head-aware map's share of each row's prediction: 1 with every head term inside the
    fitted range, falling linearly to 0 at `HEAD_AWARE_FADE` past it (the furthest term decides)."""
    furthest = beyond_range(fitted, features).max(axis=1)
    return np.clip(1.0 - furthest / HEAD_AWARE_FADE, 0.0, 1.0)


def outside_range(fitted: HeadRange, samples: Sequence[FeatureSample]) -> dict[str, float]:
    """Each head term's distance outside the fitted range, in typical movements (median of `samples`)."""
    now = [[statistics.median(s.values[j] for s in samples) if j in HEAD_TERMS else 0.0
            for j in range(len(FeatureSample.NAMES))]]
    beyond = beyond_range(fitted, np.array(now))[0]
    return {FeatureSample.NAMES[i]: float(beyond[k]) for k, i in enumerate(HEAD_TERMS)}


def decide(fitted: HeadRange | None, samples: Sequence[FeatureSample]) -> TransferDecision:
    """Reuse, recentre or recalibrate (module docstring). `samples`: usable frames of the new sitting."""
    if fitted is None:
        return TransferDecision("recalibrate", {}, "Your saved calibration predates head-position checks; "
                                "please calibrate again.")
    if not samples:
        raise ValueError("decide needs at least one sample of the new sitting")
    outside = outside_range(fitted, samples)
    scale = outside[FeatureSample.NAMES[SCALE_TERM]]
    position = max(v for name, v in outside.items() if name != FeatureSample.NAMES[SCALE_TERM])
    if scale > REUSE_TOLERANCE:
        return TransferDecision("recalibrate", outside, "You are sitting nearer to or further from the screen "
                                "than when you calibrated; please calibrate again.")
    if position <= REUSE_TOLERANCE:
        return TransferDecision("reuse", outside, "Your saved calibration still fits how you are sitting.")
    if position <= RECENTRE_LIMIT:
        return TransferDecision("recentre", outside, "Your head has moved since you calibrated; please look at "
                                "the dot in the centre to recentre the calibration.")
    return TransferDecision("recalibrate", outside, "You are sitting quite differently from when you calibrated; "
                            "please calibrate again.")
