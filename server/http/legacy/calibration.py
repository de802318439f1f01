"""The original gaze calibration API over HTTP, on `pipeline/calibration/` (features, fit, evaluation).

    POST /api/calibration/session/create         {"candidate_id"?, "session_id"?}  -> {"calibration_session_id", "status"}
    GET  /api/calibration/session/{id}            -> the run: status, screen, targets, samples per point, result
    POST /api/calibration/session/{id}/link       {"session_id"}  -> the run, linked to an interview session
    POST /api/calibration/start                   {"calibration_session_id", "screen_w", "screen_h", "dpr"?,
                                                   "screen_mm_w"?, "screen_mm_h"?, "viewing_distance_mm"?, "points"?: 5|9|13|16}
                                                  -> {"targets": [{"index", "x", "y", "validation"}], "total"}
    POST /api/calibration/frame                   {"calibration_session_id", "point_index", "frame"}
                                                  -> {"accepted", "reason", "point_index", "samples"}
    POST /api/calibration/frames                  {"calibration_session_id", "point_index", "frames": [...]}
                                                  -> {"accepted", "rejected": {reason: n}, "point_index", "samples"}
    POST /api/calibration/complete                {"calibration_session_id"}  -> the result (as the data channel's
                                                  `calibration.result`: ok, status, errors in px/deg/mm, per point)
    GET  /api/calibration/session/{id}/download   -> the run with its fitted model, as a JSON download

The client shows the dots itself, so each frame says which dot it was taken at (`point_index`): no
timing is inferred, unlike the data-channel calibration (`server.live.calibration`), whose result fields
this API answers with (`result_fields`). Each frame is analysed on its own (faces, landmarks, head pose,
gaze) and becomes a `FeatureSample` or a counted rejection (`analysis_sample`: no face, several faces,
blink, ...). `complete` fits on the fit dots and judges on the validation dots (`evaluate`).

A run is one JSON document in the store (`calibration_run_key`, `RETENTION_S`), changed under a per-run
lock on this worker; in production it is seen by whoever created it and admins. Linking records the
interview session's id in the run; Vigil's interview API does not apply the map to that session's gaze.
"""
from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from pipeline.calibration.accuracy import ScreenGeometry
from pipeline.calibration.evaluate import evaluate
from pipeline.calibration.features import FeatureSample, analysis_sample
from pipeline.calibration.fit import PointSamples
from pipeline.calibration.targets import sequence
from server.accounts.auth import User
from server.http.errors import json_response, read_json
from server.http.keys import HTTP_SESSIONS, PIPELINE, SETTINGS, STORE
from server.http.legacy.common import admit, analyse_frame, frame_payload, visible_session
from server.live.calibration import result_fields
from server.protocol.base import Outbound
from server.protocol.errors import ApiError
from server.protocol.http import ID_PATTERN
from server.store.keys import calibration_run_key

API = "calibration"
#: the stages a calibration frame needs
GAZE_STAGES = ("faces", "landmarks", "head_pose", "gaze")
#: frames one `frames` call may carry (each is analysed; the body limit applies too)
MAX_BATCH = 30
RUN_ID = Field(pattern=r"^[0-9a-f]{32}$")
#: run fields left out of the status answer (the download has the model; samples are counted)
PRIVATE = ("samples", "model", "created_by")

routes = web.RouteTableDef()


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CreateRun(_Body):
    candidate_id: Annotated[str, Field(pattern=ID_PATTERN)] = "calibration"
    session_id: str | None = None


class LinkRun(_Body):
    session_id: str


class StartRun(_Body):
    calibration_session_id: Annotated[str, RUN_ID]
    screen_w: Annotated[float, Field(gt=0, le=16384)]
    screen_h: Annotated[float, Field(gt=0, le=16384)]
    dpr: Annotated[float, Field(gt=0, le=8)] = 1.0
    screen_mm_w: Annotated[float, Field(gt=0, le=5000)] | None = None
    screen_mm_h: Annotated[float, Field(gt=0, le=5000)] | None = None
    viewing_distance_mm: Annotated[float, Field(gt=100, le=3000)] | None = None
    points: Literal[5, 9, 13, 16] = 9


class RunFrame(_Body):
    calibration_session_id: Annotated[str, RUN_ID]
    point_index: Annotated[int, Field(ge=0)]
    frame: str | None = None
    image: str | None = None


class RunFrames(_Body):
    calibration_session_id: Annotated[str, RUN_ID]
    point_index: Annotated[int, Field(ge=0)]
    frames: Annotated[list[str], Field(min_length=1, max_length=MAX_BATCH)]


class RunCreated(Outbound):
    calibration_session_id: str
    status: Literal["created"]
    created_at: float


class RunTarget(Outbound):
    """A dot to show, CSS px of the calibrated area."""

    index: int
    x: float
    y: float
    validation: bool


class RunStarted(Outbound):
    calibration_session_id: str
    targets: list[RunTarget]
    total: int


class FrameAdded(Outbound):
    accepted: bool
    #: why the frame gave no gaze sample, null when accepted
    reason: str | None
    point_index: int
    #: samples the dot has now
    samples: int


class FramesAdded(Outbound):
    accepted: int
    #: rejected frames by reason
    rejected: dict[str, int]
    point_index: int
    samples: int


class CompleteRun(_Body):
    calibration_session_id: Annotated[str, RUN_ID]


# -- the run document ---------------------------------------------------------------------------
async def _run(request: web.Request, run_id: str, user: User | None) -> dict[str, Any]:
    """The run, for its creator or an admin (dev: anyone); 404 otherwise, as for an unknown id."""
    valid = len(run_id) == 32 and all(c in "0123456789abcdef" for c in run_id)
    doc = await request.app[STORE].get_json(calibration_run_key(run_id)) if valid else None
    creator = None if doc is None else doc.get("created_by")
    if doc is None or (user is not None and user.role != "admin" and creator not in (None, user.user_id)):
        raise ApiError(404, "unknown calibration session", {"calibration_session_id": run_id})
    return doc


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


async def _add(request: web.Request, run_id: str, user: User | None, index: int,
               images: list[str]) -> tuple[dict[str, Any], list[FeatureSample | str]]:
    """Analyse `images` for dot `index` and record them in the run (checked again under the lock)."""
    _target(await _run(request, run_id, user), index)  # refuse before analysing anything
    outcomes = [await _sample(request, image) for image in images]
    async with request.app[HTTP_SESSIONS].lock(run_id):
        doc = await _run(request, run_id, user)
        _target(doc, index)
        rows = doc["samples"].setdefault(str(index), [])
        rejected = Counter(doc.get("rejected") or {})
        for outcome in outcomes:
            if isinstance(outcome, FeatureSample):
                rows.append(_row(outcome))
            else:
                rejected[outcome] += 1
        doc["rejected"] = dict(rejected)
        await _save(request, doc)
    return doc, outcomes


# -- routes ---------------------------------------------------------------------------------------
@routes.post("/api/calibration/session/create")
async def create_run(request: web.Request) -> web.Response:
    user = await admit(request, API)
    body = CreateRun.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes)
                                    if request.body_exists else {})
    if body.session_id is not None:
        await visible_session(request, body.session_id, user)
    run_id, now = uuid.uuid4().hex, time.time()
    doc: dict[str, Any] = {"calibration_session_id": run_id, "candidate_id": body.candidate_id, "session_id": body.session_id,
           "status": "created", "created_at": now, "created_by": None if user is None else user.user_id,
           "screen": None, "points": None, "targets": [], "samples": {}, "rejected": {}, "result": None,
           "model": None}
    await _save(request, doc)
    return json_response(RunCreated(calibration_session_id=run_id, status="created", created_at=now))


@routes.get("/api/calibration/session/{run_id}")
async def run_status(request: web.Request) -> web.Response:
    user = await admit(request, API)
    return json_response(public(await _run(request, request.match_info["run_id"], user)))


@routes.post("/api/calibration/session/{run_id}/link")
async def link_run(request: web.Request) -> web.Response:
    user = await admit(request, API)
    run_id = request.match_info["run_id"]
    body = LinkRun.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    await visible_session(request, body.session_id, user)
    async with request.app[HTTP_SESSIONS].lock(run_id):
        doc = await _run(request, run_id, user)
        doc["session_id"] = body.session_id
        await _save(request, doc)
    return json_response(public(doc))


@routes.post("/api/calibration/start")
async def start_run(request: web.Request) -> web.Response:
    user = await admit(request, API)
    body = StartRun.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    run_id = body.calibration_session_id
    targets = [{"index": tg.index, "x": round(tg.px(body.screen_w, body.screen_h)[0], 1),
                "y": round(tg.px(body.screen_w, body.screen_h)[1], 1), "validation": tg.validation}
               for tg in sequence(body.points)]
    async with request.app[HTTP_SESSIONS].lock(run_id):
        doc = await _run(request, run_id, user)
        doc.update({"status": "running", "points": body.points, "targets": targets, "samples": {}, "rejected": {},
                    "result": None, "model": None, "viewing_distance_mm": body.viewing_distance_mm,
                    "screen": {"width_px": body.screen_w, "height_px": body.screen_h, "dpr": body.dpr,
                               "width_mm": body.screen_mm_w, "height_mm": body.screen_mm_h}})
        await _save(request, doc)
    return json_response(RunStarted.model_validate({"calibration_session_id": run_id, "targets": targets,
                                                    "total": len(targets)}))


@routes.post("/api/calibration/frame")
async def run_frame(request: web.Request) -> web.Response:
    user = await admit(request, API)
    body = RunFrame.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    image = body.frame if body.frame is not None else body.image
    doc, outcomes = await _add(request, body.calibration_session_id, user, body.point_index, [frame_payload(image)])
    outcome = outcomes[0]
    accepted = isinstance(outcome, FeatureSample)
    return json_response(FrameAdded(accepted=accepted, reason=None if isinstance(outcome, FeatureSample) else outcome,
                                    point_index=body.point_index, samples=len(doc["samples"][str(body.point_index)])))


@routes.post("/api/calibration/frames")
async def run_frames(request: web.Request) -> web.Response:
    user = await admit(request, API)
    body = RunFrames.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    images = [frame_payload(f) for f in body.frames]
    doc, outcomes = await _add(request, body.calibration_session_id, user, body.point_index, images)
    rejected = Counter(o for o in outcomes if not isinstance(o, FeatureSample))
    return json_response(FramesAdded(accepted=len(outcomes) - sum(rejected.values()), rejected=dict(rejected),
                                     point_index=body.point_index, samples=len(doc["samples"][str(body.point_index)])))


@routes.post("/api/calibration/complete")
async def complete_run(request: web.Request) -> web.Response:
    user = await admit(request, API)
    body = CompleteRun.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    run_id = body.calibration_session_id
    async with request.app[HTTP_SESSIONS].lock(run_id):
        doc = await _run(request, run_id, user)
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
    return json_response({"calibration_session_id": run_id, **result})


@routes.get("/api/calibration/session/{run_id}/download")
async def download_run(request: web.Request) -> web.Response:
    user = await admit(request, API)
    run_id = request.match_info["run_id"]
    doc = await _run(request, run_id, user)
    return json_response({**public(doc), "model": doc.get("model")}, headers={
        "Content-Disposition": f'attachment; filename="calibration-{run_id}.json"', "Cache-Control": "no-store"})
