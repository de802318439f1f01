"""The human review of a session (proctor of the session's exam, or admin), `server.reports.review`:

- `GET /api/sessions/{id}/review`: each reviewed flag's latest mark, the unreviewed flags, the decision,
  and the automatic verdict as `ai_suggestion`
- `PATCH /api/sessions/{id}/review`: confirm or dismiss flags (by event id) with a note, and/or record the
  decision (cleared, violation, inconclusive) with a note; answers the review as `GET` does

A review is a `review` item appended to the session's event stream (`Store.append_item`: an ended
session has no outbox), with the reviewer's user id and e-mail and the time, so the reports built from
the stream show it and the stream keeps every earlier mark. Unknown event ids are a 400 naming them,
and nothing is written.
"""
from __future__ import annotations

import time

from aiohttp import web

from server.http.access import session_access
from server.http.errors import json_response, read_json
from server.http.keys import SETTINGS, STORE
from server.protocol.errors import ApiError
from server.protocol.http import Reviewer, ReviewPatch, ReviewState
from server.protocol.stream import ReviewItem
from server.reports.load import load_review
from server.reports.review import unknown_flags

routes = web.RouteTableDef()


def _answer(state: dict[str, object]) -> web.Response:
    return json_response(ReviewState.model_validate(state),
                         headers={"Cache-Control": "no-store"})


@routes.get("/api/sessions/{session_id}/review")
async def get_review(request: web.Request) -> web.Response:
    access = await session_access(request, "proctor", "admin", token=False)
    state, _ = await load_review(request.app[STORE], access.session_id, access.session)
    return _answer(state)


@routes.patch("/api/sessions/{session_id}/review")
async def patch_review(request: web.Request) -> web.Response:
    access = await session_access(request, "proctor", "admin", token=False)
    if access.user is None:  # token=False: never, a user is required
        raise ApiError(401, "login required", code="login_required")
    body = ReviewPatch.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    store, sid = request.app[STORE], access.session_id
    _, events = await load_review(store, sid, access.session)
    unknown = unknown_flags(events, body.flags)
    if unknown:
        raise ApiError(400, "unknown event ids", {"event_ids": unknown}, code="unknown_event")
    item = ReviewItem(kind="review", t=time.time(), by=Reviewer(user_id=access.user.user_id, email=access.user.email),
                      flags=body.flags, decision=body.decision)
    await store.append_item(sid, item.model_dump(mode="json", exclude={"id"}))
    state, _ = await load_review(store, sid, access.session)
    return _answer(state)
