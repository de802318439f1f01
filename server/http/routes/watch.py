"""A proctor acting on a live candidate, on the worker that holds the candidate's peer:
`POST /api/sessions/{id}/watch` (an SDP offer for the candidate's live video, audio and analyses) and
`POST /api/sessions/{id}/message` (words shown on the candidate's page)."""
from __future__ import annotations

import time

from aiohttp import web

from server.core.metrics import REJECTED
from server.http.access import SessionAccess, session_access
from server.http.affinity import on_session_worker
from server.http.errors import json_response, read_json
from server.http.keys import SESSIONS, SETTINGS, WATCHERS
from server.live.session import LiveSession
from server.live.watchers import MAX_WATCHERS_PER_SESSION
from server.protocol.errors import ApiError
from server.protocol.http import (
    ProctorMessageBody,
    ProctorMessageSent,
    Reviewer,
    SessionAnswer,
    SessionDescription,
)

routes = web.RouteTableDef()


def live_here(request: web.Request, access: SessionAccess) -> LiveSession:
    """The session's live peer on this worker, or 409 saying why not (ended, elsewhere, not live)."""
    sid, data = access.session_id, access.session
    sessions = request.app[SESSIONS]
    session = sessions.live.get(sid)
    if session is not None:
        return session
    status = data.get("status")
    if status == "ended":
        raise ApiError(409, "session has ended", {"status": status}, code="session_ended")
    worker = data.get("worker")
    if status in ("connecting", "live") and worker and worker != sessions.worker_id:
        raise ApiError(409, "session is hosted on another worker; ask that worker",
                       {"status": status, "worker": worker}, code="wrong_worker")
    raise ApiError(409, f"session is not live (status {status})", {"status": status, "worker": worker}, code="session_not_live")


@routes.post("/api/sessions/{session_id}/watch")
@on_session_worker
async def watch(request: web.Request) -> web.Response:
    access = await session_access(request, "proctor", "admin", token=False)
    watchers = request.app[WATCHERS]
    desc = SessionDescription.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    if "\nm=video " not in desc.sdp.replace("\r\n", "\n"):
        raise ApiError(400, "offer has no video m-line", {"hint": "addTransceiver('video', {direction: 'recvonly'})"}, code="invalid_offer")
    session = live_here(request, access)
    if watchers.count(access.session_id) >= MAX_WATCHERS_PER_SESSION:
        REJECTED.labels("watchers").inc()
        raise ApiError(429, "too many watchers on this session", {"max": MAX_WATCHERS_PER_SESSION}, code="too_many_watchers")
    return json_response(SessionAnswer.model_validate(await watchers.start(session, desc)))


@routes.post("/api/sessions/{session_id}/message")
@on_session_worker
async def message(request: web.Request) -> web.Response:
    access = await session_access(request, "proctor", "admin", token=False)
    body = ProctorMessageBody.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    session = live_here(request, access)
    if session.status not in ("connecting", "live"):
        raise ApiError(409, f"session is not live (status {session.status})", {"status": session.status},
                       code="session_not_live")
    user, now = access.user, time.time()
    if user is None:  # token=False lets only accounts through; said for the type checker
        raise ApiError(401, "login required", code="login_required")
    delivered = session.proctor_message(body.text, Reviewer(user_id=user.user_id, email=user.email), now)
    return json_response(ProctorMessageSent(session_id=access.session_id, at=round(now, 3), delivered=delivered)
                         .model_dump(mode="json"))
