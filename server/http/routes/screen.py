"""The candidate's screen geometry: written by the candidate's session, read by whoever may see it.

| route | who | what |
|---|---|---|
| POST /api/screen/info | the session token of that candidate's session | screen size (CSS px), dpr, window placement, optional physical size (mm) and viewing distance; implausible values are a 400 naming each problem |
| GET /api/screen/info/{candidate_id} | that candidate's session token; admin or the owning proctor with `?session_id=` | the screen info that session reads |

The document belongs to the session's authenticated identity (shared by that identity's sessions), or
to the session alone when it has none (`server.store.keys.document_owner`): a candidate id typed by a
client never reaches another session's document. It carries the exam it was written from;
`server.http.access.candidate_document` applies the access rules.

The original gaze calibration API shares both paths: `server.http.legacy.shared_paths` routes them,
here when the caller presents a session token (or, to read, `?session_id=`).
"""
from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from server.http.access import candidate_document, token_session
from server.http.errors import json_response, read_json
from server.http.keys import STORE
from server.live.screen_geometry import physical_size_fields, screen_problems
from server.protocol.answers import ScreenDocument
from server.protocol.errors import ApiError
from server.protocol.http import ScreenInfo
from server.store.keys import document_owner, screen_key

#: bodies are small; anything larger is not a screen description.
MAX_BODY_BYTES = 4096
#: a window may hang this far (CSS px) past the screen's edges (multi-monitor desktops, shadows).
WINDOW_SLACK_PX = 64.0


def _problems(body: ScreenInfo) -> list[str]:
    out = screen_problems(screen_w=body.screen_w, screen_h=body.screen_h, dpr=body.dpr, width_mm=body.width_mm,
                          height_mm=body.height_mm, viewing_distance_mm=body.viewing_distance_mm)
    win = body.window
    if win is not None and not out:
        if win.width > body.screen_w + WINDOW_SLACK_PX or win.height > body.screen_h + WINDOW_SLACK_PX:
            out.append(f"window {win.width:g} x {win.height:g} is larger than the screen "
                       f"{body.screen_w:g} x {body.screen_h:g}")
        # screenX/Y may be negative or past the width on multi-monitor desktops: only absurd values fail
        if not (-4 * body.screen_w <= win.x <= 4 * body.screen_w and -4 * body.screen_h <= win.y <= 4 * body.screen_h):
            out.append(f"window position ({win.x:g}, {win.y:g}) is far outside any plausible desktop")
    return out


async def post_screen_info(request: web.Request) -> web.Response:
    sid = token_session(request)
    if sid is None:
        raise ApiError(401, "session token required (Authorization: Bearer <token>)", code="session_token_required")
    body = ScreenInfo.model_validate(await read_json(request, MAX_BODY_BYTES))
    store = request.app[STORE]
    session = await store.session(sid)
    if session is None:
        raise ApiError(404, "unknown session", {"session_id": sid}, code="unknown_session")
    if session.get("candidate_id") != body.candidate_id:
        raise ApiError(403, "a session may only describe its own candidate's screen", code="forbidden")
    problems = _problems(body)
    if problems:
        raise ApiError(400, "implausible screen description", problems, code="invalid_screen")
    doc: dict[str, Any] = {**body.model_dump(), "session_id": sid, "exam_id": session.get("exam_id", ""),
                           "updated_at": time.time(), "mm_per_px": None, "diagonal_in": None}
    doc.update(physical_size_fields(body.screen_w, body.width_mm, body.height_mm))
    await store.put_json(screen_key(document_owner(sid, session.get("identity"))), doc)
    return json_response(screen_document(doc))


def screen_document(doc: dict[str, Any]) -> ScreenDocument:
    """A stored document as answered; one written before `mm_per_px` and `diagonal_in` were always
    stored has them null."""
    return ScreenDocument.model_validate({"mm_per_px": None, "diagonal_in": None, **doc})


async def get_screen_info(request: web.Request) -> web.Response:
    return json_response(screen_document(await candidate_document(request, screen_key, "screen info")))
