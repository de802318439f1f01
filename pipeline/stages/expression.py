"""Expression: a few facial movements read from the FaceLandmarker's blendshapes, each 0..1.

The blendshape model scores 52 ARKit-style facial movements (muscle actions, not feelings). This
stage reports only movements it measures directly and that a reviewer can check on the video:

* `smile`: mean of mouthSmileLeft/Right (lip corners pulled up);
* `jaw_open`: jawOpen (talking, yawning);
* `brows_up`: the larger of browInnerUp and the mean of browOuterUpLeft/Right;
* `eyes_closed`: mean of eyeBlinkLeft/Right (1 = both lids shut).

It makes no claim about emotion, attention or honesty: none of these follow from the movements.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.frame import VideoFrame
from pipeline.stages.base import Stage, StageOutput
from pipeline.stages.landmarks import LandmarksResult


@dataclass(frozen=True)
class ExpressionResult:
    smile: float
    jaw_open: float
    brows_up: float
    eyes_closed: float

    def message_fields(self) -> dict[str, Any]:
        return {"expression": {
            "smile": round(self.smile, 3), "jaw_open": round(self.jaw_open, 3),
            "brows_up": round(self.brows_up, 3), "eyes_closed": round(self.eyes_closed, 3)}}


def from_blendshapes(b: Mapping[str, float]) -> ExpressionResult:
    def g(name: str) -> float:
        return float(min(1.0, max(0.0, b.get(name, 0.0))))

    return ExpressionResult(
        smile=(g("mouthSmileLeft") + g("mouthSmileRight")) / 2.0,
        jaw_open=g("jawOpen"),
        brows_up=max(g("browInnerUp"), (g("browOuterUpLeft") + g("browOuterUpRight")) / 2.0),
        eyes_closed=(g("eyeBlinkLeft") + g("eyeBlinkRight")) / 2.0,
    )


class ExpressionStage(Stage):
    name = "expression"
    requires = ("landmarks",)

    def process(
        self, frame: VideoFrame, upstream: Mapping[str, StageOutput], state: Any
    ) -> ExpressionResult | None:
        lm = upstream["landmarks"].result
        if not isinstance(lm, LandmarksResult) or not lm.blendshapes:
            return None
        return from_blendshapes(lm.blendshapes)
