"""The three paths the original gaze calibration API shares with Vigil's own routes: one dispatcher each.

| path | Vigil's own (`server/http/routes/`) when | the original API's (`calibration/`) when |
|---|---|---|
| POST /api/screen/info | the caller presents a session token | no session token, the API takes the caller (`VIGIL_LEGACY_APIS`, `common.integrator`), and the body is the original's (`screen_width_px`) |
| GET /api/screen/info/{candidate_id} | a session token, or `?session_id=` (a proctor's or admin's read) | neither, the API takes the caller, and it holds a screen that caller saved for the candidate |
| GET /api/calibration/diagnostics/{session_id} | the id is not a run below | the id is a calibration run the API shows the caller |

Otherwise Vigil's route answers, so a call that fits neither gets the same error as before these paths
were shared (401 without credentials, 400 for a proctor without `?session_id=`, 404 for an unknown
session). Vigil's clients never reach the original API: they present a session token or a session id.
"""
from __future__ import annotations

from aiohttp import web

from server.http.access import token_session
from server.http.errors import json_response
from server.http.legacy.calibration import original, runs
from server.http.routes import calibration, screen

routes = web.RouteTableDef()


@routes.post("/api/screen/info")
async def save_screen_info(request: web.Request) -> web.Response:
    if token_session(request) is None and await original.is_original_screen(request):
        return await original.save_screen(request)
    return await screen.post_screen_info(request)


@routes.get("/api/screen/info/{candidate_id}")
async def get_screen_info(request: web.Request) -> web.Response:
    if token_session(request) is None and "session_id" not in request.query:
        saved = await original.saved_screen(request)
        if saved is not None:
            return json_response(saved)
    return await screen.get_screen_info(request)


@routes.get("/api/calibration/diagnostics/{session_id}")
async def diagnostics(request: web.Request) -> web.Response:
    run = await runs.visible_run(request, request.match_info["session_id"])
    if run is not None:
        return json_response(runs.diagnostics(run))
    return await calibration.diagnostics(request)
