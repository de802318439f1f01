"""HTTP routes for reports and evidence (proctor of the session's exam, or admin):

- `GET /api/sessions/{id}/report.json`: the report's content (`Report.to_dict()`)
- `GET /api/sessions/{id}/report.pdf`: the same content as a PDF
- `GET /api/sessions/{id}/evidence/{name}`: one snapshot (`<event id>.jpg`) or clip (`<event id>.webm`, with
  byte ranges so a `<video>` can seek); 404 for anything that is not the plain name of an existing file
  in that session's evidence folder

Reports are built in a thread (reportlab and matplotlib are CPU-bound) so the event loop, which also
carries live media, never waits on them.
"""
from __future__ import annotations

import asyncio
import time
from functools import partial
from pathlib import Path

from aiohttp import web

from server.http.access import session_access
from server.http.errors import json_response
from server.http.keys import SETTINGS, STORE
from server.protocol.errors import ApiError
from server.reports.document import Report
from server.reports.load import load_report
from server.reports.pdf import render_pdf
from server.store.evidence_files import CONTENT_TYPES, evidence_file, session_dir

routes = web.RouteTableDef()


def evidence_root(request: web.Request) -> Path:
    return request.app[SETTINGS].data_dir / "evidence"


async def authorised(request: web.Request) -> str:
    """The session id, for a proctor who may see this session, or an admin."""
    return (await session_access(request, "proctor", "admin", token=False)).session_id


async def report(request: web.Request) -> Report:
    return await report_of(request, await authorised(request))


async def report_of(request: web.Request, sid: str) -> Report:
    """Session `sid`'s report, for a caller already authorised."""
    built = await load_report(request.app[STORE], sid, evidence_root=evidence_root(request), now=time.time())
    if built is None:
        raise ApiError(404, "unknown session", {"session_id": sid}, code="unknown_session")
    return built


async def pdf_response(request: web.Request, built: Report) -> web.Response:
    """The report as a PDF answer, rendered in a thread."""
    folder = session_dir(evidence_root(request), built.session_id)
    body = await asyncio.get_running_loop().run_in_executor(None, partial(render_pdf, built, folder))
    return web.Response(body=body, content_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="vigil-report-{built.session_id}.pdf"',
        "Cache-Control": "no-store"})


@routes.get("/api/sessions/{session_id}/report.json")
async def report_json(request: web.Request) -> web.Response:
    return json_response((await report(request)).to_dict(), headers={"Cache-Control": "no-store"})


@routes.get("/api/sessions/{session_id}/report.pdf")
async def report_pdf(request: web.Request) -> web.Response:
    return await pdf_response(request, await report(request))


@routes.get("/api/sessions/{session_id}/evidence/{name}")
async def evidence(request: web.Request) -> web.StreamResponse:
    sid = await authorised(request)
    path = evidence_file(evidence_root(request), sid, request.match_info["name"])
    if path is None:
        raise ApiError(404, "no such evidence file", code="not_found")
    headers = {"Content-Type": CONTENT_TYPES[path.suffix], "X-Content-Type-Options": "nosniff",
               "Cache-Control": "private, no-store"}
    return web.FileResponse(path, headers=headers)
