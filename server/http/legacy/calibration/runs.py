"""A calibration run: one JSON document in the store, seen by its creator and admins, changed under a
per-run lock on this worker; its frames analysed into samples, its status and diagnostics."""
from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

from aiohttp import web

from pipeline.calibration.features import FeatureSample, analysis_sample
from server.http.keys import HTTP_SESSIONS, PIPELINE, STORE
from server.http.legacy.calibration.models import DotFrame, _RunBody
from server.http.legacy.common import Integrator, admitted, analyse_frame, frame_payload
from server.protocol.errors import ApiError
from server.protocol.http import ID_PATTERN
from server.store.keys import calibration_run_key, latest_calibration_run_key

API = "calibration"
#: the stages a calibration frame needs
GAZE_STAGES = ("faces", "landmarks", "head_pose", "gaze")
#: run fields left out of the status answer (the download has the model; samples are counted)
PRIVATE = ("samples", "model", "created_by")
#: the creator of runs made where callers are anonymous (dev)
ANYONE = "anyone"


# -- the run document ---------------------------------------------------------------------------
async def _run(request: web.Request, run_id: str, caller: Integrator | None) -> dict[str, Any]:
    """The run, for its creator or an admin (dev: anyone); 404 otherwise, as for an unknown id."""
    valid = len(run_id) == 32 and all(c in "0123456789abcdef" for c in run_id)
    doc = await request.app[STORE].get_json(calibration_run_key(run_id)) if valid else None
    creator = None if doc is None else doc.get("created_by")
    if doc is None or (caller is not None and not caller.sees_everything and creator not in (None, caller.owner)):
        raise ApiError(404, "unknown calibration session", {"calibration_session_id": run_id})
    return doc


def _creator(caller: Integrator | None) -> str:
    return ANYONE if caller is None else caller.owner


async def _latest_run(request: web.Request, caller: Integrator | None) -> dict[str, Any]:
    """The newest run the caller made for `{candidate_id}`; 404 when there is none."""
    cid = request.match_info["candidate_id"]
    index = await request.app[STORE].get_json(latest_calibration_run_key(_creator(caller), cid)) \
        if re.match(ID_PATTERN, cid) else None
    if index is None:
        raise ApiError(404, "no calibration session for this candidate", {"candidate_id": cid[:128]})
    return await _run(request, str(index["calibration_session_id"]), caller)


async def _save(request: web.Request, doc: dict[str, Any]) -> None:
    doc["updated_at"] = time.time()
    await request.app[STORE].put_json(calibration_run_key(doc["calibration_session_id"]), doc)


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """The run as the status answer shows it: samples counted per dot, no model."""
    counts = {index: len(rows) for index, rows in (doc.get("samples") or {}).items()}
    return {**{k: v for k, v in doc.items() if k not in PRIVATE}, "samples_per_point": counts}


def _target(doc: dict[str, Any], index: int) -> dict[str, Any]:
    if doc.get("status") != "running":
        raise ApiError(409, f"calibration is {doc.get('status')}: POST /api/calibration/start first",
                       {"status": doc.get("status")})
    targets = doc["targets"]
    if index >= len(targets):
        raise ApiError(400, "no such calibration point", {"point_index": index, "total": len(targets)})
    return targets[index]


async def _sample(request: web.Request, image: str) -> FeatureSample | str:
    """One frame's gaze features, or why it cannot be used."""
    t = time.time()
    analysis = await analyse_frame(request, frame_payload(image), request.app[PIPELINE].new_session(),
                                   t=t, frame_id=1, only=GAZE_STAGES)
    return analysis_sample(analysis, t)


def _row(s: FeatureSample) -> list[float]:
    return [s.t, *s.values, s.face_scale, s.yaw_deg]


def _from_row(row: list[float]) -> FeatureSample:
    return FeatureSample(row[0], tuple(row[1:-2]), row[-2], row[-1])


async def _body_run(request: web.Request, body: _RunBody, caller: Integrator | None) -> dict[str, Any]:
    """The body's run; 400 when the body names another candidate than the run's (as the original did)."""
    doc = await _run(request, body.calibration_session_id, caller)
    if body.candidate_id is not None and body.candidate_id != doc["candidate_id"]:
        raise ApiError(400, "Candidate ID mismatch", {"candidate_id": body.candidate_id})
    return doc


async def _add(request: web.Request, body: _RunBody, caller: Integrator | None,
               frames: list[DotFrame]) -> tuple[dict[str, Any], list[FeatureSample | str]]:
    """Analyse `frames` for their dots and record them in the run (checked again under the lock)."""
    doc = await _body_run(request, body, caller)
    for f in frames:  # refuse before analysing anything
        _target(doc, f.point_index)
    outcomes = [await _sample(request, frame_payload(f.frame)) for f in frames]
    async with request.app[HTTP_SESSIONS].lock(body.calibration_session_id):
        doc = await _body_run(request, body, caller)
        rejected = Counter(doc.get("rejected") or {})
        for f, outcome in zip(frames, outcomes, strict=True):
            _target(doc, f.point_index)
            if isinstance(outcome, FeatureSample):
                doc["samples"].setdefault(str(f.point_index), []).append(_row(outcome))
            else:
                rejected[outcome] += 1
        doc["rejected"] = dict(rejected)
        await _save(request, doc)
    return doc, outcomes


def diagnostics(doc: dict[str, Any]) -> dict[str, Any]:
    """A run's dots with their accepted frames and, once complete, their errors; its rejections."""
    result = doc.get("result") or {}
    errors = {p["index"]: p for p in result.get("points") or []}
    points = [{**t, "samples": len(doc["samples"].get(str(t["index"]), [])), "error": errors.get(t["index"])}
              for t in doc["targets"]]
    return {"calibration_session_id": doc["calibration_session_id"], "status": doc.get("status"), "points": points,
            "rejected": doc.get("rejected") or {}, "basis": result.get("basis"),
            "mean_error_px": result.get("mean_error_px"), "message": result.get("message")}


async def visible_run(request: web.Request, run_id: str) -> dict[str, Any] | None:
    """The run `run_id` when this API is on and shows it to the caller, else None (no error)."""
    on, caller = await admitted(request, API)
    if not on:
        return None
    try:
        return await _run(request, run_id, caller)
    except ApiError:
        return None
