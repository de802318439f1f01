"""Ridge regression from normalised gaze features to screen pixels: head-aware where the head was seen, safe beyond.

Given samples grouped by calibration point (each group: the frames collected while one dot was
shown, all labelled with that dot's position):

1. **Fixation filter.** Within each point, a sample whose eye features lie further than
   `OUTLIER_MADS` robust deviations from the point's median is dropped (a late saccade, a glance
   away). Points left with fewer than `MIN_SAMPLES_PER_POINT` samples are not used.
2. **Standardise** the eye terms by the weighted mean and standard deviation of the fit samples,
   and the head terms by a fixed scale, `features.HEAD_TYPICAL_MOVE`: how much a seated
   candidate's head typically moves between sittings and over an exam. A candidate who held still
   while calibrating shows head terms varying by a millimetre of landmark noise; standardised by
   that tiny spread (as before issue 17), a coefficient fitted to it looked cheap to the ridge and
   blew up the moment the head moved in the next sitting (4.2 deg within a sitting, 10.9 across,
   worse than the centre guess). In fixed physical units a head coefficient is trusted in
   proportion to how much head movement the calibration actually saw.
3. **Weighted ridge.** Every *point* weighs the same however many frames it got (weight 1/n per
   sample). Minimise sum_i w_i |y_i - b - W x_i|^2 + lambda * P * |W|^2 (P points, so lambda means the
   same for any layout), solved in closed form; the intercept is not penalised. Both screen axes
   share lambda.
4. **Lambda by leave-one-point-out** (LOPO), from `MIN_LAMBDA` up: for each lambda in `LAMBDAS`,
   refit without each point in turn and measure the distance from the held-out point's mean
   prediction to its target; the largest lambda whose mean LOPO error is within one standard error
   of the smallest wins (the "one-standard-error rule": among maps the dots cannot tell apart, the
   simplest). Leaving out a dot never leaves out a sitting, so LOPO alone cannot see what the head
   terms cost when the head has moved: it picked lambda 0 on real people. The floor keeps every
   head coefficient shrunk by at least var/(var + `MIN_LAMBDA`) (var: the head spread seen, in
   typical-movement units), so a still calibration's head terms are near zero and an extrapolated
   head degrades to the eye-only map. Whole points are held out, not frames: frames of one
   fixation are near copies. The LOPO errors of the chosen lambda are kept: they are honest
   per-point errors of the fit points.
5. **Head range.** The per-dot medians of the head terms span the head positions the map was
   fitted on (`transfer.HeadRange`); a stored map is reused in a later sitting only near that
   range (`transfer.decide`).
6. **A head-aware map inside the range.** The floor of step 4 makes the map above (the *safe*
   map) transfer, but within a sitting it costs accuracy where the head did move between dots: on
   4 real people it reduced to the eye-only map (4.5 deg) where the pre-floor fit, which let LOPO
   pick lambda freely (often 0) with head terms standardised by their own spread, reached 3.4.
   So a second map is fitted that way (`HEAD_AWARE_LAMBDAS`, the smallest mean LOPO error wins)
   and the model uses it only where it interpolates: each frame's prediction is the head-aware
   map's while every head term lies within the fitted range, fading to the safe map's over
   `transfer.HEAD_AWARE_FADE` typical movements past it (`transfer.head_aware_weight`). A head
   outside what the dots showed thus gets the safe map, which degrades to the eye-only map, never
   past the centre guess. The reported LOPO errors are those of this gated pair (each held-out
   dot predicted by both maps fitted without it, gated by the other dots' range), and the
   head-aware map is kept only when they beat the safe map's alone: a still head gives it nothing
   to learn.

Everything is closed-form linear algebra in a fixed order: the same samples give the same model.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from pipeline.calibration.features import HEAD_TYPICAL_MOVE, FeatureSample
from pipeline.calibration.transfer import HeadRange, head_aware_weight, head_range

#: the weakest ridge ever used (standardised units, see step 4): a head term seen over one typical
#: movement (var 1) keeps 1/(1 + 0.5) = 2/3 of its least-squares slope, one seen over a fifth of it
#: (var 0.04, a candidate holding still) keeps 7 %.
MIN_LAMBDA = 0.3
#: candidate ridge strengths (in units of standardised features per point), from the floor up.
LAMBDAS: tuple[float, ...] = (MIN_LAMBDA, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0)
#: lambdas of the head-aware map (step 6): free down to 0, as LOPO chose before the floor, its
#: head terms standardised by their own spread in the fit.
HEAD_AWARE_LAMBDAS: tuple[float, ...] = (0.0, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0)
#: which coefficients the ridge shrinks (FeatureSample.NAMES order): the head-compensation terms
#: only. The eye terms are the signal every calibration can pin down; the head terms matter only
#: when the head moved between dots, and otherwise are noise fitted to a few points (and they are
#: nearly collinear with each other and, through eye counter-rolling, with the eyes). A large
#: lambda thus degrades gracefully to the classic eye-only linear map, never to a flat one.
PENALISED = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0])
#: a point needs this many usable frames (after the fixation filter) to be used.
MIN_SAMPLES_PER_POINT = 2
#: fewer usable fit points than this: no model. Four still leave leave-one-point-out three points
#: to fit on (a plane through the screen), the least from which a held-out error means anything.
MIN_FIT_POINTS = 4
#: robust z beyond which a frame is not part of the point's fixation.
OUTLIER_MADS = 3.5
#: floor of the robust spread (eye widths) so a perfectly steady fixation rejects nothing.
MIN_MAD = 0.01
#: floor of a feature's standard deviation in standardisation.
MIN_FEATURE_STD = 1e-3
#: the fixed standardisation scale of the head terms (step 2); the eye terms are the signal every
#: calibration spans, are standardised by their own spread and are not penalised.
HEAD_SCALE = np.array([0.0, 0.0, *HEAD_TYPICAL_MOVE])
IS_HEAD = HEAD_SCALE > 0
#: which features the fixation filter looks at (indices into FeatureSample.NAMES): the eyes.
FIXATION_FEATURES = (0, 1)


class FitError(ValueError):
    """Too little usable data to fit a model; the message says what is missing in plain words."""


@dataclass(frozen=True)
class PointSamples:
    """The frames collected for one calibration dot."""

    index: int
    x: float
    y: float
    samples: tuple[FeatureSample, ...]


@dataclass(frozen=True)
class LinearMap:
    """Screen px = intercept + coef @ ((features - mean) / scale): one ridge fit."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[tuple[float, ...], tuple[float, ...]]  # rows: screen x, screen y
    intercept: tuple[float, float]
    lam: float

    def predict(self, features: np.ndarray) -> np.ndarray:
        z = (np.asarray(features, dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)
        out: np.ndarray = z @ np.asarray(self.coef).T + np.asarray(self.intercept)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "scale": list(self.scale), "coef": [list(r) for r in self.coef],
                "intercept": list(self.intercept), "lam": self.lam}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], n_features: int) -> LinearMap:
        coef = tuple(tuple(float(v) for v in row) for row in d["coef"])
        if len(coef) != 2 or any(len(r) != n_features for r in coef):
            raise ValueError("coef must be 2 rows of one value per feature")
        return cls(tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["scale"]), (coef[0], coef[1]),
                   (float(d["intercept"][0]), float(d["intercept"][1])), float(d["lam"]))

    @classmethod
    def solved(cls, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray, icpt: np.ndarray, lam: float) -> LinearMap:
        return cls(tuple(float(v) for v in mean), tuple(float(v) for v in scale),
                   (tuple(float(v) for v in coef[0]), tuple(float(v) for v in coef[1])),
                   (float(icpt[0]), float(icpt[1])), float(lam))


@dataclass(frozen=True)
class GazeModel:
    """Screen px = the safe map (the fields below, as stored before step 6) blended frame by frame
    with the head-aware map by `transfer.head_aware_weight`, + offset."""

    feature_names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[tuple[float, ...], tuple[float, ...]]  # rows: screen x, screen y
    intercept: tuple[float, float]
    lam: float
    #: drift correction added after the regression (drift.py), px
    offset: tuple[float, float] = (0.0, 0.0)
    #: the head positions the map was fitted on (None: a model stored before it was recorded)
    head_range: HeadRange | None = None
    #: the map used while the head is within `head_range` (step 6; None: the safe map alone, as
    #: stored before it existed or when it did not beat the safe map)
    head_aware: LinearMap | None = None

    @property
    def safe(self) -> LinearMap:
        return LinearMap(self.mean, self.scale, self.coef, self.intercept, self.lam)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(2,) for one feature vector, (n, 2) for a matrix of them."""
        x = np.asarray(features, dtype=np.float64)
        out = self.safe.predict(x)
        if self.head_aware is not None and self.head_range is not None:
            weight = head_aware_weight(self.head_range, x)
            out = out + (weight[:, None] if x.ndim == 2 else weight[0]) * (self.head_aware.predict(x) - out)
        result: np.ndarray = out + np.asarray(self.offset)
        return result

    def with_offset(self, offset: tuple[float, float]) -> GazeModel:
        return replace(self, offset=(float(offset[0]), float(offset[1])))

    def to_dict(self) -> dict[str, Any]:
        d = {"feature_names": list(self.feature_names), **self.safe.to_dict(), "offset": list(self.offset),
             "head_range": None if self.head_range is None else self.head_range.to_dict()}
        d["head_aware"] = None if self.head_aware is None else self.head_aware.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GazeModel:
        """Also reads documents stored before `head_range` or `head_aware` existed (the safe map alone)."""
        names = tuple(str(n) for n in d["feature_names"])
        if names != FeatureSample.NAMES:
            raise ValueError(f"model was fitted on features {names}, expected {FeatureSample.NAMES}")
        safe = LinearMap.from_dict(d, len(names))
        return cls(names, safe.mean, safe.scale, safe.coef, safe.intercept, safe.lam,
                   (float(d.get("offset", (0, 0))[0]), float(d.get("offset", (0, 0))[1])),
                   HeadRange.from_dict(d["head_range"]) if d.get("head_range") else None,
                   LinearMap.from_dict(d["head_aware"], len(names)) if d.get("head_aware") else None)


@dataclass(frozen=True)
class FitResult:
    model: GazeModel
    #: point index -> LOPO error (px) of the chosen lambda: the held-out error of each fit point
    lopo_error_px: Mapping[int, float]
    #: point index -> the held-out mean prediction (px) behind that error
    lopo_prediction: Mapping[int, tuple[float, float]]
    #: lambda -> mean LOPO error (px), for diagnostics
    lopo_by_lambda: Mapping[float, float]
    #: point index -> frames used after the fixation filter
    used_samples: Mapping[int, int]
    #: indices of points left out (too few usable frames)
    dropped_points: tuple[int, ...]


def fixation(samples: Sequence[FeatureSample]) -> tuple[FeatureSample, ...]:
    """The samples of one point that belong to its fixation (step 1 of the module docstring)."""
    if len(samples) < 3:
        return tuple(samples)
    x = np.array([s.values for s in samples])[:, FIXATION_FEATURES]
    med = np.median(x, axis=0)
    mad = np.maximum(np.median(np.abs(x - med), axis=0) * 1.4826, MIN_MAD)
    keep = np.all(np.abs(x - med) <= OUTLIER_MADS * mad, axis=1)
    return tuple(s for s, k in zip(samples, keep, strict=True) if k)


def _solve(x: np.ndarray, y: np.ndarray, w: np.ndarray, lam: float, n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted ridge with an unpenalised intercept on already standardised x: (coef (2,k), intercept (2,))."""
    wsum = w.sum()
    xm = (w[:, None] * x).sum(0) / wsum
    ym = (w[:, None] * y).sum(0) / wsum
    xc, yc = x - xm, y - ym
    a = (xc * w[:, None]).T @ xc + lam * n_points * np.diag(PENALISED)
    b = (xc * w[:, None]).T @ yc
    # lstsq: a rank-deficient system (lam = 0 with collinear features) still has the minimum-norm answer
    coef = np.linalg.lstsq(a, b, rcond=None)[0].T
    return coef, ym - coef @ xm


def _arrays(points: Sequence[PointSamples]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x = np.array([s.values for p in points for s in p.samples], dtype=np.float64)
    y = np.array([(p.x, p.y) for p in points for _ in p.samples], dtype=np.float64)
    w = np.array([1.0 / len(p.samples) for p in points for _ in p.samples], dtype=np.float64)
    group = np.array([i for i, p in enumerate(points) for _ in p.samples])
    return x, y, w, group


def _standardise(x: np.ndarray, w: np.ndarray, *, head_fixed: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and scale; the head terms by `HEAD_SCALE` (step 2), or like the eyes by their own
    spread (`head_fixed=False`: the head-aware map, step 6)."""
    mean = (w[:, None] * x).sum(0) / w.sum()
    var = (w[:, None] * (x - mean) ** 2).sum(0) / w.sum()
    own = np.maximum(np.sqrt(var), MIN_FEATURE_STD)
    return mean, np.where(IS_HEAD, HEAD_SCALE, own) if head_fixed else own


def choose_lambda(lopo: Mapping[float, np.ndarray]) -> float:
    """The largest lambda whose mean LOPO error is within one standard error of the best (step 4)."""
    means = {lam: float(e.mean()) for lam, e in lopo.items()}
    best = min(means, key=lambda lam: (round(means[lam], 9), -lam))
    errs = lopo[best]
    se = float(errs.std(ddof=1) / np.sqrt(len(errs))) if len(errs) > 1 else 0.0
    return max(lam for lam, m in means.items() if m <= means[best] + se + 1e-9)


def smallest_lopo(lopo: Mapping[float, np.ndarray]) -> float:
    """The lambda with the smallest mean LOPO error, the larger among equals (to 1e-9 px) (step 6)."""
    return min(lopo, key=lambda lam: (round(float(lopo[lam].mean()), 9), -lam))


def usable_points(points: Sequence[PointSamples]) -> tuple[list[PointSamples], list[int]]:
    kept, dropped = [], []
    for p in points:
        f = fixation(p.samples)
        if len(f) >= MIN_SAMPLES_PER_POINT:
            kept.append(PointSamples(p.index, p.x, p.y, f))
        else:
            dropped.append(p.index)
    return kept, dropped


@dataclass(frozen=True)
class _Ridge:
    """One map's fit: its standardisation, chosen lambda and each point's held-out frame predictions."""

    mean: np.ndarray
    scale: np.ndarray
    lam: float
    held_out: list[np.ndarray]  # per point: (frames, 2) predictions of the map fitted without it
    lopo_by_lambda: dict[float, float]

    def map(self, x: np.ndarray, y: np.ndarray, w: np.ndarray, n: int) -> LinearMap:
        coef, icpt = _solve((x - self.mean) / self.scale, y, w, self.lam, n)
        return LinearMap.solved(self.mean, self.scale, coef, icpt, self.lam)


def _errors(kept: Sequence[PointSamples], held_means: np.ndarray) -> np.ndarray:
    return np.hypot(held_means[:, 0] - [p.x for p in kept], held_means[:, 1] - [p.y for p in kept])


def _ridge(kept: Sequence[PointSamples], x: np.ndarray, y: np.ndarray, w: np.ndarray, group: np.ndarray,
           lambdas: Sequence[float], *, head_fixed: bool,
           choose: Callable[[Mapping[float, np.ndarray]], float]) -> _Ridge:
    """LOPO over `lambdas` (whole points held out, step 4) and the lambda `choose` picks."""
    mean, scale = _standardise(x, w, head_fixed=head_fixed)
    z = (x - mean) / scale
    n = len(kept)
    lopo: dict[float, np.ndarray] = {}
    frames: dict[float, list[np.ndarray]] = {}
    for lam in lambdas:
        held = []
        for i in range(n):
            train = group != i
            coef, icpt = _solve(z[train], y[train], w[train], lam, n - 1)
            held.append(z[~train] @ coef.T + icpt)
        frames[lam] = held
        lopo[lam] = _errors(kept, np.array([h.mean(0) for h in held]))
    best = choose(lopo)
    return _Ridge(mean, scale, best, frames[best], {lam: float(e.mean()) for lam, e in lopo.items()})


def _gated_held_out(kept: Sequence[PointSamples], x: np.ndarray, group: np.ndarray, safe: _Ridge,
                    aware: _Ridge) -> np.ndarray:
    """(n, 2): each point's held-out mean prediction of the gated pair (step 6), gated by the range of
    the other points' heads, as the model fitted without it would be."""
    out = np.empty((len(kept), 2))
    for i in range(len(kept)):
        others = head_range([p.samples for j, p in enumerate(kept) if j != i])
        weight = head_aware_weight(others, x[group == i])[:, None]
        out[i] = (safe.held_out[i] + weight * (aware.held_out[i] - safe.held_out[i])).mean(0)
    return out


def fit(points: Sequence[PointSamples], lambdas: Sequence[float] = LAMBDAS,
        head_aware_lambdas: Sequence[float] | None = HEAD_AWARE_LAMBDAS) -> FitResult:
    """Fit the model (module docstring). `head_aware_lambdas` None: the safe map alone (no step 6).
    Raises FitError with a plain reason when it cannot."""
    kept, dropped = usable_points(points)
    if len(kept) < MIN_FIT_POINTS:
        raise FitError(f"only {len(kept)} of {len(points)} dots had a steady look at them "
                       f"(at least {MIN_FIT_POINTS} are needed)")
    x, y, w, group = _arrays(kept)
    n = len(kept)
    safe = _ridge(kept, x, y, w, group, lambdas, head_fixed=True, choose=choose_lambda)
    held = np.array([h.mean(0) for h in safe.held_out])
    aware_map: LinearMap | None = None
    if head_aware_lambdas:
        aware = _ridge(kept, x, y, w, group, head_aware_lambdas, head_fixed=False, choose=smallest_lopo)
        gated = _gated_held_out(kept, x, group, safe, aware)
        if _errors(kept, gated).mean() < _errors(kept, held).mean():
            held, aware_map = gated, aware.map(x, y, w, n)
    s = safe.map(x, y, w, n)
    model = GazeModel(FeatureSample.NAMES, s.mean, s.scale, s.coef, s.intercept, s.lam,
                      head_range=head_range([p.samples for p in kept]), head_aware=aware_map)
    errors = _errors(kept, held)
    return FitResult(model, {p.index: float(e) for p, e in zip(kept, errors, strict=True)},
                     {p.index: (float(q[0]), float(q[1])) for p, q in zip(kept, held, strict=True)},
                     safe.lopo_by_lambda, {p.index: len(p.samples) for p in kept}, tuple(dropped))


def mean_prediction(model: GazeModel, samples: Sequence[FeatureSample]) -> tuple[float, float] | None:
    """Where the model puts a fixation: the mean of its frames' predictions (None without frames)."""
    if not samples:
        return None
    pred = model.predict(np.array([s.values for s in samples])).mean(0)
    return float(pred[0]), float(pred[1])
