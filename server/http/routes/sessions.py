"""The `/api/sessions` resource: create, offer, resume, status, end, the event log; and, for proctors
and admins, the listing of past sessions and deleting one.

Calls that act on a session's peer declare it (`on_session_worker`): with several workers they run
on the worker holding the peer.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from server.core.metrics import SESSIONS_CREATED
from server.core.paging import scan_page
from server.http.access import Visibility, require_session_token, session_access, session_grant, session_id
from server.http.affinity import new_session, on_session_worker
from server.http.errors import json_response, read_json
from server.http.keys import SESSIONS, SETTINGS, STORE
from server.http.paging import index_cursor, parse_index_cursor, parse_stream_cursor, query_limit
from server.live.session_state import session_row
from server.protocol.answers import Deleted, EventPage, SessionView
from server.protocol.errors import ApiError
from server.protocol.events import VerdictSummary
from server.protocol.http import (
    CreateSession,
    SessionAnswer,
    SessionCreated,
    SessionDescription,
    SessionList,
    SessionRow,
)
from server.protocol.stream import STREAM_KINDS
from server.rtc.turn import ice_servers
from server.store.index_pages import Position
from server.store.retention import delete_evidence

#: statuses of a session that is not over: shown in the live grid, refused by delete
LIVE_STATUSES = ("connecting", "live", "disconnected")
#: past sessions: page size bounds, and how many ids one request may scan to fill a proctor's page (past
#: it the page ends short, with `next` where the scan stopped)
DEFAULT_PAGE, MAX_PAGE, MAX_HISTORY_SCAN = 100, 500, 5000
#: ids read from the newest-first index per step of a listing's scan
SCAN_STEP = 200
#: event pages: size bounds, stream entries read per step and per request (a `kind` filter may skip many)
DEFAULT_EVENTS_PAGE, MAX_EVENTS_PAGE, EVENTS_STEP, MAX_EVENTS_SCAN = 1000, 5000, 500, 20000

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
    return json_response(SessionCreated.model_validate(result), status=201)


async def _offer(request: web.Request, *, resume: bool) -> web.Response:
    sid = session_id(request)
    require_session_token(request, sid)
    desc = SessionDescription.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    answer = await request.app[SESSIONS].offer(sid, desc, resume=resume)
    return json_response(SessionAnswer.model_validate(answer))


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
    # the candidate: fresh ICE servers (TURN credentials expire) for a resume, and the exam's steps for
    # a reloaded page; null for everyone else
    candidate = access.user is None
    fresh = ice_servers(request.app[SETTINGS], access.session_id, time.time()) if candidate else None
    steps = await request.app[SESSIONS].candidate_steps(state.exam_id) if candidate else None
    return json_response(SessionView.model_validate({**dict(state), "ice_servers": fresh, "candidate": steps}))


@routes.post("/api/sessions/{session_id}/end")
@on_session_worker
async def end_session(request: web.Request) -> web.Response:
    access = await session_access(request, "proctor", "admin")
    return json_response(VerdictSummary.model_validate(await request.app[SESSIONS].end(access.session_id, time.time())))


@routes.get("/api/sessions/{session_id}/events")
async def session_events(request: web.Request) -> web.Response:
    """The stream's items oldest first, a page at a time; `?kind=` (comma-separated) keeps those kinds,
    e.g. `score` for the risk series, or the event log without it."""
    access = await session_access(request, "proctor", "admin", token=False)
    limit = query_limit(request, DEFAULT_EVENTS_PAGE, MAX_EVENTS_PAGE)
    kinds = _kinds(request)
    store, sid = request.app[STORE], access.session_id

    async def read(after: str | None, count: int) -> list[tuple[str, dict[str, Any]]]:
        return [(item["id"], item) for item in await store.events_after(sid, after, count)]

    async def keep(items: Sequence[dict[str, Any]]) -> list[dict[str, Any] | None]:
        return [item if kinds is None or item.get("kind") in kinds else None for item in items]

    events, last = await scan_page(read, keep, parse_stream_cursor(request), limit=limit, step=EVENTS_STEP,
                                   budget=MAX_EVENTS_SCAN)
    return json_response(EventPage.model_validate({"session_id": sid, "events": events, "next": last}))


def _kinds(request: web.Request) -> frozenset[str] | None:
    """`?kind=a,b`: the stream kinds asked for; None for all; 400 naming an unknown kind."""
    raw = request.query.get("kind")
    if raw is None:
        return None
    kinds = frozenset(k.strip() for k in raw.split(",") if k.strip())
    unknown = sorted(kinds - set(STREAM_KINDS))
    if unknown or not kinds:
        raise ApiError(400, "unknown event kind", {"parameter": "kind", "unknown": unknown[:10],
                                                   "kinds": list(STREAM_KINDS)}, code="invalid_parameter")
    return kinds


@routes.get("/api/sessions")
async def past_sessions(request: web.Request) -> web.Response:
    """Newest first, the sessions the caller may see, without their bulky fields; a page at a time."""
    visible = await Visibility.of_caller(request, "proctor", "admin")
    limit = query_limit(request, DEFAULT_PAGE, MAX_PAGE)
    store = request.app[STORE]

    async def read(after: Position | None, count: int) -> list[tuple[Position, str]]:
        return [((created, sid), sid) for sid, created in await store.session_ids_after(after, count)]

    async def keep(ids: Sequence[str]) -> list[SessionRow | None]:
        hashes = await store.sessions(list(ids))
        return [session_row(data) if data and await visible.allows(sid, data.get("exam_id")) else None
                for sid, data in zip(ids, hashes, strict=True)]

    rows, last = await scan_page(read, keep, parse_index_cursor(request), limit=limit, step=SCAN_STEP,
                                 budget=MAX_HISTORY_SCAN)
    return json_response(SessionList(sessions=rows, next=index_cursor(last)))


@routes.delete("/api/sessions/{session_id}")
@on_session_worker  # only the worker holding the peer knows for sure that it is still live
async def delete_session(request: web.Request) -> web.Response:
    access = await session_access(request, "admin", token=False)
    sid, data = access.session_id, access.session
    if sid in request.app[SESSIONS].live or data.get("status") in LIVE_STATUSES:
        raise ApiError(409, "end the session before deleting it", {"status": data.get("status")}, code="session_not_ended")
    await request.app[STORE].delete_session(sid)
    await delete_evidence(request.app[SETTINGS].data_dir / "evidence", sid)  # all of its data
    return json_response(Deleted(deleted=sid))
