"""One-dot recentring: correct a calibrated map's offset without refitting it.

Over an exam the candidate slumps, leans or nudges the laptop, and the map's predictions shift
mostly as a whole. Showing one dot at a known place (the centre) and comparing where the map puts
that fixation gives the shift: the new offset is the old one plus (target - mean prediction).
Only the offset changes; the slopes (how far the gaze moves per eye rotation) stay those of the
full calibration.

A shift larger than `MAX_RECENTRE_FRACTION` of the screen's diagonal is not applied: the setting
has changed too much for an offset to describe it (a different seat, a turned screen) and a full
calibration is asked for instead.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.calibration.features import FeatureSample
from pipeline.calibration.fit import MIN_SAMPLES_PER_POINT, GazeModel, fixation, mean_prediction

#: largest correction applied, as a fraction of the screen diagonal (a quarter: beyond it the map is
#: wrong in more than its offset).
MAX_RECENTRE_FRACTION = 0.25


@dataclass(frozen=True)
class Recentre:
    applied: bool
    model: GazeModel  # the corrected model (the same one when not applied)
    shift_px: tuple[float, float]  # correction measured (target - mean prediction)
    samples: int
    reason: str  # plain words


def recentre(model: GazeModel, samples: Sequence[FeatureSample], target: tuple[float, float], *,
             screen_w: float, screen_h: float, max_fraction: float = MAX_RECENTRE_FRACTION) -> Recentre:
    steady = fixation(samples)
    if len(steady) < MIN_SAMPLES_PER_POINT:
        return Recentre(False, model, (0.0, 0.0), len(steady),
                        "Your eyes could not be read steadily while the dot was shown; the previous "
                        "calibration is kept.")
    pred = mean_prediction(model, steady)
    assert pred is not None
    shift = (target[0] - pred[0], target[1] - pred[1])
    size = math.hypot(*shift)
    limit = max_fraction * math.hypot(screen_w, screen_h)
    if size > limit:
        return Recentre(False, model, shift, len(steady),
                        f"Your gaze moved by {size:.0f} px since calibration, too much for a quick "
                        "recentre; please calibrate again.")
    corrected = model.with_offset((model.offset[0] + shift[0], model.offset[1] + shift[1]))
    return Recentre(True, corrected, shift, len(steady), f"Recentred by {size:.0f} px.")
