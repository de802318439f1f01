"""The runner's schedule: a stage runs when it is due, else its last output is carried with its age;
a stage reading only carried inputs is carried with them; `refresh` forces a stage. And each
stage's own rule (`due`): the face path every other frame while a face is tracked, posture slowly
while a face is in view, objects faster while something is to be confirmed, and the objects
detector's tiles on the first pass, while a phone is confirmed, else once a period. Small fake stages and
hand-made outputs: no model is loaded here (the real pipeline runs in test_pipeline_clip.py)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from pipeline.frame import VideoFrame
from pipeline.runner import Pipeline
from pipeline.stages.base import Stage, StageOutput
from pipeline.stages.detection import Detection
from pipeline.stages.detection_tiles import TiledDetector, tiles_due
from pipeline.stages.faces import TRACK_REFRESH_S, FaceBox, FaceDetectionStage, FacesResult
from pipeline.stages.landmarks import LandmarksStage
from pipeline.stages.objects import IDLE_PERIOD_S, WATCH_PERIOD_S, ObjectsResult, ObjectsStage
from pipeline.stages.posture import WITH_FACE_PERIOD_S, PostureResult, PostureStage


@dataclass(frozen=True)
class Seen:
    t: float

    def message_fields(self) -> dict[str, Any]:
        return {}


@dataclass
class Calls:
    times: list[float] = field(default_factory=list)


class EveryOther(Stage):
    """Runs when its last result is 0.3 s old: every other frame at 5 fps."""

    name = "source"

    def new_state(self) -> Calls:
        return Calls()

    def due(self, last: StageOutput, age_s: float, upstream: Mapping[str, StageOutput], state: Any) -> bool:
        return age_s >= 0.3

    def process(self, frame: VideoFrame, upstream: Mapping[str, StageOutput], state: Any) -> Seen:
        state.times.append(frame.t)
        return Seen(frame.t)


class Reader(Stage):
    """Reads only the source's result, on every frame it is asked to."""

    name = "reader"
    requires = ("source",)

    def new_state(self) -> Calls:
        return Calls()

    def process(self, frame: VideoFrame, upstream: Mapping[str, StageOutput], state: Any) -> Seen:
        state.times.append(frame.t)
        return Seen(frame.t)


def frame(t: float) -> VideoFrame:
    return VideoFrame(np.zeros((4, 4, 3), np.uint8), t=t)


def loaded(*stages: Stage) -> Pipeline:
    pipeline = Pipeline(list(stages))
    assert all(h.state == "loaded" for h in pipeline.load())
    return pipeline


def test_a_reader_of_carried_inputs_is_carried_with_them() -> None:
    session = loaded(EveryOther(), Reader()).new_session()
    outs = [session.analyse(frame(round(i * 0.2, 1))).outputs for i in range(6)]
    assert session.state("source").times == [0.0, 0.4, 0.8]
    assert session.state("reader").times == [0.0, 0.4, 0.8]  # never twice on the same input
    for i, out in enumerate(outs):
        carried = i % 2 == 1
        assert out["source"].fresh != carried and out["reader"].fresh != carried
        if carried:  # the same result, as old as its input
            assert out["reader"].age_s == pytest.approx(0.2) == out["source"].age_s
            assert out["reader"].result == outs[i - 1]["reader"].result


def test_refresh_computes_a_scheduled_stage_and_its_readers() -> None:
    session = loaded(EveryOther(), Reader()).new_session()
    session.analyse(frame(0.0))
    out = session.analyse(frame(0.2), refresh=("source",)).outputs
    assert out["source"].fresh and out["reader"].fresh
    assert session.state("reader").times == [0.0, 0.2]


def faces_out(count: int, age_s: float = 0.0) -> StageOutput:
    boxes = tuple(FaceBox((0.4, 0.3, 0.2, 0.3), 0.9) for _ in range(count))
    return StageOutput("faces", "ok", result=FacesResult(boxes), age_s=age_s)


def test_face_detector_runs_every_frame_without_a_face_else_when_its_boxes_are_old() -> None:
    stage = FaceDetectionStage()
    assert stage.due(faces_out(0), 0.2, {}, None)
    assert not stage.due(faces_out(1), 0.2, {}, None)
    assert stage.due(faces_out(1), TRACK_REFRESH_S, {}, None)
    assert stage.due(StageOutput("faces", "error"), 0.2, {}, None)


def test_mesh_runs_with_the_detector_after_a_lost_mesh_or_when_old() -> None:
    stage = LandmarksStage()
    mesh = StageOutput("landmarks", "ok", result=Seen(0.0))
    lost = StageOutput("landmarks", "skipped", reason="no result")
    assert stage.due(mesh, 0.2, {"faces": faces_out(1)}, None)  # the detector ran on this frame
    assert not stage.due(mesh, 0.2, {"faces": faces_out(1, age_s=0.2)}, None)
    assert stage.due(lost, 0.2, {"faces": faces_out(1, age_s=0.2)}, None)
    assert stage.due(mesh, TRACK_REFRESH_S, {"faces": faces_out(1, age_s=0.2)}, None)


def test_posture_runs_slowly_while_a_face_is_seen_and_at_its_rate_without() -> None:
    stage = PostureStage()
    last = StageOutput("posture", "ok", result=PostureResult("upright", 0.9, left_seat=False))
    assert not stage.due(last, 2.0, {"faces": faces_out(1)}, None)
    assert stage.due(last, WITH_FACE_PERIOD_S, {"faces": faces_out(1)}, None)
    assert stage.due(last, 1.0, {"faces": faces_out(0)}, None)  # the face went: left_seat may hold
    assert not stage.due(last, 0.6, {"faces": faces_out(0)}, None)


def test_objects_pass_every_two_seconds_idle_and_every_half_second_while_confirming() -> None:
    stage = ObjectsStage(detector=lambda bgr: [])  # type: ignore[arg-type]
    state = stage.new_state()
    person = Detection("person", 0, 0.9, (0.2, 0.1, 0.5, 0.8))
    idle = StageOutput("objects", "ok", result=ObjectsResult((person,), 1))
    assert not stage.due(idle, WATCH_PERIOD_S, {}, state)
    assert stage.due(idle, IDLE_PERIOD_S, {}, state)
    state.passes.append(frozenset({"person", "cell phone"}))  # seen once: confirm it soon
    assert stage.due(idle, WATCH_PERIOD_S, {}, state)
    state.passes.extend([frozenset({"person"})] * 3)  # gone from the last n passes
    assert not stage.due(idle, WATCH_PERIOD_S, {}, state)
    two = StageOutput("objects", "ok", result=ObjectsResult((person, person), 2))
    assert stage.due(two, WATCH_PERIOD_S, {}, state)


def test_tiles_are_due_first_while_confirming_else_once_a_period() -> None:
    assert tiles_due(0.0, None, confirming=False)  # a session's first pass
    assert not tiles_due(2.0, 0.0, confirming=False, period_s=8.0)
    assert not tiles_due(6.0, 0.0, confirming=False, period_s=8.0)
    assert tiles_due(8.0, 0.0, confirming=False, period_s=8.0)
    assert tiles_due(7.2, 0.0, confirming=False, period_s=8.0)  # frame times jitter: RATE_TOLERANCE
    assert tiles_due(0.5, 0.0, confirming=True, period_s=8.0)  # a phone to confirm: every pass
    assert tiles_due(1.0, 5.0, confirming=False, period_s=8.0)  # the clock went back: a new session


class TileOnlyPhone:
    """A fake detector: a person on the whole frame, and a phone on the tiles (inputs narrower
    than the frame) while `phone` is set; records for each call whether it was the whole frame."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.phone = False
        self.calls: list[bool] = []

    def detect(self, bgr: np.ndarray) -> list[Detection]:
        whole = bgr.shape[1] == self.width
        self.calls.append(whole)
        if whole:
            return [Detection("person", 0, 0.9, (0.2, 0.1, 0.5, 0.8))]
        return [Detection("cell phone", 67, 0.6, (0.4, 0.4, 0.2, 0.2))] if self.phone else []


def test_a_phone_seen_only_on_the_tiles_is_confirmed_two_of_three() -> None:
    inner = TileOnlyPhone(width=64)
    stage = ObjectsStage(detector=TiledDetector(inner, idle_period_s=8.0))
    session = loaded(stage).new_session()
    looked: list[float] = []  # session times of the passes that looked at the tiles
    confirmed: list[float] = []
    for i in range(100):  # 20 s at 5 fps; the phone is put down at 3 s and taken away at 12 s
        t = round(i * 0.2, 1)
        inner.phone = 3.0 <= t < 12.0
        calls = len(inner.calls)
        out = session.analyse(VideoFrame(np.zeros((48, 64, 3), np.uint8), t=t)).outputs["objects"]
        if len(inner.calls) - calls > 1:
            looked.append(t)
        if out.fresh and isinstance(out.result, ObjectsResult) and out.result.best("cell phone"):
            confirmed.append(t)
    # idle passes come 1.8-2 s apart at 5 fps (due at RATE_TOLERANCE of the period): the tiles are
    # looked at on the first pass and on the first pass 7.2 s (8 s, less the tolerance) after it.
    # The phone put down at 3 s is first seen there, at 7.4 s; every pass looks at the tiles while
    # it is among the last 3 passes, so the next pass (0.6 s later) sees it again and confirms it
    # (2 of 3), and it stays confirmed while it is there
    assert looked[:2] == [0.0, 7.4]
    assert confirmed[0] == 8.0
    assert confirmed == looked[2:2 + len(confirmed)] and confirmed[-1] == 11.6
    # taken away at 12 s: looked at until it left the last 3 passes, then once a period again
    after = [t for t in looked if t >= 12.0]
    assert after[:3] == [12.2, 12.8, 13.4] and after[3:] == []  # the next look is due at 20.6 s


def test_a_pass_without_tiles_is_one_inference_of_the_whole_frame() -> None:
    inner = TileOnlyPhone(width=64)
    stage = ObjectsStage(detector=TiledDetector(inner, idle_period_s=8.0))
    session = loaded(stage).new_session()
    for i in range(60):  # 12 s at 5 fps, no phone: 7 passes, 1.8-2 s apart; tiles on the 1st and 5th
        session.analyse(VideoFrame(np.zeros((48, 64, 3), np.uint8), t=round(i * 0.2, 1)))
    assert inner.calls.count(True) == 7 and inner.calls.count(False) == 2 * 4
