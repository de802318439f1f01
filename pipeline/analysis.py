"""FrameAnalysis: every stage's output for one frame, and its data-channel form.

A `FrameAnalysis` travels typed through the server's consumers (gaze calibration, risk, audio,
evidence); its `message_fields()` are built once, for the `analysis` message, at the network edge.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pipeline.stages.base import StageOutput, StageResult

R = TypeVar("R", bound=StageResult)


@dataclass(frozen=True)
class CalibratedGaze:
    """Where on the candidate's screen a frame's gaze falls, by the session's accepted calibration."""

    #: CSS px from the calibrated area's top-left corner
    x: float
    y: float
    #: inside the screen grown by a margin that covers the calibration's own error
    on_screen: bool


@dataclass(frozen=True)
class FrameAnalysis:
    frame_id: int
    pts: int
    t: float
    width: int
    height: int
    outputs: Mapping[str, StageOutput]
    total_ms: float

    def result(self, stage: str, kind: type[R]) -> R | None:
        """The stage's result if it has one of that type (fresh or carried forward)."""
        out = self.outputs.get(stage)
        if out is None or out.status != "ok" or not isinstance(out.result, kind):
            return None
        return out.result

    def message_fields(self) -> dict[str, Any]:
        """Fields for the `analysis` message: each stage's own, plus a `stages` summary."""
        fields: dict[str, Any] = {}
        stages: dict[str, Any] = {}
        for name, out in self.outputs.items():
            entry: dict[str, Any] = {"status": out.status, "ms": round(out.elapsed_ms, 2)}
            if out.age_s:
                entry["age_s"] = round(out.age_s, 3)
            if out.reason:
                entry["reason"] = out.reason
            stages[name] = entry
            if out.status == "ok" and out.result is not None:
                fields.update(out.result.message_fields())
        fields["stages"] = stages
        return fields
