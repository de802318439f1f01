"""A candidate's session over HTTP: create, offer, resume, status, end, and its event log."""
from __future__ import annotations

import time

from aiohttp import web

from server.core.metrics import SESSIONS_CREATED
from server.http.access import session_access, session_id
from server.http.errors import read_json
from server.http.keys import AUTH, SESSIONS, SETTINGS, STORE
from server.protocol.http import CreateSession, SessionDescription
from server.rtc.turn import ice_servers

routes = web.RouteTableDef()


@routes.post("/api/sessions")
async def create_session(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    body = CreateSession.model_validate(await read_json(request, settings.max_body_bytes))
    result = await request.app[SESSIONS].create(body, time.time())
    SESSIONS_CREATED.inc()
    return web.json_response(result, status=201)


async def _offer(request: web.Request, *, resume: bool) -> web.Response:
    sid = session_id(request)
    request.app[AUTH].require_session(request, sid)
    desc = SessionDescription.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    answer = await request.app[SESSIONS].offer(sid, desc, resume=resume)
    return web.json_response(answer)


@routes.post("/api/sessions/{session_id}/offer")
async def offer(request: web.Request) -> web.Response:
    return await _offer(request, resume=False)


@routes.post("/api/sessions/{session_id}/resume")
async def resume(request: web.Request) -> web.Response:
    return await _offer(request, resume=True)


@routes.get("/api/sessions/{session_id}")
async def get_session(request: web.Request) -> web.Response:
    access = await session_access(request, "proctor", "admin")
    status = await request.app[SESSIONS].status(access.session_id)
    if access.user is None:  # the candidate: fresh ICE servers (TURN credentials expire) for a resume
        status["ice_servers"] = ice_servers(request.app[SETTINGS], access.session_id, time.time())
    return web.json_response(status)


@routes.post("/api/sessions/{session_id}/end")
async def end_session(request: web.Request) -> web.Response:
    access = await session_access(request, "proctor", "admin")
    return web.json_response(await request.app[SESSIONS].end(access.session_id, time.time()))


@routes.get("/api/sessions/{session_id}/events")
async def session_events(request: web.Request) -> web.Response:
    access = await session_access(request, "proctor", "admin", token=False)
    return web.json_response({"session_id": access.session_id,
                              "events": await request.app[STORE].events(access.session_id)})
