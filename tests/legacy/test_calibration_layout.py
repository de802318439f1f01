"""The original calibration API's four corners through Vigil's fit, the pure part: a synthetic candidate from
the known map of tests/test_calibration_fit.py looks at each corner. Sitting still, four corners give a usable
eye-only map, judged by leave-one-point-out; a corner short of frames leaves a clear refusal."""
from __future__ import annotations

import numpy as np

from pipeline.calibration.accuracy import ScreenGeometry
from pipeline.calibration.evaluate import evaluate
from pipeline.calibration.fit import PointSamples
from server.http.legacy.calibration_layout import CORNERS, DOT_DISPLAY_MS, original_targets
from tests.test_calibration_fit import H, W, synthetic

SCREEN = ScreenGeometry(W, H)


def corners(rng: np.random.Generator, *, eye_noise: float = 0.0) -> list[PointSamples]:
    return [PointSamples(t.index, *t.px(W, H), synthetic(*t.px(W, H), rng, eye_noise=eye_noise))
            for t in original_targets()]


def test_the_original_layout_is_its_four_corners_in_its_order() -> None:
    targets = original_targets()
    assert [(t.index, t.fx, t.fy, t.validation) for t in targets] == [
        (0, 0.1, 0.1, False), (1, 0.9, 0.1, False), (2, 0.1, 0.9, False), (3, 0.9, 0.9, False)]
    assert CORNERS == tuple((t.fx, t.fy) for t in targets) and DOT_DISPLAY_MS == 3000


def test_four_corners_give_a_usable_map_judged_on_corners_left_out() -> None:
    cal = evaluate(corners(np.random.default_rng(7), eye_noise=0.0005), [], screen=SCREEN)
    assert cal.status == "accepted" and cal.basis == "leave-one-point-out", cal.message
    assert cal.accuracy is not None and cal.accuracy.mean_fraction < 0.05
    assert [p.index for p in cal.points] == [0, 1, 2, 3] and not any(p.validation for p in cal.points)
    assert cal.model is not None
    # the head terms stay shrunk (a still candidate): the map is, in effect, the eye-only one
    head = np.abs(np.asarray(cal.model.coef)[:, 2:]).max()
    eyes = np.abs(np.asarray(cal.model.coef)[:, :2]).max()
    assert head < 0.2 * eyes


def test_a_corner_short_of_frames_is_a_clear_refusal() -> None:
    points = corners(np.random.default_rng(8))
    points[3] = PointSamples(3, points[3].x, points[3].y, points[3].samples[:1])  # one frame: not a fixation
    cal = evaluate(points, [], screen=SCREEN)
    assert cal.status == "failed" and not cal.ok and cal.model is None
    assert "only 3 of 4 dots" in cal.message
