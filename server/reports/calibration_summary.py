"""The session hash's gaze calibration record in report form."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from server.reports.document import CalibrationSummary

#: accuracy fields of the calibration summary (`server.live.calibration.GazeCalibration.summary`) the report shows
CALIBRATION_FIELDS = ("mean_error_px", "max_error_px", "mean_error_deg", "mean_error_mm", "mean_error_screen_fraction",
                      "limit_deg",
                      "source", "attempts", "recentres", "message")


def calibration_summary(raw: str | None) -> CalibrationSummary:
    """The session hash's `calibration` field (JSON written by gaze calibration) in report form:
    `status` is "not calibrated", "calibrated" or the state it ended in (refused, failed, running)."""
    if not raw:
        return {"status": "not calibrated"}
    try:
        data = json.loads(raw)
    except ValueError:
        return {"status": "unreadable", "detail": raw[:200]}
    if not isinstance(data, Mapping):
        return {"status": "unreadable", "detail": str(data)[:200]}
    state = data.get("state")
    if state in (None, "none") and data.get("ok") is None and data.get("mean_error_px") is None:
        status = str(data.get("status") or "not calibrated")
    else:
        status = str(state or data.get("status") or ("calibrated" if data.get("ok") else "not calibrated"))
    out: dict[str, Any] = {"status": status}
    out.update({k: data[k] for k in CALIBRATION_FIELDS
                if data.get(k) is not None and not isinstance(data[k], (list, dict))})
    if isinstance(data.get("points"), list) and data["points"]:
        out["points"] = len(data["points"])
    elif isinstance(data.get("points"), int):
        out["points"] = data["points"]
    return out  # type: ignore[return-value]  # the keys of CalibrationSummary, picked above
