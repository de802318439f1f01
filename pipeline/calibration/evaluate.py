"""A whole calibration run judged: fit on the fit dots, measure on the validation dots, accept or refuse.

The reported accuracy is measured on the **validation** dots, which the fit never saw. When none of
them got usable frames, the fit dots' leave-one-point-out errors (also held out, see fit.py) stand
in and `basis` says so. With the screen's physical size known, the run is accepted when the mean
error is at most `limit_deg` degrees of visual angle; without it degrees would rest on an assumed
pixel size (accuracy.py), so the limit is `limit_fraction` of the screen's diagonal and the message
speaks of px and screen share only. The message says in plain words what was measured and what to do.
"""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pipeline.calibration.accuracy import (
    Accuracy,
    PointError,
    ScreenGeometry,
    point_error,
    summarise,
    viewing_distance_mm,
)
from pipeline.calibration.fit import (
    MIN_SAMPLES_PER_POINT,
    FitError,
    FitResult,
    GazeModel,
    PointSamples,
    fit,
    fixation,
    mean_prediction,
)

#: default acceptance limit: mean error over the validation dots, degrees of visual angle. Webcam
#: gaze trackers reach 2-4 deg in good conditions; past 5 deg a 15-inch screen at 60 cm (about
#: 32 x 18 deg) is only a 3 x 2 grid of distinguishable places, too coarse to say on/off screen
#: near its edges.
DEFAULT_LIMIT_DEG = 5.0
#: the limit when the screen's size is unknown: mean error over the screen's diagonal. 5 deg at
#: 60 cm is 52 mm, 13 % of a 15.6-inch laptop's 396 mm diagonal and 9 % of a 24-inch monitor's:
#: 12 % lets through what the degree limit would on a laptop.
DEFAULT_LIMIT_FRACTION = 0.12


@dataclass(frozen=True)
class Calibration:
    ok: bool
    status: Literal["accepted", "refused", "failed"]
    message: str
    model: GazeModel | None
    fit: FitResult | None
    accuracy: Accuracy | None
    basis: Literal["validation", "leave-one-point-out", "none"]
    points: tuple[PointError, ...]
    screen: ScreenGeometry
    limit_deg: float
    limit_fraction: float = DEFAULT_LIMIT_FRACTION

    @property
    def size_known(self) -> bool:
        """Degrees are claimed only when the screen's physical size is known."""
        return self.screen.mm_per_px is not None


def _how_far(acc: Accuracy) -> str:
    """The mean error in plain words: degrees (with px and mm) when the size is known, else px and share."""
    if acc.assumed_pixel_size:
        return f"{acc.mean_px:.0f} px ({acc.mean_fraction:.0%} of the screen's diagonal)"
    mm = f", {acc.mean_mm:.0f} mm" if acc.mean_mm is not None else ""
    return f"{acc.mean_deg:.1f} degrees ({acc.mean_px:.0f} px{mm})"


def evaluate(fit_points: Sequence[PointSamples], validation_points: Sequence[PointSamples], *,
             screen: ScreenGeometry, distance_mm: float | None = None,
             limit_deg: float = DEFAULT_LIMIT_DEG, limit_fraction: float = DEFAULT_LIMIT_FRACTION) -> Calibration:
    try:
        result = fit(fit_points)
    except FitError as exc:
        return Calibration(False, "failed", f"Calibration failed: {exc}. Make sure your whole face is in view "
                           "and well lit, keep your head still and follow each dot with your eyes, then redo it.",
                           None, None, None, "none", (), screen, limit_deg, limit_fraction)
    model = result.model
    used = [s for p in fit_points for s in fixation(p.samples)]
    estimated = distance_mm is None
    if distance_mm is None:
        distance_mm = viewing_distance_mm(statistics.median(s.face_scale for s in used),
                                          yaw_deg=statistics.median(s.yaw_deg for s in used))
    errors: list[PointError] = []
    for p in fit_points:
        if p.index in result.lopo_error_px:
            errors.append(_lopo_point(p, result, screen, distance_mm))
    val_errors = []
    for p in validation_points:
        steady = fixation(p.samples)
        pred = mean_prediction(model, steady) if len(steady) >= MIN_SAMPLES_PER_POINT else None
        if pred is not None:
            val_errors.append(point_error(p.index, (p.x, p.y), pred, screen=screen, distance_mm=distance_mm,
                                          validation=True, samples=len(steady)))
    basis: Literal["validation", "leave-one-point-out"] = "validation" if val_errors else "leave-one-point-out"
    acc = summarise(val_errors or errors, screen=screen, distance_mm=distance_mm, distance_estimated=estimated)
    points = tuple(sorted(errors + val_errors, key=lambda e: e.index))
    if acc.assumed_pixel_size:
        ok, limit = acc.mean_fraction <= limit_fraction, f"{limit_fraction:.0%} of the screen's diagonal"
    else:
        ok, limit = acc.mean_deg <= limit_deg, f"{limit_deg:g} degrees"
    held_out = "the check dots" if basis == "validation" else "dots left out of the fit"
    if ok:
        msg = (f"Calibration accepted: on {held_out} your measured gaze was on average {_how_far(acc)} "
               f"from the dot, within the limit of {limit}.")
    else:
        msg = (f"Calibration not accepted: on {held_out} your measured gaze was on average {_how_far(acc)} "
               f"from the dot; the limit is {limit}. "
               "Please redo it: sit still about an arm's length from the screen, keep your face lit and in "
               "view, and look straight at each dot until it moves.")
    return Calibration(ok, "accepted" if ok else "refused", msg, model, result, acc, basis, points, screen, limit_deg,
                       limit_fraction)


def _lopo_point(p: PointSamples, result: FitResult, screen: ScreenGeometry, distance_mm: float) -> PointError:
    """A fit dot's error as predicted by the map fitted without it (same lambda)."""
    return point_error(p.index, (p.x, p.y), result.lopo_prediction[p.index], screen=screen,
                       distance_mm=distance_mm, validation=False, samples=result.used_samples[p.index])
