"""The original interview risk API on Vigil's session, pipeline, risk engine and event stream.

    POST /start-session  {"candidate_id"?: str, "join_code"?: str, "exam_id"?: str}
      -> {"session_id", "status": "active", "started_at"}
    POST /analyze-frame  {"session_id", "frame": base64 JPEG or data URL}  ("image" is accepted for "frame")
      -> {"session_id", "cheating", "risk_score", "attention", "gaze", "faces", "objects", "events", ...}
    POST /end-session    {"session_id"}  -> {"final_risk_score", "verdict", "total_violations", "duration_seconds", ...}
    GET  /docs           -> the API docs page (`/api/docs`); `GET /health` is Vigil's own

A started session is a Vigil session (its hash, its exam: an API key's (`common.key_exam`), else the
join code's, else the demo exam in dev; a key asserts the candidate's identity, as on `POST /api/sessions`), so
reports, the dashboard's listings and the AI proctoring API's `/ws/{session_id}` work on it. Each frame is
analysed by the session's own pipeline and judged by its risk engine (`state.HttpSessions`), events go
to its stream; ending it is the manager's `end`, the same verdict as a WebRTC session's. The response
fields are mapped in `interview_result` and documented in `docs/legacy-apis.md`.
"""
from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from pipeline.analysis import FrameAnalysis
from pipeline.stages.faces import FacesResult
from pipeline.stages.gaze import GazeResult
from pipeline.stages.objects import ObjectsResult
from server.accounts.apikeys import identity_of
from server.core.metrics import SESSIONS_CREATED
from server.http.errors import json_response, read_json
from server.http.keys import AUTH, HTTP_SESSIONS, SESSIONS, SETTINGS, STORE
from server.http.legacy.common import (
    Integrator,
    admit,
    analyse_frame,
    frame_payload,
    key_exam,
    visible_session,
)
from server.live.risk import LiveUpdate, RiskSession
from server.protocol.base import Outbound
from server.protocol.errors import ApiError
from server.protocol.http import ID_PATTERN, CreateSession

API = "interview"
#: the candidate id of a session started without one
DEFAULT_CANDIDATE = "interview"
#: the session hash's `source` of a session this API started: only those take its frames and its end
SOURCE = "interview-api"

routes = web.RouteTableDef()


class _Body(BaseModel):
    #: the original clients send fields Vigil has no use for (names, notes): ignored, never refused
    model_config = ConfigDict(frozen=True, extra="ignore")


class StartSession(_Body):
    candidate_id: Annotated[str, Field(pattern=ID_PATTERN)] = DEFAULT_CANDIDATE
    join_code: Annotated[str, Field(min_length=4, max_length=32)] | None = None
    #: with an API key of several exams, the one the session belongs to (`common.key_exam`)
    exam_id: Annotated[str, Field(pattern=ID_PATTERN)] | None = None


class AnalyzeFrame(_Body):
    session_id: Annotated[str, Field(max_length=64)]
    frame: str | None = None
    image: str | None = None


class EndSession(_Body):
    session_id: Annotated[str, Field(max_length=64)]


class SessionStarted(Outbound):
    """`POST /start-session`'s answer, as the original's."""

    session_id: str
    status: Literal["active"]
    started_at: float


async def interview_session(request: web.Request, sid: str, caller: Integrator | None) -> dict[str, str]:
    """The hash of a session this API started; a WebRTC session's frames and end are not its business."""
    data = await visible_session(request, sid, caller)
    if data.get("source") != SOURCE:
        raise ApiError(409, "this session was not started with /start-session", {"session_id": sid})
    return data


async def _body(request: web.Request) -> Any:
    """The JSON body; an empty one is `{}` (the original `/start-session` took none)."""
    return await read_json(request, request.app[SETTINGS].max_body_bytes) if request.body_exists else {}


def interview_result(sid: str, analysis: FrameAnalysis, update: LiveUpdate, risk: RiskSession) -> dict[str, Any]:
    """One analysed frame as the original API answered it, from the stages' typed results and the engine.
    `cheating`: the score has reached the policy's review threshold (`verdict.review_peak_risk`)."""
    faces = analysis.result("faces", FacesResult)
    gaze = analysis.result("gaze", GazeResult)
    objects = analysis.result("objects", ObjectsResult)
    return {
        "session_id": sid,
        "cheating": update.risk_score >= risk.engine.policy.verdict.review_peak_risk,
        "risk_score": round(update.risk_score, 1),
        "attention": None if risk.attention is None else round(risk.attention, 1),
        "gaze": None if gaze is None else gaze.direction,
        "faces": None if faces is None else faces.count,
        "objects": [] if objects is None else [d.message_fields() for d in objects.objects],
        "events": risk.active_types(),
        "changed": update.changed,
        "frame_id": analysis.frame_id,
    }


@routes.post("/start-session")
async def start_session(request: web.Request) -> web.Response:
    caller = await admit(request, API)
    body = StartSession.model_validate(await _body(request))
    app, now = request.app, time.time()
    exam_id = identity = None
    if caller is not None and caller.key is not None:  # a key's sessions belong to its exams
        if body.join_code is not None:
            raise ApiError(400, "with an API key, name the exam (exam_id) and no join code")
        exam_id, identity = key_exam(caller.key, body.exam_id), identity_of(caller.key.key_id, body.candidate_id)
    elif caller is not None and caller.user is not None and body.join_code is not None:
        # a proctor starts sessions of their own exams only
        join_exam = await app[STORE].exam_for_join_code(body.join_code)
        if join_exam is not None and not await app[AUTH].can_see_exam(caller.user, join_exam):
            raise ApiError(403, "this join code belongs to another proctor's exam")
    created = await app[SESSIONS].create(CreateSession(candidate_id=body.candidate_id, join_code=body.join_code), now,
                                         request.remote or "?", identity, exam_id=exam_id)
    sid = created["session_id"]
    await app[STORE].update_session(sid, {"status": "live", "started_at": now, "source": SOURCE})
    SESSIONS_CREATED.inc()
    return json_response(SessionStarted(session_id=sid, status="active", started_at=now))


@routes.post("/analyze-frame")
async def analyze_frame(request: web.Request) -> web.Response:
    caller = await admit(request, API)
    body = AnalyzeFrame.model_validate(await _body(request))
    data = await interview_session(request, body.session_id, caller)
    if data.get("status") == "ended":
        raise ApiError(409, "session has ended", {"session_id": body.session_id})
    image = frame_payload(body.frame if body.frame is not None else body.image)
    held = await request.app[HTTP_SESSIONS].get(body.session_id, data)
    async with held.lock:  # one frame in flight per session, analysed in arrival order
        t = time.time()
        held.frame_id += 1
        analysis = await analyse_frame(request, image, held.pipeline, t=t, frame_id=held.frame_id)
        update = held.risk.observe_frame(analysis, None)
        await held.write_state(request.app[STORE], t)
        return json_response(interview_result(body.session_id, analysis, update, held.risk))


@routes.post("/end-session")
async def end_session(request: web.Request) -> web.Response:
    caller = await admit(request, API)
    body = EndSession.model_validate(await _body(request))
    await interview_session(request, body.session_id, caller)
    await request.app[HTTP_SESSIONS].release(body.session_id)  # events and snapshot complete in the store
    return json_response(await request.app[SESSIONS].end(body.session_id, time.time()))


@routes.get("/docs")
async def docs(request: web.Request) -> web.Response:
    """The original served its docs at `/docs`; Vigil's are at `/api/docs`."""
    raise web.HTTPFound("/api/docs")
