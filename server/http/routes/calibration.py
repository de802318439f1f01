"""Stored gaze calibrations: a candidate's latest, and a session's summary.

| route | who | what |
|---|---|---|
| GET /api/calibration/{candidate_id} | that candidate's session token; admin or the proctor owning the exam it was made in, with `?session_id=` | the latest calibration that session reads: accuracy, per-point errors, model |
| GET /api/calibration/{candidate_id}/download | same | the same as a JSON attachment |
| GET /api/calibration/diagnostics/{session_id} | admin, the owning proctor, or the session's token | the session's calibration summary (null before any) |

A stored calibration belongs to the session's authenticated identity, or to the session alone without
one (`server.store.keys.document_owner`, written by server/live/calibration.py); it carries the exam it
was made in, and `server.http.access.candidate_document` applies the access rules.

The original gaze calibration API shares the diagnostics path (for its runs' ids):
`server.http.legacy.shared_paths` routes it, here for anything that is not such a run.
"""
from __future__ import annotations

import json

from aiohttp import web

from server.http.access import candidate_document, session_access
from server.http.errors import json_response
from server.protocol.answers import CalibrationDiagnostics
from server.store.keys import calibration_key

routes = web.RouteTableDef()


async def diagnostics(request: web.Request) -> web.Response:
    access = await session_access(request, "proctor", "admin")
    raw = access.session.get("calibration")
    return json_response(CalibrationDiagnostics(session_id=access.session_id,
                                                candidate_id=access.session.get("candidate_id"),
                                                calibration=json.loads(raw) if raw else None))


@routes.get("/api/calibration/{candidate_id}")
async def get_calibration(request: web.Request) -> web.Response:
    return json_response(await candidate_document(request, calibration_key, "calibration"))


@routes.get("/api/calibration/{candidate_id}/download")
async def download_calibration(request: web.Request) -> web.Response:
    doc = await candidate_document(request, calibration_key, "calibration")
    cid = request.match_info["candidate_id"]  # checked by candidate_document
    return web.Response(text=json.dumps(doc, indent=2, allow_nan=False), content_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="vigil-calibration-{cid}.json"'})
