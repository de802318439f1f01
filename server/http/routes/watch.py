"""POST /api/sessions/{id}/watch: a proctor's SDP offer for a candidate's live video and analyses."""
from __future__ import annotations

from aiohttp import web

from server.core.metrics import REJECTED
from server.http.access import session_access
from server.http.affinity import on_session_worker
from server.http.errors import json_response, read_json
from server.http.keys import SESSIONS, SETTINGS, WATCHERS
from server.live.watchers import MAX_WATCHERS_PER_SESSION
from server.protocol.errors import ApiError
from server.protocol.http import SessionAnswer, SessionDescription

routes = web.RouteTableDef()


@routes.post("/api/sessions/{session_id}/watch")
@on_session_worker
async def watch(request: web.Request) -> web.Response:
    access = await session_access(request, "proctor", "admin", token=False)
    sid, data = access.session_id, access.session
    sessions, watchers = request.app[SESSIONS], request.app[WATCHERS]
    desc = SessionDescription.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    if "\nm=video " not in desc.sdp.replace("\r\n", "\n"):
        raise ApiError(400, "offer has no video m-line", {"hint": "addTransceiver('video', {direction: 'recvonly'})"}, code="invalid_offer")
    session = sessions.live.get(sid)
    status = data.get("status")
    if session is None:
        if status == "ended":
            raise ApiError(409, "session has ended", {"status": status}, code="session_ended")
        worker = data.get("worker")
        if status in ("connecting", "live") and worker and worker != sessions.worker_id:
            raise ApiError(409, "session is hosted on another worker; ask that worker",
                           {"status": status, "worker": worker}, code="wrong_worker")
        raise ApiError(409, f"session is not live (status {status})", {"status": status, "worker": worker}, code="session_not_live")
    if watchers.count(sid) >= MAX_WATCHERS_PER_SESSION:
        REJECTED.labels("watchers").inc()
        raise ApiError(429, "too many watchers on this session", {"max": MAX_WATCHERS_PER_SESSION}, code="too_many_watchers")
    return json_response(SessionAnswer.model_validate(await watchers.start(session, desc)))
