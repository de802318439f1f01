"""The calibration API's routes (`server.http.legacy.calibration`): a run's create, start, frames and
complete, its status, download, resume, diagnostics and the candidate's verdict; `screen/detect`."""
from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

from aiohttp import web

from pipeline.calibration.accuracy import ScreenGeometry
from pipeline.calibration.evaluate import evaluate
from pipeline.calibration.features import FeatureSample
from pipeline.calibration.fit import PointSamples
from pipeline.calibration.targets import sequence
from server.http.errors import json_response, read_json
from server.http.keys import HTTP_SESSIONS, SETTINGS, STORE
from server.http.legacy.calibration.models import (
    MAX_BATCH,
    CompleteRun,
    CreateRun,
    DetectScreen,
    LinkRun,
    RunFrame,
    RunFrames,
    StartRun,
)
from server.http.legacy.calibration.original import _distance_mm, _original_frame_result, _original_result
from server.http.legacy.calibration.runs import (
    API,
    _add,
    _body_run,
    _creator,
    _from_row,
    _latest_run,
    _run,
    _save,
    diagnostics,
    public,
)
from server.http.legacy.calibration_layout import DOT_DISPLAY_MS, original_targets
from server.http.legacy.common import Integrator, admit, visible_session
from server.live.calibration_result import result_fields
from server.live.screen_geometry import physical_size_fields, screen_problems, sides_from_diagonal
from server.protocol.errors import ApiError
from server.store.keys import latest_calibration_run_key, legacy_screen_key

routes = web.RouteTableDef()


# -- routes ---------------------------------------------------------------------------------------
@routes.post("/api/calibration/session/create")
async def create_run(request: web.Request) -> web.Response:
    caller = await admit(request, API)
    body = CreateRun.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes)
                                    if request.body_exists else {})
    if body.session_id is not None:
        await visible_session(request, body.session_id, caller)
    run_id, now = uuid.uuid4().hex, time.time()
    doc: dict[str, Any] = {"calibration_session_id": run_id, "candidate_id": body.candidate_id, "session_id": body.session_id,
           "status": "created", "created_at": now, "created_by": None if caller is None else caller.owner,
           "screen": None, "points": None, "targets": [], "samples": {}, "rejected": {}, "result": None,
           "model": None}
    await _save(request, doc)
    await request.app[STORE].put_json(latest_calibration_run_key(_creator(caller), body.candidate_id),
                                      {"calibration_session_id": run_id})
    # `session_id` and `candidate_id` as the original's clients read them from its create
    return json_response({"calibration_session_id": run_id, "status": "created", "created_at": now,
                          "session_id": run_id, "candidate_id": body.candidate_id})


@routes.get("/api/calibration/session/{run_id}")
async def run_status(request: web.Request) -> web.Response:
    caller = await admit(request, API)
    return json_response(public(await _run(request, request.match_info["run_id"], caller)))


@routes.post("/api/calibration/session/{run_id}/link")
async def link_run(request: web.Request) -> web.Response:
    caller = await admit(request, API)
    run_id = request.match_info["run_id"]
    body = LinkRun.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    await visible_session(request, body.session_id, caller)
    async with request.app[HTTP_SESSIONS].lock(run_id):
        doc = await _run(request, run_id, caller)
        doc["session_id"] = body.session_id
        await _save(request, doc)
    return json_response(public(doc))


async def _run_screen(request: web.Request, body: StartRun, candidate_id: str,
                      caller: Integrator | None) -> tuple[dict[str, Any], float | None, dict[str, Any]]:
    """The run's screen, its viewing distance and the screen as the answer shows it (`screen_info`): the
    body's, or else the one saved for the candidate (the original's start, which sends no screen)."""
    if body.screen_w is not None and body.screen_h is not None:
        screen = {"width_px": body.screen_w, "height_px": body.screen_h, "dpr": body.dpr,
                  "width_mm": body.screen_mm_w, "height_mm": body.screen_mm_h}
        return screen, body.viewing_distance_mm, screen
    if body.screen_w is not None or body.screen_h is not None:
        raise ApiError(400, "give both screen_w and screen_h, or neither (the saved screen info is used)")
    saved = await request.app[STORE].get_json(legacy_screen_key(_creator(caller), candidate_id))
    if saved is None:
        raise ApiError(400, "Screen information must be saved first: POST /api/screen/info",
                       {"candidate_id": candidate_id})
    screen = {"width_px": saved["screen_width_px"], "height_px": saved["screen_height_px"], "dpr": body.dpr,
              "width_mm": saved["screen_width_mm"], "height_mm": saved["screen_height_mm"]}
    return screen, _distance_mm(saved["distance_cm"]), saved


@routes.post("/api/calibration/start")
async def start_run(request: web.Request) -> web.Response:
    caller = await admit(request, API)
    body = StartRun.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    run_id = body.calibration_session_id
    doc = await _body_run(request, body, caller)
    screen, distance_mm, screen_info = await _run_screen(request, body, doc["candidate_id"], caller)
    # the original's body gets the original's four corners (`calibration_layout`), unless it names a layout
    dots = original_targets() if body.original and "points" not in body.model_fields_set else sequence(body.points)
    targets = [{"index": tg.index, "x": round(tg.px(screen["width_px"], screen["height_px"])[0], 1),
                "y": round(tg.px(screen["width_px"], screen["height_px"])[1], 1), "validation": tg.validation}
               for tg in dots]
    async with request.app[HTTP_SESSIONS].lock(run_id):
        doc = await _body_run(request, body, caller)
        doc.update({"status": "running", "points": sum(not tg.validation for tg in dots), "targets": targets,
                    "samples": {}, "rejected": {}, "result": None, "model": None,
                    "viewing_distance_mm": distance_mm, "screen": screen})
        await _save(request, doc)
    answer = {"calibration_session_id": run_id, "targets": targets, "total": len(targets)}
    if body.original:  # the original's answer: the dots as fractions of the screen, in its config
        answer |= {"session_id": run_id, "candidate_id": doc["candidate_id"], "status": "ready",
                   "screen_info": screen_info, "calibration_config": {
                       "target_display_time": DOT_DISPLAY_MS, "max_frames_per_target": MAX_BATCH,
                       "targets": [{"index": tg.index, "position": {"x": tg.fx, "y": tg.fy}} for tg in dots]}}
    return json_response(answer)


def _samples_at(doc: dict[str, Any], index: int | None) -> int | None:
    return None if index is None else len(doc["samples"].get(str(index), []))


@routes.post("/api/calibration/frame")
async def run_frame(request: web.Request) -> web.Response:
    caller = await admit(request, API)
    body = RunFrame.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    doc, outcomes = await _add(request, body, caller, [body])
    outcome = outcomes[0]
    accepted = isinstance(outcome, FeatureSample)
    answer = {"accepted": accepted, "reason": None if accepted else outcome, "point_index": body.point_index,
              "samples": _samples_at(doc, body.point_index)}
    return json_response(answer | _original_frame_result(body, outcome) if body.original else answer)


@routes.post("/api/calibration/frames")
@routes.post("/api/calibration/frames/batch")  # the original's path
async def run_frames(request: web.Request) -> web.Response:
    caller = await admit(request, API)
    body = RunFrames.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    frames = body.at_points()
    doc, outcomes = await _add(request, body, caller, frames)
    rejected = Counter(o for o in outcomes if not isinstance(o, FeatureSample))
    accepted = len(outcomes) - sum(rejected.values())
    dots = {f.point_index for f in frames}
    one = next(iter(dots)) if len(dots) == 1 else None  # a batch at several dots (the original's) names none
    answer: dict[str, Any] = {"accepted": accepted, "rejected": dict(rejected), "point_index": one,
                              "samples": _samples_at(doc, one)}
    if body.original:
        answer |= {"batch_size": len(frames), "successful_frames": accepted,
                   "results": [_original_frame_result(f, o) for f, o in zip(frames, outcomes, strict=True)]}
    return json_response(answer)


@routes.post("/api/calibration/complete")
async def complete_run(request: web.Request) -> web.Response:
    caller = await admit(request, API)
    body = CompleteRun.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    run_id = body.calibration_session_id
    async with request.app[HTTP_SESSIONS].lock(run_id):
        doc = await _body_run(request, body, caller)
        if doc.get("status") != "running":
            raise ApiError(409, f"calibration is {doc.get('status')}: nothing to complete", {"status": doc.get("status")})
        s = doc["screen"]
        screen = ScreenGeometry(s["width_px"], s["height_px"], s["dpr"], s["width_mm"], s["height_mm"])
        points = [(t, PointSamples(t["index"], t["x"], t["y"],
                                   tuple(_from_row(r) for r in doc["samples"].get(str(t["index"]), []))))
                  for t in doc["targets"]]
        cal = evaluate([p for t, p in points if not t["validation"]], [p for t, p in points if t["validation"]],
                       screen=screen, distance_mm=doc.get("viewing_distance_mm"))
        result = result_fields(cal, doc.get("rejected") or {})
        doc.update({"status": {"accepted": "calibrated", "refused": "refused", "failed": "failed"}[cal.status],
                    "result": result, "model": None if cal.model is None else cal.model.to_dict()})
        await _save(request, doc)
    answer = {"calibration_session_id": run_id, **result}
    return json_response(_original_result(doc) | answer if body.original else answer)


def _download(doc: dict[str, Any]) -> web.Response:
    run_id = doc["calibration_session_id"]
    return json_response({**public(doc), "model": doc.get("model")}, headers={
        "Content-Disposition": f'attachment; filename="calibration-{run_id}.json"', "Cache-Control": "no-store"})


@routes.get("/api/calibration/session/{run_id}/download")
async def download_run(request: web.Request) -> web.Response:
    caller = await admit(request, API)
    return _download(await _run(request, request.match_info["run_id"], caller))


@routes.get("/api/calibration/download/{candidate_id}")
async def download_latest(request: web.Request) -> web.Response:
    caller = await admit(request, API)
    return _download(await _latest_run(request, caller))


@routes.post("/api/calibration/session/{run_id}/resume")
async def resume_run(request: web.Request) -> web.Response:
    """A run goes on where it stopped, on any worker: this says where (the dots still without a frame)."""
    caller = await admit(request, API)
    doc = await _run(request, request.match_info["run_id"], caller)
    if doc.get("status") != "running":
        raise ApiError(409, f"calibration is {doc.get('status')}: nothing to resume; POST /api/calibration/start",
                       {"status": doc.get("status")})
    remaining = [t["index"] for t in doc["targets"] if not doc["samples"].get(str(t["index"]))]
    return json_response({**public(doc), "remaining_points": remaining})


@routes.get("/api/calibration/session/{run_id}/diagnostics")
async def run_diagnostics(request: web.Request) -> web.Response:
    caller = await admit(request, API)
    return json_response(diagnostics(await _run(request, request.match_info["run_id"], caller)))


@routes.get("/api/calibration/verify/{candidate_id}")
async def verify(request: web.Request) -> web.Response:
    """Whether the candidate has a calibration, and whether it held on the held-out validation dots."""
    caller = await admit(request, API)
    cid = request.match_info["candidate_id"]
    try:
        doc = await _latest_run(request, caller)
    except ApiError as exc:
        if exc.status != 404:
            raise
        return json_response({"exists": False, "candidate_id": cid[:128], "calibrated": False})
    result = doc.get("result") or {}
    saved = await request.app[STORE].get_json(legacy_screen_key(_creator(caller), doc["candidate_id"]))
    return json_response({
        "exists": True, "candidate_id": doc["candidate_id"], "calibration_session_id": doc["calibration_session_id"],
        "status": doc.get("status"), "created_at": doc.get("created_at"),
        "has_screen_info": doc.get("screen") is not None or saved is not None,
        "has_calibration_data": doc.get("model") is not None, "calibrated": doc.get("status") == "calibrated",
        "mean_error_px": result.get("mean_error_px"), "mean_error_deg": result.get("mean_error_deg"),
        "basis": result.get("basis")})


@routes.post("/api/screen/detect")
async def detect_screen(request: web.Request) -> web.Response:
    """Check a detected screen with Vigil's rules; nothing is stored."""
    await admit(request, API)
    body = DetectScreen.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    width_mm, height_mm = body.width_mm, body.height_mm
    if width_mm is None and height_mm is None and body.diagonal_in:
        width_mm, height_mm = sides_from_diagonal(body.screen_w, body.screen_h, body.diagonal_in)
    distance = body.viewing_distance_mm if body.viewing_distance_mm is not None else \
        (body.distance_cm * 10 if body.distance_cm is not None else None)
    screen = {"screen_w": body.screen_w, "screen_h": body.screen_h, "dpr": body.dpr, "width_mm": width_mm,
              "height_mm": height_mm, "viewing_distance_mm": distance}
    problems = screen_problems(**screen)
    size = physical_size_fields(body.screen_w, width_mm, height_mm) if not problems else {}
    return json_response({"valid": not problems, "problems": problems,
                          "screen": {k: round(v, 1) if isinstance(v, float) and k.endswith("_mm") else v
                                     for k, v in screen.items()}, **size})
