"""Screen geometry and stored calibrations over HTTP.

| route | who | what |
|---|---|---|
| POST /api/screen/info | the session token of that candidate's session | screen size (CSS px), dpr, window placement, optional physical size (mm) and viewing distance; implausible values are a 400 naming each problem |
| GET /api/screen/info/{candidate_id} | admin, the proctor owning the exam it was sent from, or that candidate's session token | the stored screen info |
| GET /api/calibration/{candidate_id} | same | the candidate's latest calibration: accuracy, per-point errors, model |
| GET /api/calibration/{candidate_id}/download | same | the same as a JSON attachment |
| GET /api/calibration/diagnostics/{session_id} | admin, the owning proctor, or the session's token | the session's calibration summary (null before any) |

Candidate documents carry the exam they were written from; a proctor sees those of exams they own
(the session rule of `Authenticator.can_see_session`). The keys are owned by server/store/store.py.
"""
from __future__ import annotations

import json
import re
import time
from typing import Any

import jwt
from aiohttp import web

from server.accounts.auth import Authenticator, User
from server.accounts.tokens import SESSION_SCOPE, SessionTokens, bearer
from server.http.access import session_access
from server.http.errors import read_json
from server.live.screen_geometry import screen_problems
from server.protocol.errors import ApiError
from server.protocol.http import ID_PATTERN, ScreenInfo
from server.store.keys import calibration_key, screen_key
from server.store.store import Store

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


class CalibrationRoutes:
    def __init__(self, *, store: Store, auth: Authenticator) -> None:
        self.store = store
        self.auth = auth

    # -- who is calling --------------------------------------------------------------------------
    def _token_session(self, request: web.Request) -> str | None:
        """The session id of a valid session token in the Authorization header, else None."""
        token = bearer(request.headers.get("Authorization"))
        if token is None:
            return None
        tokens: SessionTokens = self.auth.tokens
        try:
            claims = jwt.decode(token, tokens.secret, algorithms=["HS256"], options={"require": ["exp", "sid"]})
        except jwt.PyJWTError:
            return None
        sid = claims.get("sid")
        return sid if claims.get("scope") == SESSION_SCOPE and isinstance(sid, str) else None

    async def _candidate_reader(self, request: web.Request, candidate_id: str) -> User | None:
        """None for that candidate's own session token; the user for an admin or proctor."""
        sid = self._token_session(request)
        if sid is not None:
            session = await self.store.session(sid)
            if session is not None and session.get("candidate_id") == candidate_id:
                return None
            raise ApiError(403, "this session token belongs to another candidate")
        return await self.auth.require_role(request, "proctor", "admin")

    async def _candidate_doc(self, request: web.Request, cid: str, key: str, what: str) -> dict[str, Any]:
        user = await self._candidate_reader(request, cid)
        doc = await self.store.get_json(key)
        if doc is None:
            raise ApiError(404, f"no {what} stored for this candidate", {"candidate_id": cid})
        if user is not None and not await self.auth.can_see_session(user, {"exam_id": str(doc.get("exam_id") or "")}):
            raise ApiError(403, f"this {what} was made in another proctor's exam")
        return doc

    # -- handlers -------------------------------------------------------------------------------
    async def post_screen_info(self, request: web.Request) -> web.Response:
        sid = self._token_session(request)
        if sid is None:
            raise ApiError(401, "session token required (Authorization: Bearer <token>)")
        body = ScreenInfo.model_validate(await read_json(request, MAX_BODY_BYTES))
        session = await self.store.session(sid)
        if session is None:
            raise ApiError(404, "unknown session", {"session_id": sid})
        if session.get("candidate_id") != body.candidate_id:
            raise ApiError(403, "a session may only describe its own candidate's screen")
        problems = _problems(body)
        if problems:
            raise ApiError(400, "implausible screen description", problems)
        doc: dict[str, Any] = {**body.model_dump(), "session_id": sid, "exam_id": session.get("exam_id", ""),
                               "updated_at": time.time()}
        if body.width_mm:
            doc["mm_per_px"] = round(body.width_mm / body.screen_w, 5)
            if body.height_mm:
                doc["diagonal_in"] = round((body.width_mm ** 2 + body.height_mm ** 2) ** 0.5 / 25.4, 1)
        await self.store.put_json(screen_key(body.candidate_id), doc)
        return web.json_response(doc)

    async def get_screen_info(self, request: web.Request) -> web.Response:
        cid = _candidate_id(request)
        return web.json_response(await self._candidate_doc(request, cid, screen_key(cid), "screen info"))

    async def get_calibration(self, request: web.Request) -> web.Response:
        cid = _candidate_id(request)
        return web.json_response(await self._candidate_doc(request, cid, calibration_key(cid), "calibration"))

    async def download_calibration(self, request: web.Request) -> web.Response:
        cid = _candidate_id(request)
        doc = await self._candidate_doc(request, cid, calibration_key(cid), "calibration")
        return web.Response(text=json.dumps(doc, indent=2), content_type="application/json", headers={
            "Content-Disposition": f'attachment; filename="vigil-calibration-{cid}.json"'})

    async def diagnostics(self, request: web.Request) -> web.Response:
        access = await session_access(request, "proctor", "admin")
        sid, session = access.session_id, access.session
        raw = session.get("calibration")
        summary = json.loads(raw) if raw else None
        return web.json_response({"session_id": sid, "candidate_id": session.get("candidate_id"),
                                  "calibration": summary})


def _candidate_id(request: web.Request) -> str:
    cid = request.match_info["candidate_id"]
    if not re.match(ID_PATTERN, cid):
        raise ApiError(404, "unknown candidate", {"candidate_id": cid[:128]})
    return cid


def register_calibration_routes(app: web.Application, *, store: Store, auth: Authenticator) -> None:
    routes = CalibrationRoutes(store=store, auth=auth)
    r = app.router
    r.add_post("/api/screen/info", routes.post_screen_info)
    r.add_get("/api/screen/info/{candidate_id}", routes.get_screen_info)
    r.add_get("/api/calibration/diagnostics/{session_id}", routes.diagnostics)
    r.add_get("/api/calibration/{candidate_id}", routes.get_calibration)
    r.add_get("/api/calibration/{candidate_id}/download", routes.download_calibration)
