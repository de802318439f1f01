"""Gaze calibration, the pure model: targets, features, the ridge fit with its LOPO choice, accuracy
maths and drift correction. Synthetic feature sets come from a known map with fixed seeds, so every
number here is exact or bounded by construction.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.calibration.accuracy import (
    BIOCULAR_WIDTH_MM,
    CSS_PX_MM,
    ScreenGeometry,
    point_error,
    summarise,
    viewing_distance_mm,
    visual_angle_deg,
)
from pipeline.calibration.drift import recentre
from pipeline.calibration.evaluate import evaluate
from pipeline.calibration.features import FeatureSample, frame_sample, normalise
from pipeline.calibration.fit import (
    MIN_LAMBDA,
    FitError,
    GazeModel,
    PointSamples,
    fit,
    fixation,
    mean_prediction,
)
from pipeline.calibration.targets import MARGIN, VALIDATION_POINTS, centre_target, fit_points, sequence
from pipeline.stages.gaze import EyeOffset, GazeFeatures

W, H = 1600.0, 900.0
SCREEN = ScreenGeometry(W, H)
#: the "true" map of the synthetic candidate: px = B + A @ eyes + C @ head
A = np.array([[-4000.0, 0.0], [0.0, -3000.0]])
C = np.array([[900.0, 50.0, 300.0, 0.0, 0.0], [20.0, 800.0, 0.0, 250.0, 0.0]])
B = np.array([800.0, 450.0])


def synthetic(tx: float, ty: float, rng: np.random.Generator, *, n: int = 6, eye_noise: float = 0.0,
              head: np.ndarray | None = None, c: np.ndarray = C) -> tuple[FeatureSample, ...]:
    """Frames of one fixation: head features drawn around `head`, eyes solved so the true map hits the target."""
    out = []
    base = np.zeros(5) if head is None else head
    for _ in range(n):
        h = base + rng.normal(0.0, 0.02, 5)
        h[4] = math.log(0.15) + h[4]
        eyes = np.linalg.solve(A, np.array([tx, ty]) - B - c @ np.r_[h[:4], 0.0]) + rng.normal(0.0, eye_noise, 2)
        out.append(FeatureSample(0.0, tuple(float(v) for v in np.r_[eyes, h]), 0.15, 0.0))
    return tuple(out)


def layout_points(points: int, rng: np.random.Generator, **kw) -> tuple[list[PointSamples], list[PointSamples]]:  # type: ignore[no-untyped-def]
    fit_pts, val_pts = [], []
    head_fn = kw.pop("head_fn", None)
    for tg in sequence(points):
        x, y = tg.px(W, H)
        head = head_fn(rng) if head_fn is not None else None
        p = PointSamples(tg.index, x, y, synthetic(x, y, rng, head=head, **kw))
        (val_pts if tg.validation else fit_pts).append(p)
    return fit_pts, val_pts


# -- targets ------------------------------------------------------------------------------------
@pytest.mark.parametrize("points", [5, 9, 13, 16])
def test_layouts_have_the_requested_points_inside_ten_percent_margins(points: int) -> None:
    pts = fit_points(points)
    assert len(pts) == points and len(set(pts)) == points
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    assert min(xs) == pytest.approx(MARGIN) and max(xs) == pytest.approx(1 - MARGIN)
    assert min(ys) == pytest.approx(MARGIN) and max(ys) == pytest.approx(1 - MARGIN)
    seq = sequence(points)
    assert [t.index for t in seq] == list(range(points + len(VALIDATION_POINTS)))
    assert sorted((t.fx, t.fy) for t in seq if not t.validation) == sorted(pts)
    val = [(t.fx, t.fy) for t in seq if t.validation]
    assert val and all(v not in pts for v in val)  # validation points are never fit points
    assert not seq[0].validation and not seq[-1].validation  # spread through the run
    assert sequence(points) == seq  # deterministic


def test_nine_points_are_a_three_by_three_grid_in_pixels() -> None:
    pts = sorted(tuple(round(c, 6) for c in tg.px(1000, 500)) for tg in sequence(9) if not tg.validation)
    assert pts == sorted((x, y) for x in (100.0, 500.0, 900.0) for y in (50.0, 250.0, 450.0))
    assert centre_target().px(1000, 500) == (500.0, 250.0)
    with pytest.raises(ValueError):
        fit_points(7)


# -- features -----------------------------------------------------------------------------------
def gaze_features(a_h: float = -0.02, b_h: float = 0.02, open_a: float = 0.28, open_b: float = 0.27) -> GazeFeatures:
    return GazeFeatures(EyeOffset(a_h, 0.07), EyeOffset(b_h, 0.05), open_a, open_b, 10.0, -5.0, 3.0, 0.55, 0.4, 0.15)


def test_features_are_the_eye_means_head_angles_position_and_log_scale() -> None:
    v = normalise(gaze_features())
    assert v == pytest.approx((0.0, 0.06, math.radians(10.0), math.radians(-5.0), 0.05, -0.1, math.log(0.15)))
    s = frame_sample(1.0, gaze_features(), faces=1, face_confidence=0.9)
    assert isinstance(s, FeatureSample) and s.t == 1.0 and s.face_scale == 0.15 and len(s.values) == len(s.NAMES)


def test_frames_are_rejected_for_blinks_faces_confidence_and_glitches() -> None:
    g = gaze_features()
    assert frame_sample(0, None, faces=1, face_confidence=0.9) == "no_face"
    assert frame_sample(0, g, faces=0, face_confidence=None) == "no_face"
    assert frame_sample(0, g, faces=2, face_confidence=0.9) == "several_faces"
    assert frame_sample(0, g, faces=1, face_confidence=0.3) == "low_confidence"
    assert frame_sample(0, g, faces=1, face_confidence=0.9, blink=True) == "blink"
    assert frame_sample(0, gaze_features(a_h=-0.3, b_h=0.1), faces=1, face_confidence=0.9) == "eyes_disagree"


def test_a_blink_is_a_blink_not_a_missing_face() -> None:
    """On a blendshape blink the gaze stage has no result; the frame is a blink, not `no_face`."""
    assert frame_sample(0, None, faces=1, face_confidence=0.9, blink=True) == "blink"
    assert frame_sample(0, None, faces=0, face_confidence=None, blink=True) == "no_face"


def test_lowered_lids_looking_down_are_not_blinks() -> None:
    """Eye aspect ratio 0.12-0.16 is a lid lowered to read the screen's bottom: the frame is used."""
    s = frame_sample(0, gaze_features(open_a=0.12, open_b=0.13), faces=1, face_confidence=0.9)
    assert isinstance(s, FeatureSample)


# -- fit ----------------------------------------------------------------------------------------
def test_noise_free_features_from_a_known_map_recover_it_exactly() -> None:
    """The solver itself: without a ridge (lambda 0 forced) a noise-free known map comes back exactly."""
    fit_pts, val_pts = layout_points(9, np.random.default_rng(1))
    result = fit(fit_pts, lambdas=(0.0,))
    m = result.model
    assert m.lam == 0.0
    # coefficients back in raw feature units: coef / scale
    raw = np.asarray(m.coef) / np.asarray(m.scale)
    np.testing.assert_allclose(raw[:, :2], A, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(raw[:, 2:6], C[:, :4], rtol=1e-5, atol=1e-3)
    assert max(result.lopo_error_px.values()) < 1e-6
    for p in val_pts:
        pred = mean_prediction(m, p.samples)
        assert pred == pytest.approx((p.x, p.y), abs=1e-6)


def test_the_same_samples_give_the_same_model() -> None:
    a = fit(layout_points(9, np.random.default_rng(5), eye_noise=0.01)[0])
    b = fit(layout_points(9, np.random.default_rng(5), eye_noise=0.01)[0])
    assert a.model == b.model and a.lopo_by_lambda == b.lopo_by_lambda


def test_lopo_shrinks_head_terms_that_are_only_noise() -> None:
    """A fidgeting candidate whose head features do not matter (true C = 0), eye noise, 5 dots: LOPO
    picks a strong ridge and the held-out validation error beats plain least squares."""
    better = 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        fit_pts, val_pts = layout_points(5, rng, eye_noise=0.02, c=np.zeros((2, 5)),
                                         head_fn=lambda r: r.normal(0.0, 0.05, 5))
        ridge, ols = fit(fit_pts), fit(fit_pts, lambdas=(0.0,))

        def val_err(model: GazeModel, val_pts: list = val_pts) -> float:  # this seed's points
            return float(np.mean([math.dist(mean_prediction(model, p.samples) or (0, 0), (p.x, p.y)) for p in val_pts]))

        assert ridge.model.lam >= MIN_LAMBDA
        better += val_err(ridge.model) < val_err(ols.model)
    assert better >= 8, better


def test_lopo_keeps_head_terms_that_matter() -> None:
    """Head moves between dots and the true map uses it: LOPO keeps lambda at its floor."""
    fit_pts, _ = layout_points(9, np.random.default_rng(3), eye_noise=0.002,
                               head_fn=lambda r: r.normal(0.0, 0.05, 5))
    result = fit(fit_pts)
    assert result.model.lam == MIN_LAMBDA
    assert result.lopo_by_lambda[result.model.lam] < result.lopo_by_lambda[1000.0] * 0.6


def test_too_few_usable_points_is_a_fit_error_in_plain_words() -> None:
    rng = np.random.default_rng(0)
    pts = [PointSamples(i, x * W, y * H, synthetic(x * W, y * H, rng) if i < 3 else ())
           for i, (x, y) in enumerate(fit_points(9))]
    with pytest.raises(FitError, match="only 3 of 9 dots"):
        fit(pts)
    cal = evaluate(pts, [], screen=SCREEN)
    assert not cal.ok and cal.status == "failed" and "redo" in cal.message and cal.accuracy is None


def test_fixation_filter_drops_a_glance_away() -> None:
    rng = np.random.default_rng(2)
    samples = list(synthetic(800, 450, rng, n=6, eye_noise=0.005))
    glance = FeatureSample(0.0, (0.3, *samples[0].values[1:]), 0.15, 0.0)
    kept = fixation([*samples, glance])
    assert glance not in kept and len(kept) == 6


def test_model_round_trips_through_its_dict() -> None:
    m = fit(layout_points(9, np.random.default_rng(4), eye_noise=0.01)[0]).model.with_offset((3.0, -2.0))
    assert GazeModel.from_dict(m.to_dict()) == m


# -- accuracy -----------------------------------------------------------------------------------
def test_viewing_distance_from_the_eye_corner_span() -> None:
    # span 0.15 of the frame, 60 deg HFOV: 90 / (2 tan 30 * 0.15) = 519.6 mm
    assert viewing_distance_mm(0.15) == pytest.approx(BIOCULAR_WIDTH_MM / (2 * math.tan(math.radians(30)) * 0.15))
    assert viewing_distance_mm(0.15) == pytest.approx(519.615, abs=1e-3)
    # a face turned 60 deg shows half its span: the same distance, not twice it
    assert viewing_distance_mm(0.075, yaw_deg=60.0) == pytest.approx(519.615, abs=1e-3)
    assert viewing_distance_mm(0.01) == 1500.0 and viewing_distance_mm(0.9) == 250.0  # clamped


def test_error_in_px_mm_and_degrees_on_hand_computed_cases() -> None:
    screen = ScreenGeometry(1000, 500, width_mm=500, height_mm=250)  # 0.5 mm per px
    # 20 px = 10 mm right of the centre at 600 mm: atan(10/600) = 0.9548 deg
    e = point_error(0, (500, 250), (520, 250), screen=screen, distance_mm=600, validation=True, samples=5)
    assert (e.px, e.mm) == (20.0, 10.0) and e.deg == pytest.approx(math.degrees(math.atan(10 / 600)))
    assert e.deg == pytest.approx(0.95484, abs=1e-5)
    # symmetric about the centre, 60 mm each side at 600 mm: 2 atan(0.1) = 11.4212 deg
    assert visual_angle_deg((380, 250), (620, 250), screen=screen, distance_mm=600) == pytest.approx(11.42118, abs=1e-5)
    # without a physical size: mm unknown, degrees from the CSS reference pixel
    bare = ScreenGeometry(1000, 500)
    e2 = point_error(1, (500, 250), (500, 350), screen=bare, distance_mm=600, validation=False, samples=3)
    assert e2.mm is None and e2.deg == pytest.approx(math.degrees(math.atan(100 * CSS_PX_MM / 600)))
    acc = summarise([e, e2], screen=bare, distance_mm=600, distance_estimated=True)
    assert acc.mean_px == 60.0 and acc.max_px == 100.0 and acc.assumed_pixel_size and acc.mean_mm == 10.0


#: the synthetic screen with its physical size known (a 15.6-inch laptop's 345 x 194 mm)
SIZED = ScreenGeometry(W, H, width_mm=345.0, height_mm=194.0)


def test_calibration_accepts_a_good_fit_and_refuses_a_poor_one() -> None:
    fit_pts, val_pts = layout_points(9, np.random.default_rng(6), eye_noise=0.002)
    good = evaluate(fit_pts, val_pts, screen=SIZED)
    assert good.ok and good.basis == "validation" and good.accuracy is not None
    assert good.accuracy.mean_deg < 1.0 and "accepted" in good.message and "degrees" in good.message
    assert len(good.points) == 12 and sum(p.validation for p in good.points) == 3
    fit_pts, val_pts = layout_points(9, np.random.default_rng(6), eye_noise=0.05)
    poor = evaluate(fit_pts, val_pts, screen=SIZED, limit_deg=1.0)
    assert not poor.ok and poor.status == "refused" and "redo" in poor.message
    assert poor.model is not None and poor.accuracy is not None and poor.accuracy.mean_deg > 1.0


def test_without_a_physical_size_the_limit_is_a_share_of_the_screen_not_degrees() -> None:
    """Degrees would rest on the assumed 0.2646 mm px: they are neither claimed nor judged."""
    fit_pts, val_pts = layout_points(9, np.random.default_rng(6), eye_noise=0.05)
    cal = evaluate(fit_pts, val_pts, screen=SCREEN, limit_deg=1.0)
    assert cal.accuracy is not None and cal.accuracy.assumed_pixel_size and not cal.size_known
    share = cal.accuracy.mean_px / math.hypot(W, H)
    assert cal.accuracy.mean_fraction == pytest.approx(share)
    assert cal.accuracy.mean_deg > 1.0 and cal.ok == (share <= cal.limit_fraction)  # the degree limit is not used
    assert "degree" not in cal.message and "of the screen's diagonal" in cal.message
    strict = evaluate(fit_pts, val_pts, screen=SCREEN, limit_fraction=share / 2)
    assert not strict.ok and "redo" in strict.message


# -- drift --------------------------------------------------------------------------------------
def test_recentre_moves_the_offset_and_keeps_the_slopes() -> None:
    rng = np.random.default_rng(8)
    model = fit(layout_points(9, rng)[0], lambdas=(0.0,)).model  # the exact map: offsets are exact
    centre = (W / 2, H / 2)
    # the candidate slumped: the same centre fixation now reads as if 30 px right and 20 px up
    drifted = synthetic(centre[0] + 30, centre[1] - 20, rng)
    before = mean_prediction(model, drifted)
    assert before == pytest.approx((830.0, 430.0), abs=1e-6)
    r = recentre(model, drifted, centre, screen_w=W, screen_h=H)
    assert r.applied and r.shift_px == pytest.approx((-30.0, 20.0), abs=1e-6)
    assert r.model.coef == model.coef and r.model.intercept == model.intercept
    assert mean_prediction(r.model, drifted) == pytest.approx(centre, abs=1e-6)
    # a second recentre adds to the first
    r2 = recentre(r.model, synthetic(centre[0] + 40, centre[1] - 20, rng), centre, screen_w=W, screen_h=H)
    assert r2.model.offset == pytest.approx((-40.0, 20.0), abs=1e-6)


def test_recentre_refuses_a_shift_too_large_or_without_frames() -> None:
    rng = np.random.default_rng(9)
    model = fit(layout_points(9, rng)[0]).model
    far = recentre(model, synthetic(W / 2 + 700, H / 2, rng), (W / 2, H / 2), screen_w=W, screen_h=H)
    assert not far.applied and far.model == model and "calibrate again" in far.reason
    none = recentre(model, (), (W / 2, H / 2), screen_w=W, screen_h=H)
    assert not none.applied and none.samples == 0
