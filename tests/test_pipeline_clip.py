"""The default pipeline over the whole labelled clip at 5 fps: every stage reports on every frame,
and a rate-limited stage runs at its rate with its result carried forward, aged, in between."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vision_helpers import CLIP, clip_frames

from pipeline.default import build_default_pipeline
from pipeline.frame import VideoFrame
from pipeline.runner import Pipeline
from pipeline.stages.base import Stage, StageOutput
from pipeline.stages.landmarks import default_face_landmarker_path

VISION = ("quality", "faces", "landmarks", "head_pose", "gaze", "expression", "identity")
FIELDS = ("quality", "faces", "face", "landmarks", "head_pose", "gaze", "expression", "identity")


@dataclass(frozen=True)
class TickResult:
    t: float

    def message_fields(self) -> dict[str, Any]:
        return {"tick": self.t}


class TickStage(Stage):
    """Test-only: a 1 Hz stage that records when it really ran."""

    name = "tick"
    rate_hz = 1.0

    def process(self, frame: VideoFrame, upstream: Mapping[str, StageOutput], state: Any) -> TickResult:
        return TickResult(frame.t)


def test_default_pipeline_order_and_settings() -> None:
    class SettingsLike:
        face_landmarker = default_face_landmarker_path()
        models_dir = None

    pipeline = build_default_pipeline(SettingsLike())
    assert [s.name for s in pipeline.stages][: len(VISION)] == list(VISION)
    assert pipeline.stage("landmarks").model_path == SettingsLike.face_landmarker  # type: ignore[union-attr]


def test_whole_clip_through_the_default_pipeline() -> None:
    default = build_default_pipeline()
    default.load()
    stages = [*default.stages, TickStage()]
    pipeline = Pipeline(stages)
    assert stages[-1].try_load().state == "loaded"
    assert all(s.health.state == "loaded" for s in stages if s.name in VISION)
    names = {s.name for s in stages}
    session = pipeline.new_session()
    frames = clip_frames(CLIP)
    assert len(frames) >= 75  # 15.3 s at 5 fps
    ticks: list[float] = []
    for t, rgb in frames:
        analysis = session.analyse(VideoFrame(rgb, t=t))
        message = analysis.message_fields()
        assert set(message["stages"]) == names
        assert not [n for n, out in analysis.outputs.items() if out.status == "error"], analysis.outputs
        # every frame of the clip shows the candidate: every stage has a result
        for name in VISION:
            assert analysis.outputs[name].status == "ok", (t, name, analysis.outputs[name])
        for key in FIELDS:
            assert key in message, (t, key)
        assert message["faces"] == 1 and message["quality"]["status"] == "ok"
        tick = analysis.outputs["tick"]
        assert tick.status == "ok"
        if tick.fresh:
            ticks.append(t)
            assert tick.age_s == 0.0 and "age_s" not in message["stages"]["tick"]
        else:
            assert tick.age_s > 0 and tick.elapsed_ms == 0.0
            assert tick.result.t == ticks[-1]  # type: ignore[union-attr]
            assert message["stages"]["tick"]["age_s"] > 0
    duration = frames[-1][0] - frames[0][0]
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert abs(len(ticks) - (duration + 1)) <= 1.5, ticks
    assert all(0.85 <= g <= 1.25 for g in gaps), gaps
    assert not session.errors
    # the stages this module does not own (objects, posture) have their own tests
