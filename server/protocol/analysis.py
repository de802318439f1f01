"""Builds the data channel's `analysis` message (`docs/data-channel.md`), once, from one analysed frame.

Inside the server a frame's results stay typed (`AnalysedFrame`); this is the only place they
become the wire dict. Key order and rounding are part of the contract: clients see
type, v, frame_id, frame_pts, captured_ms, received_ms, analysed_ms, faces, face, each stage's own
fields in pipeline order (gaze with `screen` and `on_screen` when calibrated), stages, speaking,
risk_score, attention, events, pipeline_ms.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.analysis import CalibratedGaze, FrameAnalysis
from server.protocol.versions import DC_VERSION

#: the analysis message's `v`: the data channel's version (server/protocol/versions.py says when it moves)
ANALYSIS_VERSION = DC_VERSION


@dataclass(frozen=True)
class FrameTiming:
    """Wall-clock ms: when the frame arrived, when the client captured it (None: unknown), when
    its analysis was done."""

    received_ms: float
    captured_ms: float | None
    analysed_ms: float


@dataclass(frozen=True)
class FrameRisk:
    """The risk engine's state after this frame, and the event changes that ride on its message."""

    risk_score: float | None
    attention: float | None
    events: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class AnalysedFrame:
    analysis: FrameAnalysis
    #: the gaze on screen by the session's accepted calibration (None: none, or no gaze reading)
    gaze: CalibratedGaze | None
    risk: FrameRisk
    speaking: bool | None
    timing: FrameTiming


def stage_fields(analysis: FrameAnalysis, gaze: CalibratedGaze | None) -> dict[str, Any]:
    """Every stage's own fields and the `stages` summary, with the calibrated gaze added."""
    fields = analysis.message_fields()
    if gaze is not None and isinstance(fields.get("gaze"), dict):
        fields["gaze"] = {**fields["gaze"], "screen": {"x": round(gaze.x), "y": round(gaze.y)},
                          "on_screen": gaze.on_screen}
    return fields


def analysis_message(frame: AnalysedFrame) -> dict[str, Any]:
    analysis, timing, risk = frame.analysis, frame.timing, frame.risk
    msg: dict[str, Any] = {
        "type": "analysis",
        "v": ANALYSIS_VERSION,
        "frame_id": analysis.frame_id,
        "frame_pts": analysis.pts,
        "captured_ms": timing.captured_ms,
        "received_ms": round(timing.received_ms, 1),
        "analysed_ms": round(timing.analysed_ms, 1),
        "faces": None,
        "face": None,
    }
    msg.update(stage_fields(analysis, frame.gaze))
    msg["speaking"] = frame.speaking
    msg["risk_score"] = None if risk.risk_score is None else round(risk.risk_score, 1)
    msg["attention"] = None if risk.attention is None else round(risk.attention)
    msg["events"] = [dict(e) for e in risk.events]
    msg["pipeline_ms"] = round(analysis.total_ms, 2)
    return msg
