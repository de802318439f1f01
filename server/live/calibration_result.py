"""What gaze calibration tells the page and keeps, built from a `pipeline.calibration.evaluate.Calibration`:
the `calibration.result` message and its fields (the legacy HTTP calibration answers with the same fields,
`server/http/legacy/calibration/`), and the calibration record stored for the owner's next session. Pure.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.calibration.evaluate import Calibration

#: every calibration.result carries these keys (null when not measured)
RESULT_DEFAULTS: dict[str, Any] = {"ok": False, "mean_error_px": None, "max_error_px": None,
                                    "mean_error_deg": None, "max_error_deg": None, "mean_error_mm": None,
                                    "max_error_mm": None, "points": [], "message": ""}


def _r(v: float | None, nd: int = 1) -> float | None:
    return None if v is None else round(float(v), nd)


def result_message(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A `calibration.result` message: every key of `RESULT_DEFAULTS`, `fields` over them, and a `code`."""
    result = {"type": "calibration.result", "mode": "calibration", **RESULT_DEFAULTS, **fields}
    result.setdefault("code", f"{result['mode']}.{result['status']}")  # unless a sender said more
    return result


def calibration_record(cal: Calibration, rejected: Mapping[str, int], *, layout: int, now: float,
                       candidate_id: str, session_id: str, exam_id: str) -> dict[str, Any]:
    """The calibration as stored for the owner (`vigil:calibration:{owner}`): its result fields, the map and
    the screen it was fitted on."""
    s = cal.screen
    return {
        "version": 1, "candidate_id": candidate_id, "session_id": session_id,
        "exam_id": exam_id, "created_at": now, "updated_at": now, "layout": layout,
        **result_fields(cal, rejected),
        "model": None if cal.model is None else cal.model.to_dict(),
        "lambda_by_lopo_error_px": None if cal.fit is None else {
            str(k): round(v, 2) for k, v in cal.fit.lopo_by_lambda.items()},
        "screen": {"width_px": s.width_px, "height_px": s.height_px, "dpr": s.dpr, "width_mm": s.width_mm,
                   "height_mm": s.height_mm},
        "recentres": [],
    }


def result_fields(cal: Calibration, rejected: Mapping[str, int]) -> dict[str, Any]:
    """A calibration's `calibration.result` fields: accuracy, limits, per-point errors, rejected frames."""
    acc = cal.accuracy
    out: dict[str, Any] = {**RESULT_DEFAULTS, "ok": cal.ok, "status": cal.status, "message": cal.message,
                           "limit_deg": cal.limit_deg, "basis": cal.basis,
                           "rejected_frames": dict(rejected),
                           "points": [_point(e) for e in cal.points]}
    if acc is not None:
        sized = not acc.assumed_pixel_size  # degrees only on a measured screen
        out.update({"mean_error_px": _r(acc.mean_px), "max_error_px": _r(acc.max_px),
                    "mean_error_deg": _r(acc.mean_deg, 2) if sized else None,
                    "max_error_deg": _r(acc.max_deg, 2) if sized else None,
                    "mean_error_mm": _r(acc.mean_mm), "max_error_mm": _r(acc.max_mm),
                    "mean_error_screen_fraction": _r(acc.mean_fraction, 4),
                    "max_error_screen_fraction": _r(acc.max_fraction, 4),
                    "limit_screen_fraction": cal.limit_fraction,
                    "viewing_distance_mm": round(acc.distance_mm), "distance_estimated": acc.distance_estimated,
                    "assumed_pixel_size": acc.assumed_pixel_size})
        if not sized:
            out["points"] = [{**p, "error_deg": None} for p in out["points"]]
    return out


def _point(e: Any) -> dict[str, Any]:
    return {"index": e.index, "x": round(e.target[0], 1), "y": round(e.target[1], 1), "validation": e.validation,
            "samples": e.samples, "error_px": round(e.px, 1), "error_deg": round(e.deg, 2),
            "error_mm": _r(e.mm), "predicted": {"x": round(e.predicted[0], 1), "y": round(e.predicted[1], 1)}}
