"""A calibration in the next sitting: the reuse decision (`transfer.decide`), the regularisation
that keeps an extrapolated head within the centre guess, and the gate between the head-aware and
the safe map (`transfer.head_aware_weight`, fit.py step 6). Synthetic sittings from a known linear map
with fixed seeds, so the right answer is known.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.calibration.features import HEAD_TERMS, HEAD_TYPICAL_MOVE, FeatureSample
from pipeline.calibration.fit import GazeModel, LinearMap, PointSamples, fit, mean_prediction
from pipeline.calibration.targets import fit_points
from pipeline.calibration.transfer import (
    HEAD_AWARE_FADE,
    REUSE_TOLERANCE,
    HeadRange,
    decide,
    head_aware_weight,
    head_range,
    outside_range,
)

W, H = 1600.0, 900.0
#: the true map: px = B + A @ eyes + C @ head (head: yaw, pitch, head_x, head_y, log_scale)
A = np.array([[-4000.0, 0.0], [0.0, -3000.0]])
C = np.array([[400.0, 0.0, 1500.0, 0.0, 0.0], [0.0, 300.0, 0.0, 1000.0, 0.0]])
B = np.array([800.0, 450.0])
HEAD0 = np.array([0.0, 0.0, 0.0, 0.0, math.log(0.15)])


def sample(head: np.ndarray, eyes: np.ndarray) -> FeatureSample:
    return FeatureSample(0.0, tuple(float(v) for v in np.r_[eyes, head]), math.exp(head[4]), 0.0)


def sitting(rng: np.random.Generator, *, head: np.ndarray = HEAD0, jitter: float = 0.002,
            coupling: float = 0.6, n: int = 6) -> list[PointSamples]:
    """A sitting of a candidate holding still at `head`: the 9-dot grid, each frame's landmark jitter
    moving the measured eyes and head position together (`coupling`: a mesh that slides shifts
    both the iris offsets and the face position), so least squares can "explain" eye noise with the
    head terms, which is what broke transfer on real people."""
    pts = []
    for i, (fx, fy) in enumerate(fit_points(9)):
        target = np.array([fx * W, fy * H])
        frames = []
        for _ in range(n):
            h = head + rng.normal(0.0, jitter, 5) * np.array(HEAD_TYPICAL_MOVE) / 0.04
            eyes = np.linalg.solve(A, target - B - C @ (h - HEAD0))
            slide = rng.normal(0.0, 0.01, 2)
            eyes = eyes + slide
            h = h.copy()
            h[2:4] += coupling * slide  # the measured face position slides with the mesh
            frames.append(sample(h, eyes))
        pts.append(PointSamples(i, target[0], target[1], tuple(frames)))
    return pts


def mean_error(model: GazeModel, pts: list[PointSamples]) -> float:
    return float(np.mean([math.dist(mean_prediction(model, p.samples) or (0.0, 0.0), (p.x, p.y)) for p in pts]))


def centre_error(pts: list[PointSamples]) -> float:
    return float(np.mean([math.dist((W / 2, H / 2), (p.x, p.y)) for p in pts]))


# -- regularisation -----------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_an_extrapolated_head_stays_within_the_centre_guess(seed: int) -> None:
    """Fitted on a still head, used with the head two typical movements sideways and down: the map
    degrades towards the eye-only map (whose error here is C @ shift), never past the centre guess,
    while plain least squares (lambda 0, what LOPO picked on real people) goes far beyond it."""
    rng = np.random.default_rng(seed)
    calib = sitting(rng)
    shift = np.array([0.0, 0.0, 2 * HEAD_TYPICAL_MOVE[2], 2 * HEAD_TYPICAL_MOVE[3], 0.0])
    later = sitting(rng, head=HEAD0 + shift)
    ridge, ols = fit(calib).model, fit(calib, lambdas=(0.0,)).model
    eye_only_error = float(np.hypot(*(C @ shift)))  # the eye-only map ignores the head: off by C @ shift
    assert mean_error(ridge, later) < centre_error(later)
    assert mean_error(ridge, later) < eye_only_error + 60.0
    assert mean_error(ols, later) > centre_error(later)  # the failure being prevented is real here


def test_the_ridge_costs_little_within_the_sitting() -> None:
    rng = np.random.default_rng(11)
    calib = sitting(rng)
    result = fit(calib)
    assert np.mean(list(result.lopo_error_px.values())) < 60.0


# -- head range and the decision ----------------------------------------------------------------
def frames_at(head: np.ndarray, n: int = 5) -> list[FeatureSample]:
    return [sample(head, np.zeros(2)) for _ in range(n)]


def test_head_range_spans_the_per_dot_medians() -> None:
    rng = np.random.default_rng(1)
    pts = sitting(rng)
    r = head_range([p.samples for p in pts])
    medians = np.array([[np.median([s.values[i] for s in p.samples]) for i in HEAD_TERMS] for p in pts])
    assert r.low == pytest.approx(tuple(medians.min(0))) and r.high == pytest.approx(tuple(medians.max(0)))
    assert HeadRange.from_dict(r.to_dict()) == r
    model = fit(pts).model
    assert model.head_range == r and GazeModel.from_dict(model.to_dict()) == model


RANGE = HeadRange(low=(-0.02, -0.02, -0.01, -0.01, math.log(0.15) - 0.01),
                  high=(0.02, 0.02, 0.01, 0.01, math.log(0.15) + 0.01))


def moved(**by_moves: float) -> np.ndarray:
    """The range's centre moved by so many typical movements past the range's edge, per term."""
    names = ("yaw", "pitch", "head_x", "head_y", "log_scale")
    centre = (np.array(RANGE.low) + np.array(RANGE.high)) / 2
    half = (np.array(RANGE.high) - np.array(RANGE.low)) / 2
    out = centre.copy()
    for name, m in by_moves.items():
        k = names.index(name)
        out[k] = centre[k] + math.copysign(half[k] + abs(m) * HEAD_TYPICAL_MOVE[k], m)
    return out


def test_the_same_head_reuses_the_map() -> None:
    d = decide(RANGE, frames_at(moved()))
    assert d.action == "reuse" and max(d.outside.values()) == 0.0
    assert decide(RANGE, frames_at(moved(head_x=REUSE_TOLERANCE * 0.9))).action == "reuse"


@pytest.mark.parametrize("term", ["head_x", "head_y", "yaw", "pitch"])
def test_a_shifted_or_turned_head_asks_for_a_recentre(term: str) -> None:
    d = decide(RANGE, frames_at(moved(**{term: 1.5})))
    assert d.action == "recentre" and d.outside[term] == pytest.approx(1.5) and "centre" in d.reason
    assert decide(RANGE, frames_at(moved(**{term: -1.5}))).action == "recentre"


def test_a_head_far_from_the_fit_asks_for_a_new_calibration() -> None:
    assert decide(RANGE, frames_at(moved(head_x=4.0))).action == "recalibrate"


@pytest.mark.parametrize("moves", [1.0, -1.0])
def test_a_change_of_distance_cannot_be_recentred(moves: float) -> None:
    """Nearer or further is a scale error: a recentre fixes an offset only."""
    d = decide(RANGE, frames_at(moved(log_scale=moves)))
    assert d.action == "recalibrate" and "nearer" in d.reason


def test_a_glance_in_the_first_frames_does_not_decide() -> None:
    frames = frames_at(moved(), 4) + frames_at(moved(head_x=5.0), 1)
    assert decide(RANGE, frames).action == "reuse"
    assert outside_range(RANGE, frames)["head_x"] == 0.0


def test_a_model_stored_without_a_head_range_is_not_reused() -> None:
    assert decide(None, frames_at(moved())).action == "recalibrate"
    with pytest.raises(ValueError):
        decide(RANGE, [])


# -- the head-aware map inside the range, the safe map beyond (fit.py step 6) ---------------------
#: two hand-made maps that disagree by a known amount: the safe one ignores the head, the
#: head-aware one adds 1000 px per unit of head_x (raw features: mean 0, scale 1)
N = len(FeatureSample.NAMES)
SAFE = LinearMap((0.0,) * N, (1.0,) * N, ((-4000.0, 0, 0, 0, 0, 0, 0), (0, -3000.0, 0, 0, 0, 0, 0)), (800.0, 450.0), 1000.0)
AWARE = LinearMap((0.0,) * N, (1.0,) * N, ((-4000.0, 0, 0, 0, 1000.0, 0, 0), (0, -3000.0, 0, 0, 0, 0, 0)),
                  (800.0, 450.0), 0.0)
PAIR = GazeModel(FeatureSample.NAMES, SAFE.mean, SAFE.scale, SAFE.coef, SAFE.intercept, SAFE.lam,
                 head_range=RANGE, head_aware=AWARE)


def at(head: np.ndarray, eyes: tuple[float, float] = (0.01, -0.02)) -> np.ndarray:
    return np.r_[eyes, head]


def test_a_head_inside_the_range_uses_the_head_aware_map() -> None:
    inside = moved() + np.array([0.0, 0.0, 0.008, 0.0, 0.0])  # head_x near the edge, still inside
    np.testing.assert_allclose(PAIR.predict(at(inside)), AWARE.predict(at(inside)))
    assert head_aware_weight(RANGE, at(inside)[None])[0] == 1.0


@pytest.mark.parametrize("term", ["yaw", "pitch", "head_x", "head_y", "log_scale"])
def test_a_head_past_the_fade_uses_the_safe_map(term: str) -> None:
    for sign in (1.0, -1.0):
        out = moved(**{term: sign * HEAD_AWARE_FADE * 1.01})
        np.testing.assert_allclose(PAIR.predict(at(out)), SAFE.predict(at(out)))
        assert head_aware_weight(RANGE, at(out)[None])[0] == 0.0


def test_between_the_edge_and_the_fade_the_maps_blend_frame_by_frame() -> None:
    rows = np.array([at(moved()), at(moved(head_x=HEAD_AWARE_FADE / 2)), at(moved(head_x=3.0))])
    np.testing.assert_allclose(head_aware_weight(RANGE, rows), [1.0, 0.5, 0.0])
    pred = PAIR.predict(rows)
    np.testing.assert_allclose(pred[1], (AWARE.predict(rows[1]) + SAFE.predict(rows[1])) / 2)
    np.testing.assert_allclose(pred[[0, 2]], [AWARE.predict(rows[0]), SAFE.predict(rows[2])])


def test_a_document_stored_before_the_head_aware_map_loads_as_the_safe_map() -> None:
    """The dict e1c8bf0 stored (no `head_aware`) and the one before it (no `head_range`) still load and
    predict with their single map; a model with both maps round-trips."""
    stored = {"feature_names": list(FeatureSample.NAMES), "mean": list(SAFE.mean), "scale": list(SAFE.scale),
              "coef": [list(r) for r in SAFE.coef], "intercept": list(SAFE.intercept), "lam": SAFE.lam,
              "offset": [3.0, -2.0], "head_range": RANGE.to_dict()}
    older = {k: v for k, v in stored.items() if k != "head_range"}
    for doc in (stored, older):
        m = GazeModel.from_dict(doc)
        assert m.head_aware is None and m.safe == SAFE
        x = at(moved(head_x=-0.0))
        np.testing.assert_allclose(m.predict(x), SAFE.predict(x) + np.array([3.0, -2.0]))
    assert GazeModel.from_dict(PAIR.to_dict()) == PAIR


def moving_sitting(rng: np.random.Generator, spread: float) -> list[PointSamples]:
    """A candidate whose head moves between dots by `spread` typical movements: the true map's head
    terms (C) are signal a head-aware map can learn."""
    pts = []
    for i, (fx, fy) in enumerate(fit_points(9)):
        target = np.array([fx * W, fy * H])
        head = HEAD0 + rng.normal(0.0, spread, 5) * np.array(HEAD_TYPICAL_MOVE)
        frames = []
        for _ in range(6):
            h = head + rng.normal(0.0, 0.05, 5) * np.array(HEAD_TYPICAL_MOVE)
            eyes = np.linalg.solve(A, target - B - C @ (h - HEAD0)) + rng.normal(0.0, 0.002, 2)
            frames.append(sample(h, eyes))
        pts.append(PointSamples(i, target[0], target[1], tuple(frames)))
    return pts


def test_a_head_that_moved_between_dots_keeps_the_head_aware_map_and_beats_the_safe_one() -> None:
    rng = np.random.default_rng(21)
    calib = moving_sitting(rng, 1.0)
    pair, alone = fit(calib), fit(calib, head_aware_lambdas=None)
    assert pair.model.head_aware is not None and alone.model.head_aware is None
    assert pair.model.safe == alone.model.safe  # the safe map is the one fitted without step 6
    # each held-out dot is gated by the other dots' range: inside it the head-aware map's error,
    # past the fade the safe map's exactly
    inside = outside = 0
    for i, p in enumerate(calib):
        others = head_range([q.samples for q in calib if q is not p])
        weight = head_aware_weight(others, np.array([s.values for s in p.samples]))
        if weight.min() == 1.0:
            inside += 1
            assert pair.lopo_error_px[i] < 0.5 * alone.lopo_error_px[i]
        elif weight.max() == 0.0:
            outside += 1
            assert pair.lopo_error_px[i] == pytest.approx(alone.lopo_error_px[i])
    assert inside >= 2 and outside >= 2, (inside, outside)
    assert np.mean(list(pair.lopo_error_px.values())) < np.mean(list(alone.lopo_error_px.values()))


@pytest.mark.parametrize("seed", range(3))
def test_far_outside_the_range_the_pair_predicts_as_the_safe_map_alone(seed: int) -> None:
    rng = np.random.default_rng(seed)
    calib = moving_sitting(rng, 1.0)
    pair, alone = fit(calib).model, fit(calib, head_aware_lambdas=None).model
    assert pair.head_range is not None
    shift = np.array(pair.head_range.high) - HEAD0 + np.array(HEAD_TYPICAL_MOVE)  # a typical move past every edge
    later = sitting(rng, head=HEAD0 + shift)
    for p in later:
        assert mean_prediction(pair, p.samples) == pytest.approx(mean_prediction(alone, p.samples))
    assert mean_error(pair, later) < centre_error(later)
