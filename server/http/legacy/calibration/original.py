"""The original calibration API's own shapes: its frame and complete answers, and its screen info, saved
and read on the paths it shares with Vigil's own routes (`server.http.legacy.shared_paths`)."""
from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from pipeline.calibration.features import FeatureSample
from server.core.strict_json import dumps
from server.http.errors import json_response, read_json
from server.http.keys import STORE
from server.http.legacy.calibration.models import DotFrame, SaveScreen
from server.http.legacy.calibration.runs import API, _creator
from server.http.legacy.common import admit, admitted
from server.http.routes.screen import MAX_BODY_BYTES as SCREEN_BODY_BYTES
from server.live.screen_geometry import screen_problems, sides_from_diagonal
from server.protocol.errors import ApiError
from server.protocol.http import ID_PATTERN
from server.store.keys import legacy_screen_key

#: the result fields `complete` repeats in the original's `calibration_stats`
ORIGINAL_STATS = ("status", "basis", "mean_error_px", "max_error_px", "mean_error_deg", "mean_error_screen_fraction",
                  "viewing_distance_mm")
#: the field that tells the original's screen description from Vigil's own (`screen_w`)
ORIGINAL_SCREEN_FIELD = "screen_width_px"


def _original_frame_result(f: DotFrame, outcome: FeatureSample | str) -> dict[str, Any]:
    """One frame's answer as the original gave it: `success`, else `error` (Vigil's rejection reason)."""
    accepted = isinstance(outcome, FeatureSample)
    return {"success": accepted, **({} if accepted else {"error": outcome}), "frame_index": f.frame_index,
            "target_index": f.point_index, "target_position": f.target_position,
            "timestamp": datetime.now(UTC).replace(tzinfo=None).isoformat()}


def _original_result(doc: dict[str, Any]) -> dict[str, Any]:
    """`complete`'s fields as the original named them, from the run's result (whose `message` stands).
    The original answered 400 for a calibration it could not accept; here `success` is false instead."""
    run_id, result = doc["calibration_session_id"], doc["result"]
    accepted = sum(len(rows) for rows in doc["samples"].values())
    model = doc["model"]  # the download's model: its checksum, as the original gave its files'
    checksums = {} if model is None else {f"calibration-{run_id}.json": hashlib.sha256(dumps(model).encode()).hexdigest()}
    return {"success": result["ok"], "session_id": run_id, "candidate_id": doc["candidate_id"],
            "calibration_stats": {k: result.get(k) for k in ORIGINAL_STATS},
            "validation_metrics": {"frames": accepted, "rejected_frames": result["rejected_frames"],
                                   "coverage": [bool(doc["samples"].get(str(t["index"]))) for t in doc["targets"]]},
            "file_checksums": checksums}


# -- screen info save / get: paths shared with Vigil's own (server.http.legacy.shared_paths) --------------
async def is_original_screen(request: web.Request) -> bool:
    """Whether a `POST /api/screen/info` is this API's: it is on and takes the caller, and the body is the
    original's (`screen_width_px`, where Vigil's own says `screen_w`)."""
    if not (await admitted(request, API))[0]:
        return False
    try:
        body = await read_json(request, SCREEN_BODY_BYTES)
    except ApiError:
        return False
    return isinstance(body, dict) and ORIGINAL_SCREEN_FIELD in body


def _physical_size(body: SaveScreen) -> tuple[float | None, float | None]:
    """The screen's size in mm: as given, else from the diagonal (square pixels), else from the dpi (the original's)."""
    if body.screen_width_mm is not None or body.screen_height_mm is not None:
        return body.screen_width_mm, body.screen_height_mm
    w, h = body.screen_width_px, body.screen_height_px
    if body.diagonal_inches is not None:
        w_mm, h_mm = sides_from_diagonal(w, h, body.diagonal_inches)
    else:
        w_mm, h_mm = w / body.dpi * 25.4, h / body.dpi * 25.4
    return round(w_mm, 1), round(h_mm, 1)


def _distance_mm(distance_cm: str | int | float) -> float:
    try:
        return float(distance_cm) * 10
    except (ValueError, OverflowError):
        raise ApiError(400, "distance_cm must be a number of centimetres", {"distance_cm": distance_cm}) from None


async def save_screen(request: web.Request) -> web.Response:
    """The original save: checked with Vigil's screen rules, kept for the caller and candidate."""
    caller = await admit(request, API)
    body = SaveScreen.model_validate(await read_json(request, SCREEN_BODY_BYTES))
    width_mm, height_mm = _physical_size(body)
    problems = screen_problems(screen_w=body.screen_width_px, screen_h=body.screen_height_px, width_mm=width_mm,
                               height_mm=height_mm, viewing_distance_mm=_distance_mm(body.distance_cm))
    if problems:
        raise ApiError(400, "implausible screen description", problems, code="invalid_screen")
    timestamp = datetime.now(UTC).replace(tzinfo=None).isoformat()  # the original's naive UTC ISO time
    doc = {**body.model_dump(), "screen_width_mm": width_mm, "screen_height_mm": height_mm, "timestamp": timestamp}
    await request.app[STORE].put_json(legacy_screen_key(_creator(caller), body.candidate_id), doc)
    return json_response({"success": True, "candidate_id": body.candidate_id, "timestamp": timestamp,
                          "message": "Screen information saved successfully"})


async def saved_screen(request: web.Request) -> dict[str, Any] | None:
    """The screen the caller saved for `{candidate_id}`; None when this API is off, does not take the
    caller, or holds none (no error: Vigil's own route answers then)."""
    on, caller = await admitted(request, API)
    cid = request.match_info["candidate_id"]
    if not on or not re.match(ID_PATTERN, cid):
        return None
    return await request.app[STORE].get_json(legacy_screen_key(_creator(caller), cid))
