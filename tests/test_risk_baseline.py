"""The candidate's baseline (pure): neutral head pose and the gaze box, robust to a glance."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.risk.baseline import EXTENT_MARGIN_DEG, BaselineEstimator, GazeBox, gaze_box

FPS = 5


def estimator(seconds: float = 60.0, min_seconds: float = 3.0) -> BaselineEstimator:
    return BaselineEstimator(seconds, min_seconds, 0.6, 15.0, 22.0)


def feed(est: BaselineEstimator, start: float, end: float, h: float, v: float = 0.0,
         yaw: float = 0.0, pitch: float = 0.0) -> None:
    for i in range(round(start * FPS), round(end * FPS)):
        est.add(i / FPS, yaw, pitch, (h, v), 1, 0.9)


def test_nothing_before_min_seconds_then_provisional_then_fixed() -> None:
    est = estimator(seconds=10.0)
    feed(est, 0, 2.8, h=4.0, yaw=3.0, pitch=-12.0)
    assert est.value is None
    feed(est, 2.8, 3.2, h=4.0, yaw=3.0, pitch=-12.0)
    assert est.value is not None and est.value.head == (3.0, -12.0) and est.value.gaze is not None
    feed(est, 3.2, 10.2, h=4.0, yaw=9.0, pitch=-12.0)  # the median moves while provisional ...
    fixed = est.value
    assert fixed is not None and fixed.head[0] == 9.0
    feed(est, 10.2, 30, h=40.0, yaw=60.0)  # ... and not after the learning window
    assert est.value == fixed


def test_the_neutral_gaze_and_head_ignore_a_glance() -> None:
    est = estimator()
    feed(est, 0, 20, h=5.0, v=-14.0, yaw=2.0, pitch=-10.0)
    feed(est, 20, 26, h=-30.0, v=-14.0, yaw=-25.0, pitch=-10.0)  # a 6 s look at a phone to the left
    feed(est, 26, 61, h=5.0, v=-14.0, yaw=2.0, pitch=-10.0)
    value = est.value
    assert value is not None and value.gaze is not None
    assert value.head == (2.0, -10.0)
    assert (value.gaze.h, value.gaze.v) == (5.0, -14.0)
    assert value.gaze.left == 15.0  # the glance is 35 deg away: beyond the ceiling, never learned


def test_the_box_learns_the_screen_width_between_its_floor_and_ceiling() -> None:
    # reading a wide screen: the gaze sweeps +-18 deg around its centre, evenly
    h = np.tile(np.linspace(-18.0, 18.0, 37), 8)
    box = gaze_box(h, np.zeros_like(h), 15.0, 22.0)
    assert box.left == pytest.approx(min(22.0, 18.0 * 0.8 + EXTENT_MARGIN_DEG), abs=1.0)
    assert box.right == box.left
    assert box.up == box.down == 15.0  # no vertical spread: the floor
    sweep = np.tile(np.linspace(-40.0, 40.0, 81), 4)  # a candidate looking everywhere
    assert gaze_box(sweep, np.zeros_like(sweep), 15.0, 22.0).left <= 22.0


def test_excess_is_per_side() -> None:
    box = GazeBox(h=2.0, v=-10.0, left=15.0, right=20.0, down=15.0, up=15.0)
    assert box.excess(2.0, -10.0) == 0.0
    assert box.excess(-13.0, -10.0) == pytest.approx(1.0)
    assert box.excess(21.0, -10.0) < 1.0 < box.excess(23.0, -10.0)
    assert box.excess(2.0, -30.0) > 1.0


def test_a_calibration_sets_the_head_and_optionally_the_box() -> None:
    est = estimator()
    est.set(10.0, -5.0)
    feed(est, 0, 5, h=3.0, yaw=40.0)  # the head stays the calibrated one; the box is still learned
    value = est.value
    assert value is not None and value.head == (10.0, -5.0) and value.gaze is not None and value.gaze.h == 3.0
    box = GazeBox(0.0, 0.0, 16.0, 16.0, 10.0, 10.0)
    est.set(1.0, 2.0, box)
    feed(est, 5, 20, h=30.0)
    assert est.value is not None and est.value.gaze == box and est.value.head == (1.0, 2.0)
    with pytest.raises(ValueError):
        est.set(float("nan"), 0.0)
    with pytest.raises(ValueError):
        est.set(0.0, 0.0, GazeBox(0.0, 0.0, 0.0, 1.0, 1.0, 1.0))


def test_snapshot_restores_exactly_and_is_json() -> None:
    est = estimator()
    feed(est, 0, 4, h=5.0, v=1.0)
    est.add(4.2, 0.0, 0.0, None, 1, 0.9)  # a blink: head pose only
    copy = estimator()
    copy.restore(json.loads(json.dumps(est.snapshot(), allow_nan=False)))
    feed(est, 4.4, 8, h=7.0)
    feed(copy, 4.4, 8, h=7.0)
    assert copy.value == est.value and copy.snapshot() == est.snapshot()


def test_a_snapshot_from_before_the_gaze_baseline_keeps_its_head_value() -> None:
    est = estimator()
    est.restore({"first_t": 0.0, "yaws": [], "pitches": [], "value": [4.0, -8.0]})
    assert est.value is not None and est.value.head == (4.0, -8.0) and est.value.gaze is None
    feed(est, 0, 5, h=2.0)
    assert est.value is not None and est.value.head == (4.0, -8.0) and est.value.gaze is not None
