"""HTTP routes for reports and evidence (proctor of the session's exam, or admin):

- `GET /api/sessions/{id}/report.json`: the report's content (`Report.to_dict()`)
- `GET /api/sessions/{id}/report.pdf`: the same content as a PDF
- `GET /api/sessions/{id}/evidence/{name}`: one snapshot; 404 for anything that is not the plain name
  of an existing file in that session's evidence folder

Reports are built in a thread (reportlab and matplotlib are CPU-bound) so the event loop, which also
carries live media, never waits on them.
"""
from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Any

from aiohttp import web

from server.errors import ApiError
from server.evidence import evidence_file, session_dir
from server.reports.data import Report, load_report
from server.reports.pdf import render_pdf


def register_report_routes(app: web.Application) -> None:
    # the app module defines the keys and imports this one: look them up once it is loaded
    from server.app import AUTH, SETTINGS, STORE, _sid

    def evidence_root() -> Any:
        return app[SETTINGS].data_dir / "evidence"

    async def authorised(request: web.Request) -> tuple[str, dict[str, str]]:
        """The session id and hash, for a proctor who may see this session, or an admin."""
        sid = _sid(request)
        auth = request.app[AUTH]
        user = await auth.require_role(request, "proctor", "admin")
        session = await request.app[STORE].session(sid)
        if session is None:
            raise ApiError(404, "unknown session", {"session_id": sid})
        can_see = getattr(auth, "can_see_session", None)
        if can_see is not None and not await can_see(user, session):
            raise ApiError(403, "this session belongs to another proctor's exam")
        return sid, session

    async def report(request: web.Request) -> Report:
        sid, _ = await authorised(request)
        built = await load_report(request.app[STORE], sid, evidence_root=evidence_root(), now=time.time())
        if built is None:
            raise ApiError(404, "unknown session", {"session_id": sid})
        return built

    async def report_json(request: web.Request) -> web.Response:
        return web.json_response((await report(request)).to_dict(), headers={"Cache-Control": "no-store"})

    async def report_pdf(request: web.Request) -> web.Response:
        built = await report(request)
        folder = session_dir(evidence_root(), built.session_id)
        body = await asyncio.get_running_loop().run_in_executor(None, partial(render_pdf, built, folder))
        return web.Response(body=body, content_type="application/pdf", headers={
            "Content-Disposition": f'inline; filename="vigil-report-{built.session_id}.pdf"',
            "Cache-Control": "no-store"})

    async def evidence(request: web.Request) -> web.StreamResponse:
        sid, _ = await authorised(request)
        path = evidence_file(evidence_root(), sid, request.match_info["name"])
        if path is None:
            raise ApiError(404, "no such evidence file")
        headers = {"Content-Type": "image/jpeg", "X-Content-Type-Options": "nosniff",
                   "Cache-Control": "private, no-store"}
        return web.FileResponse(path, headers=headers)

    r = app.router
    r.add_get("/api/sessions/{session_id}/report.json", report_json)
    r.add_get("/api/sessions/{session_id}/report.pdf", report_pdf)
    r.add_get("/api/sessions/{session_id}/evidence/{name}", evidence)
