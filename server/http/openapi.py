"""The HTTP API described as OpenAPI 3.1, built from the live route table (`/api/openapi.json`),
and a plain docs page (`/api/docs`) rendered from it with no external assets.

Every route must have an entry in `ROUTES` (a test checks it), so the description cannot drift
from the code: a new route without documentation fails the suite.
"""
from __future__ import annotations

import html
import importlib
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from server.http.errors import json_response


@dataclass(frozen=True)
class RouteDoc:
    summary: str
    who: str
    body: str | None = None  # "module:Model" of the JSON body's pydantic model
    success: int = 200
    content: str = "application/json"


SDP = "server.protocol.http:SessionDescription"
#: documents shared across sessions belong to a session's identity (server.http.access.candidate_document)
DOCUMENT_READERS = "that candidate's session token; proctor, admin with ?session_id="
ROUTES: dict[tuple[str, str], RouteDoc] = {
    ("GET", "/health"): RouteDoc("Health: Redis, models (loaded or missing: why), worker, sessions", "anyone"),
    ("GET", "/metrics"): RouteDoc("Prometheus metrics", "admin network", content="text/plain"),
    ("POST", "/api/sessions"): RouteDoc("Create a session (join code, or the demo exam in dev)", "candidate",
                                        "server.protocol.http:CreateSession", 201),
    ("GET", "/api/sessions"): RouteDoc("Past and live sessions visible to the caller", "proctor, admin"),
    ("POST", "/api/sessions/{session_id}/offer"): RouteDoc("SDP offer -> answer (non-trickle ICE)", "session token", SDP),
    ("POST", "/api/sessions/{session_id}/resume"): RouteDoc("Re-offer after a dropped connection", "session token", SDP),
    ("GET", "/api/sessions/{session_id}"): RouteDoc("Session status, counters, score", "session token, proctor, admin"),
    ("DELETE", "/api/sessions/{session_id}"): RouteDoc("Delete a session and all its data", "admin"),
    ("POST", "/api/sessions/{session_id}/end"): RouteDoc("End the session; returns the verdict summary",
                                                         "session token, proctor, admin"),
    ("GET", "/api/sessions/{session_id}/events"): RouteDoc("The session's event log, oldest first", "proctor, admin"),
    ("GET", "/api/sessions/{session_id}/report.pdf"): RouteDoc("PDF report", "proctor, admin", content="application/pdf"),
    ("GET", "/api/sessions/{session_id}/report.json"): RouteDoc("Report content as data", "proctor, admin"),
    ("GET", "/api/sessions/{session_id}/evidence/{name}"): RouteDoc("An evidence snapshot (JPEG)", "proctor, admin",
                                                                    content="image/jpeg"),
    ("GET", "/api/sessions/{session_id}/review"): RouteDoc("The human review: flag marks, unreviewed flags, decision, "
                                                          "AI suggestion", "proctor, admin"),
    ("PATCH", "/api/sessions/{session_id}/review"): RouteDoc("Confirm or dismiss flags with a note, record the decision",
                                                            "proctor, admin", "server.protocol.http:ReviewPatch"),
    ("POST", "/api/sessions/{session_id}/watch"): RouteDoc("Proctor's SDP offer -> answer: live video + analyses",
                                                           "proctor, admin", SDP),
    ("POST", "/api/auth/register"): RouteDoc("Register (candidates; other roles by an admin)", "anyone, admin",
                                             "server.protocol.http:RegisterBody", 201),
    ("POST", "/api/auth/login"): RouteDoc("Log in: JWT as HttpOnly cookie and bearer token", "anyone",
                                          "server.protocol.http:LoginBody"),
    ("POST", "/api/auth/logout"): RouteDoc("Log out (revokes the token)", "logged in"),
    ("GET", "/api/auth/profile"): RouteDoc("The caller's account", "logged in"),
    ("POST", "/api/exams"): RouteDoc("Create an exam; returns its join code", "proctor, admin",
                                     "server.protocol.http:CreateExam", 201),
    ("GET", "/api/exams"): RouteDoc("The caller's exams", "proctor, admin"),
    ("GET", "/api/live"): RouteDoc("Live sessions with risk, attention, flags", "proctor, admin"),
    ("GET", "/api/live/stream"): RouteDoc("Server-sent events: live status and events", "proctor, admin",
                                          content="text/event-stream"),
    ("POST", "/api/screen/info"): RouteDoc("Store the candidate's screen geometry", "session token",
                                           "server.protocol.http:ScreenInfo"),
    ("GET", "/api/screen/info/{candidate_id}"): RouteDoc("The screen geometry a session reads", DOCUMENT_READERS),
    ("GET", "/api/calibration/{candidate_id}"): RouteDoc("The stored calibration a session reads, and its accuracy",
                                                                 DOCUMENT_READERS),
    ("GET", "/api/calibration/{candidate_id}/download"): RouteDoc("The calibration as a JSON download",
                                                                          DOCUMENT_READERS),
    ("GET", "/api/calibration/diagnostics/{session_id}"): RouteDoc("Per-point calibration errors of a session",
                                                                  "session token, proctor, admin"),
    ("GET", "/ws/face-detection/{client_id}"): RouteDoc("Seed WebSocket protocol (base64 JPEG frames)", "anyone",
                                                        success=101),
    ("GET", "/api/openapi.json"): RouteDoc("This description", "anyone"),
    ("GET", "/api/docs"): RouteDoc("The API docs page", "anyone", content="text/html"),
    ("GET", "/"): RouteDoc("The candidate's exam page", "anyone", content="text/html"),
    ("GET", "/exam.html"): RouteDoc("The candidate's exam page", "anyone", content="text/html"),
    ("GET", "/dashboard.html"): RouteDoc("The proctor's dashboard", "anyone", content="text/html"),
    ("GET", "/favicon.ico"): RouteDoc("The site icon (SVG)", "anyone", content="image/svg+xml"),
}

ERROR_SCHEMA = {"type": "object", "required": ["error", "detail"],
                "properties": {"error": {"type": "string"}, "detail": {}}}


def app_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path) of every route, HEAD and static files left out."""
    out = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method in ("HEAD", "*") or path is None:
            continue
        out.append((route.method, path))
    return out


def _model_schema(ref: str) -> dict[str, Any]:
    module, _, name = ref.partition(":")
    model = getattr(importlib.import_module(module), name)
    return model.model_json_schema(ref_template="#/components/schemas/{model}")


def build_spec(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for method, path in sorted(app_routes(app)):
        doc = ROUTES.get((method, path)) or RouteDoc("(undocumented)", "?")
        op: dict[str, Any] = {
            "summary": doc.summary,
            "description": f"Who: {doc.who}.",
            "responses": {
                str(doc.success): {"description": "success", "content": {doc.content: {}}},
                "4XX": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        }
        params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
        if params:
            op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params]
        if "token" in doc.who or doc.who not in ("anyone",):
            op["security"] = [{"bearer": []}, {"cookie": []}]
        if doc.body:
            schema = _model_schema(doc.body)
            for name, sub in schema.pop("$defs", {}).items():
                components[name] = sub
            components[doc.body.split(":")[1]] = schema
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{doc.body.split(':')[1]}"}}}}
        paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Vigil", "version": "1", "description": "Real-time WebRTC proctoring media server. "
                 "Errors are always {\"error\", \"detail\"}; see docs/data-channel.md for the data channel."},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "cookie": {"type": "apiKey", "in": "cookie", "name": "vigil_auth"}}},
    }


routes = web.RouteTableDef()


@routes.get("/api/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return json_response(build_spec(request.app))


@routes.get("/api/docs")
async def docs_page(request: web.Request) -> web.Response:
    spec = build_spec(request.app)
    rows = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{html.escape(op['summary'])}</td><td>{html.escape(op['description'][5:-1])}</td>"
                        f"<td>{html.escape(body.get('$ref', '').rsplit('/', 1)[-1])}</td></tr>")
    page = ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Vigil API</title>"
            "<link rel='stylesheet' href='/static/vigil.css'></head><body><main class='exam' style='max-width:1100px'>"
            "<h1>Vigil HTTP API</h1><p>Machine-readable: <a href='/api/openapi.json'>/api/openapi.json</a>. "
            "Errors are <code>{\"error\": ..., \"detail\": ...}</code>.</p><table><thead><tr><th>method</th><th>path</th>"
            "<th>what</th><th>who</th><th>body</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></main></body></html>")
    return web.Response(text=page, content_type="text/html")

