"""The candidate's baseline (pure): neutral head pose and the gaze box, robust to a glance, following a
posture change but not a look away; the posture tests run through the engine's debounce."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.risk import Observation, RiskEngine
from pipeline.risk.baseline import (
    EXTENT_MARGIN_DEG,
    SETTLE_SECONDS,
    BaselineEstimator,
    GazeBox,
    gaze_box,
    posture_of,
    posture_shift,
)
from pipeline.risk.events import EVENT_SPECS

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


# -- posture changes (pure, then through the engine's debounce) ----------------------------------

#: where the face sits while the candidate works: x, y, w, h of the frame
SEAT = (0.40, 0.30, 0.25, 0.33)
#: leaning in and down: the face is a third larger and lower (a posture change)
LEANED = (0.37, 0.40, 0.33, 0.44)
#: screen points the gaze visits while reading, 1 s each (degrees from the screen's centre)
SCREEN = ((-10.0, 0.0), (10.0, 5.0), (0.0, -6.0), (-8.0, 6.0), (8.0, -5.0), (0.0, 0.0))


def frames(start: float, end: float, box: tuple[float, float, float, float],
           gaze: tuple[float, float] | None = None, centre: tuple[float, float] = (2.0, -12.0),
           head: tuple[float, float] = (0.0, -10.0)) -> list[Observation]:
    """5 fps of one face: reading the screen (gaze None: the `SCREEN` points around `centre`, a
    third of each move by the head) or looking at one point `gaze` (head still at `head`)."""
    out = []
    for i in range(round(start * FPS), round(end * FPS)):
        t = i / FPS
        if gaze is None:
            dh, dv = SCREEN[int(t) % len(SCREEN)]
            h, v, yaw, pitch = centre[0] + dh, centre[1] + dv, head[0] + dh / 3, head[1] + dv / 3
        else:
            (h, v), (yaw, pitch) = gaze, head
        out.append(Observation(t=t, frame_id=i + 1, faces=1, face_confidence=0.9, image_quality="ok",
                               head_yaw=yaw, head_pitch=pitch, gaze_h_deg=h, gaze_v_deg=v, face_box=box))
    return out


def away_events(*parts: list[Observation]) -> list[tuple[float, float]]:
    engine = RiskEngine()
    observations = [o for part in parts for o in part]
    for obs in observations:
        engine.observe(obs)
    end = observations[-1].t + 1 / FPS
    return [(e.start, e.end if e.end is not None else end) for e in engine.finish(end).events
            if e.type == "looking_away"]


def test_a_box_that_moves_or_scales_is_a_posture_change_a_turn_is_not() -> None:
    seat = posture_of(SEAT)
    assert posture_shift(posture_of(LEANED), seat) > 1.0
    assert posture_shift(posture_of((0.42, 0.31, 0.25, 0.33)), seat) < 1.0  # a head turn: the box slides a little
    assert posture_shift(posture_of(None), seat) == 0.0  # no box, no posture: never moved


def test_a_glance_is_still_an_event() -> None:
    events = away_events(frames(0, 70, SEAT), frames(70, 75, SEAT, gaze=(-35.0, -12.0), head=(-12.0, -10.0)),
                         frames(75, 90, SEAT))
    assert len(events) == 1 and 70 <= events[0][0] <= 73


def test_a_long_look_at_one_point_with_the_head_in_place_is_one_long_event() -> None:
    # 20 s at a phone on the desk: the head turned down, the box slid a little, the gaze still
    look = frames(70, 90, (0.40, 0.33, 0.25, 0.32), gaze=(0.0, -40.0), head=(0.0, -28.0))
    events = away_events(frames(0, 70, SEAT), look, frames(90, 100, SEAT))
    assert len(events) == 1 and events[0][0] <= 73 and events[0][1] >= 89


def test_a_posture_change_then_reading_is_learned_without_an_event() -> None:
    # leaned in: the screen is seen 18 deg higher, the head pitched 15 deg up; reading goes on
    moved = frames(70, 130, LEANED, centre=(2.0, 6.0), head=(0.0, 5.0))
    assert away_events(frames(0, 70, SEAT), moved) == []
    # and from the new posture a glance is an event again: the new baseline judges it
    glance = frames(130, 135, LEANED, gaze=(-35.0, 6.0), head=(-12.0, 5.0))
    events = away_events(frames(0, 70, SEAT), moved, glance, frames(135, 145, LEANED, centre=(2.0, 6.0), head=(0.0, 5.0)))
    assert len(events) == 1 and 130 <= events[0][0] <= 133


def test_moving_and_staring_at_one_point_is_not_learned() -> None:
    # leaning toward a phone in the lap: the head moved, but the gaze rests on one point far below
    stare = frames(70, 90, LEANED, gaze=(0.0, -45.0), head=(0.0, -30.0))
    events = away_events(frames(0, 70, SEAT), stare, frames(90, 100, SEAT))
    assert len(events) == 1
    start, end = events[0]
    assert start <= 70 + SETTLE_SECONDS + 3 and end >= 89  # seen once the move was judged


def test_a_short_lean_never_moves_the_baseline() -> None:
    est = estimator()
    for obs in [*frames(0, 70, SEAT), *frames(70, 72, LEANED, centre=(2.0, -2.0)), *frames(72, 80, SEAT)]:
        assert obs.gaze_h_deg is not None and obs.gaze_v_deg is not None and obs.head_yaw is not None
        est.add(obs.t, obs.head_yaw, -10.0, (obs.gaze_h_deg, obs.gaze_v_deg), 1, 0.9, obs.face_box)
        if 70 <= obs.t < 72:
            assert est.value is not None and est.value.settling
    value = est.value
    assert value is not None and not value.settling and value.head[1] == -10.0


def test_snapshot_restores_a_posture_being_judged() -> None:
    est, copy = estimator(), estimator()
    feed_boxes = lambda e, part: [e.add(o.t, o.head_yaw, o.head_pitch, (o.gaze_h_deg, o.gaze_v_deg), 1, 0.9,  # noqa: E731
                                        o.face_box) for o in part]
    feed_boxes(est, frames(0, 70, SEAT) + frames(70, 72, LEANED, centre=(2.0, -2.0), head=(0.0, 0.0)))
    copy.restore(json.loads(json.dumps(est.snapshot(), allow_nan=False)))
    rest = frames(72, 80, LEANED, centre=(2.0, -2.0), head=(0.0, 0.0))
    feed_boxes(est, rest)
    feed_boxes(copy, rest)
    assert copy.value == est.value and copy.snapshot() == est.snapshot()
    assert est.value is not None and not est.value.settling and est.value.head == (0.0, 0.0)


def test_coming_back_to_the_first_posture_is_not_looking_away() -> None:
    moved = frames(70, 100, LEANED, centre=(2.0, 6.0), head=(0.0, 5.0))
    back = frames(100, 130, (0.41, 0.31, 0.25, 0.33))  # nearly where the first minute saw the face
    engine = RiskEngine()
    for obs in [*frames(0, 70, SEAT), *moved, *back]:
        engine.observe(obs)
        if obs.t >= 100:  # judged against the first posture at once, not after a new settling
            reading = EVENT_SPECS["looking_away"].reader(obs, engine.policy, engine.baseline)  # type: ignore[misc]
            assert reading is not None and not reading.holding, obs.t
    assert [e for e in engine.finish(130.0).events if e.type == "looking_away"] == []
    assert engine.baseline is not None and engine.baseline.home is not None


def test_a_calibration_after_a_posture_change_drops_the_other_posture() -> None:
    engine = RiskEngine()
    for obs in [*frames(0, 70, SEAT), *frames(70, 100, LEANED, centre=(2.0, 6.0), head=(0.0, 5.0))]:
        engine.observe(obs)
    assert engine.baseline is not None and engine.baseline.home is not None
    engine.set_baseline(0.0, 5.0, GazeBox(2.0, 6.0, 15.0, 15.0, 15.0, 15.0))
    assert engine.baseline.home is None and engine.baseline.judged() == (engine.baseline,)
