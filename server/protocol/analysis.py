"""Builds the data channel's `analysis` message (SPEC.md) from one frame's analysis and risk state."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipeline.analysis import FrameAnalysis

#: bump when a field's meaning changes; clients may check it.
ANALYSIS_VERSION = 1


def analysis_message(
    analysis: FrameAnalysis,
    fields: dict[str, Any],
    *,
    received_ms: float,
    captured_ms: float | None,
    analysed_ms: float,
    risk_score: float | None,
    attention: float | None,
    speaking: bool | None,
    events: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "type": "analysis",
        "v": ANALYSIS_VERSION,
        "frame_id": analysis.frame_id,
        "frame_pts": analysis.pts,
        "captured_ms": captured_ms,
        "received_ms": round(received_ms, 1),
        "analysed_ms": round(analysed_ms, 1),
        "faces": None,
        "face": None,
    }
    msg.update(fields)  # analysis.message_fields(), possibly extended (calibrated gaze)
    msg["speaking"] = speaking
    msg["risk_score"] = None if risk_score is None else round(risk_score, 1)
    msg["attention"] = None if attention is None else round(attention)
    msg["events"] = list(events)
    msg["pipeline_ms"] = round(analysis.total_ms, 2)
    return msg
