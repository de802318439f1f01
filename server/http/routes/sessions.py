"""The `/api/sessions` resource: create, offer, resume, status, end, the event log; and, for proctors
and admins, the listing of past sessions and deleting one.

Calls that act on a session's peer declare it (`on_session_worker`): with several workers they run
on the worker holding the peer.
"""
from __future__ import annotations

import time

from aiohttp import web

from server.core.metrics import SESSIONS_CREATED
from server.http.access import Visibility, require_session_token, session_access, session_grant, session_id
from server.http.affinity import new_session, on_session_worker
from server.http.errors import json_response, read_json
from server.http.keys import SESSIONS, SETTINGS, STORE
from server.live.session_state import session_row
from server.protocol.errors import ApiError
from server.protocol.http import CreateSession, SessionDescription, SessionList, SessionRow
from server.rtc.turn import ice_servers
from server.store.retention import delete_evidence

#: statuses of a session that is not over: shown in the live grid, refused by delete
LIVE_STATUSES = ("connecting", "live", "disconnected")
#: past sessions: page size bounds, and how many ids one listing may scan to fill a proctor's page
DEFAULT_PAGE, MAX_PAGE, MAX_HISTORY_SCAN = 100, 500, 5000
#: ids read from the newest-first index per step of a listing's scan
SCAN_STEP = 200

routes = web.RouteTableDef()


@routes.post("/api/sessions")
@new_session
async def create_session(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    body = CreateSession.model_validate(await read_json(request, settings.max_body_bytes))
    now = time.time()
    grant = await session_grant(request, body, now)  # join code, join token or API key: docs/integration.md
    result = await request.app[SESSIONS].create(body, now, request.remote or "?", grant.identity,
                                                exam_id=grant.exam_id)
    SESSIONS_CREATED.inc()
    return json_response(result, status=201)


async def _offer(request: web.Request, *, resume: bool) -> web.Response:
    sid = session_id(request)
    require_session_token(request, sid)
    desc = SessionDescription.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    answer = await request.app[SESSIONS].offer(sid, desc, resume=resume)
    return json_response(answer)


@routes.post("/api/sessions/{session_id}/offer")
@on_session_worker
async def offer(request: web.Request) -> web.Response:
    return await _offer(request, resume=False)


@routes.post("/api/sessions/{session_id}/resume")
@on_session_worker
async def resume(request: web.Request) -> web.Response:
    return await _offer(request, resume=True)


@routes.get("/api/sessions/{session_id}")
@on_session_worker
async def get_session(request: web.Request) -> web.Response:
    access = await session_access(request, "proctor", "admin")
    state = await request.app[SESSIONS].status(access.session_id)
    out = state.model_dump(mode="json", exclude={"ice_servers"})
    if access.user is None:  # the candidate: fresh ICE servers (TURN credentials expire) for a resume
        out["ice_servers"] = ice_servers(request.app[SETTINGS], access.session_id, time.time())
    return json_response(out)


@routes.post("/api/sessions/{session_id}/end")
@on_session_worker
async def end_session(request: web.Request) -> web.Response:
    access = await session_access(request, "proctor", "admin")
    return json_response(await request.app[SESSIONS].end(access.session_id, time.time()))


@routes.get("/api/sessions/{session_id}/events")
async def session_events(request: web.Request) -> web.Response:
    access = await session_access(request, "proctor", "admin", token=False)
    return json_response({"session_id": access.session_id,
                              "events": await request.app[STORE].events(access.session_id)})



@routes.get("/api/sessions")
async def past_sessions(request: web.Request) -> web.Response:
    """Newest first, the sessions the caller may see, without their bulky fields."""
    visible = await Visibility.of_caller(request, "proctor", "admin")
    try:
        limit = min(MAX_PAGE, max(1, int(request.query.get("limit", DEFAULT_PAGE))))
    except ValueError:
        raise ApiError(400, "limit must be an integer", code="invalid_parameter") from None
    store = request.app[STORE]
    out: list[SessionRow] = []
    for start in range(0, MAX_HISTORY_SCAN, SCAN_STEP):  # a proctor's page may need a scan
        ids = await store.session_ids_newest(start, start + SCAN_STEP - 1)
        hashes = await store.sessions(ids)
        for sid, data in zip(ids, hashes, strict=False):
            if data and len(out) < limit and await visible.allows(sid, data.get("exam_id")):
                out.append(session_row(data))
        if len(out) >= limit or len(ids) < SCAN_STEP:
            break
    return json_response(SessionList(sessions=out).model_dump(mode="json"))


@routes.delete("/api/sessions/{session_id}")
@on_session_worker  # only the worker holding the peer knows for sure that it is still live
async def delete_session(request: web.Request) -> web.Response:
    access = await session_access(request, "admin", token=False)
    sid, data = access.session_id, access.session
    if sid in request.app[SESSIONS].live or data.get("status") in LIVE_STATUSES:
        raise ApiError(409, "end the session before deleting it", {"status": data.get("status")}, code="session_not_ended")
    await request.app[STORE].delete_session(sid)
    await delete_evidence(request.app[SETTINGS].data_dir / "evidence", sid)  # all of its data
    return json_response({"deleted": sid})
