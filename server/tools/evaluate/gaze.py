"""Calibrated gaze on labelled webcam images, with the product's own features and fit.

Each image goes through the default face stages; its gaze features become a calibration sample
exactly as in a live calibration (`pipeline.calibration.features.analysis_sample`, which also rejects
blinks, several faces and glitches). Images of one sitting (`session`) looking at the same target
form one dot (`PointSamples`); a dot needs at least two usable images, as in the product.

Three ways to predict each dot, all scored by `metrics.gaze_error`:

* **within a sitting**: `pipeline.calibration.fit.fit` on the sitting's dots; each dot's error is
  its leave-one-dot-out prediction (the map fitted without it, the lambda chosen by the fit);
* **across sittings of one person**: the map fitted on all dots of sitting A predicts every dot of
  each other sitting B of the same person (what the server does when it reuses a stored
  calibration);
* baselines: **centre guess** (always the screen's centre) and **eye-only** (the same fit with the
  head terms held constant, so only the eyes' features can move the prediction).

Rows may leave `person` out (the whole file is one person) and the mm and distance cells blank
(errors are then reported in px only).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from pipeline.calibration.features import FeatureSample, analysis_sample
from pipeline.calibration.fit import FitError, GazeModel, PointSamples, fit, mean_prediction, usable_points
from server.tools.evaluate.formats import GazeRow
from server.tools.evaluate.metrics import GazeError, gaze_error

#: FeatureSample.NAMES indices of the eye terms (the rest are head terms).
EYE_TERMS = (0, 1)
ONE_PERSON = "(one person)"


@dataclass(frozen=True)
class Dot:
    """One target in one sitting: its samples and what the rows say about the screen."""

    person: str
    session: str
    index: int
    target: tuple[float, float]
    screen_px: tuple[float, float]
    mm_per_px: float | None
    distance_mm: float | None
    group: str | None
    samples: tuple[FeatureSample, ...]
    rejected: int

    def points(self) -> PointSamples:
        return PointSamples(self.index, self.target[0], self.target[1], self.samples)

    def error(self, predicted: tuple[float, float]) -> GazeError:
        return gaze_error(self.target, predicted, mm_per_px=self.mm_per_px, distance_mm=self.distance_mm)


@dataclass(frozen=True)
class DotError:
    method: str  # within | across | centre | eye_only
    person: str
    session: str
    group: str | None
    error: GazeError


def eye_only(sample: FeatureSample) -> FeatureSample:
    """The sample with its head terms set to 0, so a fit can use only the eyes."""
    values = tuple(v if i in EYE_TERMS else 0.0 for i, v in enumerate(sample.values))
    return replace(sample, values=values)


def group_dots(rows: Sequence[GazeRow], samples: Sequence[FeatureSample | str]) -> list[Dot]:
    """Rows (with each row's sample or rejection reason) grouped into dots per person and sitting."""
    grouped: dict[tuple[str, str, tuple[float, float]], list[tuple[GazeRow, FeatureSample | str]]] = defaultdict(list)
    for row, sample in zip(rows, samples, strict=True):
        grouped[(row.person or ONE_PERSON, row.session, row.target_px)].append((row, sample))
    dots = []
    for i, ((person, session, target), items) in enumerate(grouped.items()):
        first = items[0][0]
        kept = tuple(s for _, s in items if isinstance(s, FeatureSample))
        dots.append(Dot(person, session, i, target, first.screen_px, first.mm_per_px, first.distance_mm,
                        first.group, kept, len(items) - len(kept)))
    return dots


def _fit(dots: Sequence[Dot], transform: Callable[[FeatureSample], FeatureSample] | None = None) -> Any:
    points = [d.points() for d in dots]
    if transform is not None:
        points = [PointSamples(p.index, p.x, p.y, tuple(transform(s) for s in p.samples)) for p in points]
    return fit(points)


def _predict(model: GazeModel, dot: Dot, transform: Callable[[FeatureSample], FeatureSample] | None = None
             ) -> tuple[float, float] | None:
    kept, _ = usable_points([dot.points()])
    if not kept:
        return None
    samples = kept[0].samples if transform is None else tuple(transform(s) for s in kept[0].samples)
    return mean_prediction(model, samples)


def _screen(dots: Sequence[Dot]) -> tuple[float, float]:
    return dots[0].screen_px


def score_dots(dots: Sequence[Dot]) -> tuple[list[DotError], list[str]]:
    """Every dot error of every method (module docstring), and notes on sittings that could not fit."""
    errors: list[DotError] = []
    notes: list[str] = []
    sittings: dict[tuple[str, str], list[Dot]] = defaultdict(list)
    for d in dots:
        sittings[(d.person, d.session)].append(d)
    models: dict[tuple[str, str], GazeModel] = {}
    for (person, session), mine in sittings.items():
        for d in mine:
            centre = (d.screen_px[0] / 2.0, d.screen_px[1] / 2.0)
            errors.append(DotError("centre", person, session, d.group, d.error(centre)))
        for method, transform in (("within", None), ("eye_only", eye_only)):
            try:
                result = _fit(mine, transform)
            except FitError as exc:
                notes.append(f"{person}/{session} {method}: {exc}")
                continue
            if transform is None:
                models[(person, session)] = result.model
            by_index = {d.index: d for d in mine}
            for index, predicted in result.lopo_prediction.items():
                d = by_index[index]
                errors.append(DotError(method, person, session, d.group, d.error(predicted)))
    for (person, source), model in models.items():
        for (other_person, session), mine in sittings.items():
            if other_person != person or session == source:
                continue
            if _screen(mine) != _screen(sittings[(person, source)]):
                # a map predicts in its own sitting's pixels: on another screen size (or zoom) the
                # error would compare two pixel spaces
                notes.append(f"{person}/{source} -> {session} across: not scored, screen "
                             f"{_screen(sittings[(person, source)])} px vs {_screen(mine)} px")
                continue
            for d in mine:
                predicted = _predict(model, d)
                if predicted is not None:
                    errors.append(DotError("across", person, session, d.group, d.error(predicted)))
    return errors, notes


def samples_from_images(rows: Sequence[GazeRow], pipeline: Any) -> list[FeatureSample | str]:
    """Each row's image through the face stages, as a calibration sample or a rejection reason."""
    import cv2

    from pipeline.frame import VideoFrame

    out: list[FeatureSample | str] = []
    for i, row in enumerate(rows):
        bgr = cv2.imread(str(row.file), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"cannot read image {row.file}")
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        analysis = pipeline.new_session().analyse(VideoFrame(rgb, t=float(i), frame_id=i + 1))
        out.append(analysis_sample(analysis, float(i)))
    return out
