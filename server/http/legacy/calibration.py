"""The original gaze calibration API over HTTP, on `pipeline/calibration/` (features, fit, evaluation).

    POST /api/calibration/session/create         {"candidate_id"?, "session_id" | "interview_id"?}
                                                  -> {"calibration_session_id", "status", "session_id", "candidate_id"}
    GET  /api/calibration/session/{id}            -> the run: status, screen, targets, samples per point, result
    POST /api/calibration/session/{id}/link       {"session_id"}  -> the run, linked to an interview session
    POST /api/calibration/start                   {"calibration_session_id", "screen_w", "screen_h", "dpr"?,
                                                   "screen_mm_w"?, "screen_mm_h"?, "viewing_distance_mm"?, "points"?: 5|9|13|16}
                                                  -> {"targets": [{"index", "x", "y", "validation"}], "total"}
    POST /api/calibration/frame                   {"calibration_session_id", "point_index", "frame"}
                                                  -> {"accepted", "reason", "point_index", "samples"}
    POST /api/calibration/frames[/batch]          {"calibration_session_id", "point_index", "frames": [...]}
                                                  -> {"accepted", "rejected": {reason: n}, "point_index", "samples"}
    POST /api/calibration/complete                {"calibration_session_id"}  -> the result (as the data channel's
                                                  `calibration.result`: ok, status, errors in px/deg/mm, per point)
    GET  /api/calibration/session/{id}/download   -> the run with its fitted model, as a JSON download
    POST /api/calibration/session/{id}/resume     -> the running run and the dots still without a frame
    GET  /api/calibration/session/{id}/diagnostics -> samples and rejections per dot, the per-dot errors
    GET  /api/calibration/verify/{candidate_id}   -> whether the candidate has a run, and its verdict
    GET  /api/calibration/download/{candidate_id} -> the candidate's newest run, as the download above
    POST /api/screen/detect                       {"screen_w" | "screen_width_px", "screen_h" | ..., "dpr"?,
                                                   sizes in mm or "diagonal_inches"?, "distance_cm"?}
                                                  -> {"valid", "problems", "screen", "mm_per_px"?, "diagonal_in"?}
    POST /api/screen/info                         {"candidate_id", "screen_width_px", "screen_height_px", ...}
                                                  -> {"success", "candidate_id", "timestamp", "message"}
    GET  /api/screen/info/{candidate_id}          -> the screen saved above
    GET  /api/calibration/diagnostics/{id}        -> the run's diagnostics, as .../session/{id}/diagnostics

The original's own bodies are taken too (one model per request, its names as aliases): it calls the run
`session_id`, sends `candidate_id` with every call (a body with it is the original's: the id must be the
run's, and the answer adds the original's fields, `_original_frame_result`, `_original_result`), sends
each frame as `frame_data` at `target_index`, batches frames of several dots, and names no screen in
`start`, which then takes the screen saved for the candidate (`_run_screen`) and sets out the original's
four dots (`calibration_layout`).

The last three paths are also Vigil's own routes: `server.http.legacy.shared_paths` gives each call to
one or the other (`is_original_screen`, `saved_screen`, `visible_run` say when it is this API's).

The client shows the dots itself, so each frame says which dot it was taken at (`point_index`): no
timing is inferred, unlike the data-channel calibration (`server.live.calibration`), whose result fields
this API answers with (`result_fields`). Each frame is analysed on its own (faces, landmarks, head pose,
gaze) and becomes a `FeatureSample` or a counted rejection (`analysis_sample`: no face, several faces,
blink, ...). `complete` fits on the fit dots and judges on the validation dots (`evaluate`).

A run is one JSON document in the store (`calibration_run_key`, `RETENTION_S`), changed under a per-run
lock on this worker; in production it is seen by whoever created it and admins. "By candidate" (verify,
download) means the newest run the caller made for that candidate id (`latest_calibration_run_key`):
candidate ids are the client's words, so one caller's runs never answer for another's. `screen/detect`
checks a browser's screen description with the rules of Vigil's own `POST /api/screen/info`
(`screen_geometry.screen_problems`) and stores nothing; the original `POST /api/screen/info` checks
with the same rules and saves the screen for the caller and candidate (`legacy_screen_key`), never in a
session's screen document. Linking records the
interview session's id in the run; Vigil's interview API does not apply the map to that session's gaze.
"""
from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from pipeline.calibration.accuracy import ScreenGeometry
from pipeline.calibration.evaluate import evaluate
from pipeline.calibration.features import FeatureSample, analysis_sample
from pipeline.calibration.fit import PointSamples
from pipeline.calibration.targets import sequence
from server.core.strict_json import dumps
from server.http.errors import json_response, read_json
from server.http.keys import HTTP_SESSIONS, PIPELINE, SETTINGS, STORE
from server.http.legacy.calibration_layout import DOT_DISPLAY_MS, original_targets
from server.http.legacy.common import (
    Integrator,
    admit,
    admitted,
    analyse_frame,
    frame_payload,
    visible_session,
)
from server.http.routes.screen import MAX_BODY_BYTES as SCREEN_BODY_BYTES
from server.live.calibration import result_fields
from server.live.screen_geometry import physical_size_fields, screen_problems, sides_from_diagonal
from server.protocol.errors import ApiError
from server.protocol.http import ID_PATTERN
from server.store.keys import calibration_run_key, latest_calibration_run_key, legacy_screen_key

API = "calibration"
#: the stages a calibration frame needs
GAZE_STAGES = ("faces", "landmarks", "head_pose", "gaze")
#: frames one `frames` call may carry (each is analysed; the body limit applies too)
MAX_BATCH = 30
#: a run's id; the original calls it `session_id` (its runs were "calibration sessions")
RUN_ID = Field(pattern=r"^[0-9a-f]{32}$", validation_alias=AliasChoices("calibration_session_id", "session_id"))
#: run fields left out of the status answer (the download has the model; samples are counted)
PRIVATE = ("samples", "model", "created_by")
#: the creator of runs made where callers are anonymous (dev)
ANYONE = "anyone"
#: the result fields `complete` repeats in the original's `calibration_stats`
ORIGINAL_STATS = ("status", "basis", "mean_error_px", "max_error_px", "mean_error_deg", "mean_error_screen_fraction",
                  "viewing_distance_mm")
#: the field that tells the original's screen description from Vigil's own (`screen_w`)
ORIGINAL_SCREEN_FIELD = "screen_width_px"
CameraPosition = Literal["top-center", "top-left", "top-right", "bottom-center", "bottom-left", "bottom-right",
                         "left-center", "right-center", "embedded"]
Label = Annotated[str, Field(max_length=200)]

routes = web.RouteTableDef()


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CreateRun(_Body):
    candidate_id: Annotated[str, Field(pattern=ID_PATTERN)] = "calibration"
    # the interview session to link; the original's name for it is `interview_id`
    session_id: str | None = Field(default=None, validation_alias=AliasChoices("session_id", "interview_id"))


class LinkRun(_Body):
    session_id: str


class _RunBody(_Body):
    """A call about one run. A body with `candidate_id` is the original API's (it sent the candidate with
    every call): the id must be the run's, and the answer comes in the original's shape too."""

    calibration_session_id: Annotated[str, RUN_ID]
    candidate_id: Annotated[str, Field(pattern=ID_PATTERN)] | None = None

    @property
    def original(self) -> bool:
        return self.candidate_id is not None


class StartRun(_RunBody):
    """Vigil's start names the screen; the original's does not, and the screen saved with
    `POST /api/screen/info` for the run's candidate is used (`_run_screen`)."""

    screen_w: Annotated[float, Field(gt=0, le=16384)] | None = None
    screen_h: Annotated[float, Field(gt=0, le=16384)] | None = None
    dpr: Annotated[float, Field(gt=0, le=8)] = 1.0
    screen_mm_w: Annotated[float, Field(gt=0, le=5000)] | None = None
    screen_mm_h: Annotated[float, Field(gt=0, le=5000)] | None = None
    viewing_distance_mm: Annotated[float, Field(gt=100, le=3000)] | None = None
    points: Literal[5, 9, 13, 16] = 9


class DotFrame(_Body):
    """One frame at a dot: the original names the dot `target_index` and the image `frame_data`."""

    frame: str = Field(validation_alias=AliasChoices("frame", "image", "frame_data"))
    point_index: Annotated[int, Field(ge=0)] = Field(validation_alias=AliasChoices("point_index", "target_index"))
    frame_index: int | None = None
    target_position: dict[str, float] | None = None


class RunFrame(_RunBody, DotFrame):
    """One frame at a dot: Vigil's `point_index` + `frame` (or `image`), or the original's `target_index` +
    `frame_data` (with its `frame_index` and `target_position`, echoed back)."""


class RunFrames(_RunBody):
    """Frames at one dot (Vigil's: `point_index` + base64 strings), or the original's batch, each frame an
    object naming its own dot (`at_points` makes them one list)."""

    point_index: Annotated[int, Field(ge=0)] | None = None
    frames: Annotated[list[str | DotFrame], Field(min_length=1, max_length=MAX_BATCH)]

    @model_validator(mode="after")
    def _dot_named(self) -> RunFrames:
        if self.point_index is None and any(isinstance(f, str) for f in self.frames):
            raise ValueError("point_index is required for frames given as strings")
        return self

    def at_points(self) -> list[DotFrame]:
        return [DotFrame.model_validate({"frame": f, "point_index": self.point_index}) if isinstance(f, str) else f
                for f in self.frames]


class CompleteRun(_RunBody):
    pass


def _either(*names: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(*names))


class DetectScreen(_Body):
    """A screen as a browser detected it: Vigil's field names or the original API's."""

    screen_w: float = Field(validation_alias=AliasChoices("screen_w", "screen_width_px"))
    screen_h: float = Field(validation_alias=AliasChoices("screen_h", "screen_height_px"))
    dpr: float | None = _either("dpr", "device_pixel_ratio")
    width_mm: float | None = _either("width_mm", "screen_mm_w", "screen_width_mm")
    height_mm: float | None = _either("height_mm", "screen_mm_h", "screen_height_mm")
    diagonal_in: float | None = _either("diagonal_in", "diagonal_inches")
    viewing_distance_mm: float | None = None
    distance_cm: float | None = None


class SaveScreen(_Body):
    """The original `POST /api/screen/info` body: its fields and defaults (its README)."""

    candidate_id: Annotated[str, Field(pattern=ID_PATTERN)]
    # bounded only so the arithmetic stays finite: Vigil's screen rules judge the size
    screen_width_px: Annotated[int, Field(gt=0, le=1_000_000)]
    screen_height_px: Annotated[int, Field(gt=0, le=1_000_000)]
    screen_width_mm: Annotated[float, Field(gt=0)] | None = None
    screen_height_mm: Annotated[float, Field(gt=0)] | None = None
    dpi: Annotated[float, Field(gt=0)] = 96.0
    diagonal_inches: Annotated[float, Field(gt=0)] | None = None
    monitor_name: Label = "Unknown"
    camera_position: CameraPosition = "top-center"
    distance_cm: Annotated[str, Field(max_length=32)] | int | float = "60"  # the original's is a string
    collection_method: Label = "automatic"


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


def _original_frame_result(f: DotFrame, outcome: FeatureSample | str) -> dict[str, Any]:
    """One frame's answer as the original gave it: `success`, else `error` (Vigil's rejection reason)."""
    accepted = isinstance(outcome, FeatureSample)
    return {"success": accepted, **({} if accepted else {"error": outcome}), "frame_index": f.frame_index,
            "target_index": f.point_index, "target_position": f.target_position,
            "timestamp": datetime.now(UTC).replace(tzinfo=None).isoformat()}


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


def diagnostics(doc: dict[str, Any]) -> dict[str, Any]:
    """A run's dots with their accepted frames and, once complete, their errors; its rejections."""
    result = doc.get("result") or {}
    errors = {p["index"]: p for p in result.get("points") or []}
    points = [{**t, "samples": len(doc["samples"].get(str(t["index"]), [])), "error": errors.get(t["index"])}
              for t in doc["targets"]]
    return {"calibration_session_id": doc["calibration_session_id"], "status": doc.get("status"), "points": points,
            "rejected": doc.get("rejected") or {}, "basis": result.get("basis"),
            "mean_error_px": result.get("mean_error_px"), "message": result.get("message")}


@routes.get("/api/calibration/session/{run_id}/diagnostics")
async def run_diagnostics(request: web.Request) -> web.Response:
    caller = await admit(request, API)
    return json_response(diagnostics(await _run(request, request.match_info["run_id"], caller)))


async def visible_run(request: web.Request, run_id: str) -> dict[str, Any] | None:
    """The run `run_id` when this API is on and shows it to the caller, else None (no error)."""
    on, caller = await admitted(request, API)
    if not on:
        return None
    try:
        return await _run(request, run_id, caller)
    except ApiError:
        return None


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
