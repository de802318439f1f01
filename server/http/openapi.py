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
#: who may call the original backends' APIs (server/http/legacy/common.py)
LEGACY = "anyone in dev; proctor, admin in production"
DOCUMENT_READERS = "that candidate's session token; proctor, admin with ?session_id="
ROUTES: dict[tuple[str, str], RouteDoc] = {
    ("GET", "/health"): RouteDoc("Health: Redis, models (loaded or missing: why), worker, sessions", "anyone"),
    ("GET", "/livez"): RouteDoc("Liveness probe: 200 while the process answers", "anyone"),
    ("GET", "/readyz"): RouteDoc("Readiness probe: Redis, models, capacity; 503 with Retry-After when not ready",
                                 "anyone"),
    ("GET", "/metrics"): RouteDoc("Prometheus metrics of this worker (samples labelled by worker)",
                                  "anyone in dev; in production VIGIL_METRICS_TOKEN or admin", content="text/plain"),
    ("POST", "/api/sessions"): RouteDoc("Create a session (join code, join token, an API key's exam_id, or the demo "
                                        "exam in dev)", "candidate, API key",
                                        "server.protocol.http:CreateSession", 201),
    ("GET", "/api/sessions"): RouteDoc("Past and live sessions visible to the caller", "proctor, admin"),
    ("POST", "/api/sessions/{session_id}/offer"): RouteDoc("SDP offer -> answer (non-trickle ICE)", "session token", SDP),
    ("POST", "/api/sessions/{session_id}/resume"): RouteDoc("Re-offer after a dropped connection", "session token", SDP),
    ("POST", "/api/sessions/{session_id}/check-frame"): RouteDoc(
        "System check: one camera still -> faces found and a stable code (ok, no_face, dark, covered...); "
        "only before the offer, nothing logged", "session token", "server.protocol.http:CheckFrame"),
    ("POST", "/api/sessions/{session_id}/whip"): RouteDoc(
        # the body, the SDP offer as application/sdp, is said here and not as a requestBody: schema-driven
        # fuzzers (schemathesis in tests/reliability) cannot serialise that media type
        "WHIP (RFC 9725): body the SDP offer (application/sdp) -> 201, the SDP answer, Location to DELETE; "
        "a second POST resumes", "session token", success=201, content="application/sdp"),
    ("DELETE", "/api/sessions/{session_id}/whip"): RouteDoc("End the WHIP publisher's session; returns the summary",
                                                            "session token"),
    ("GET", "/api/sessions/{session_id}"): RouteDoc("Session status, counters, score", "session token, proctor, admin"),
    ("DELETE", "/api/sessions/{session_id}"): RouteDoc("Delete a session and all its data", "admin"),
    ("POST", "/api/sessions/{session_id}/end"): RouteDoc("End the session; returns the verdict summary",
                                                         "session token, proctor, admin"),
    ("GET", "/api/sessions/{session_id}/events"): RouteDoc("The session's event log, oldest first", "proctor, admin"),
    ("GET", "/api/sessions/{session_id}/report.pdf"): RouteDoc("PDF report", "proctor, admin", content="application/pdf"),
    ("GET", "/api/sessions/{session_id}/report.json"): RouteDoc("Report content as data", "proctor, admin"),
    ("GET", "/api/sessions/{session_id}/evidence/{name}"): RouteDoc(
        "An evidence file: an event's snapshot (`<event id>.jpg`, JPEG) or clip (`<event id>.webm`, video/webm)",
        "proctor, admin", content="image/jpeg"),
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
    ("PATCH", "/api/exams/{exam_id}"): RouteDoc("Edit an exam: title, risk policy (retention included); "
                                               "returns the exam", "proctor owning the exam, admin",
                                               "server.protocol.http:UpdateExam"),
    ("POST", "/api/exams/{exam_id}/join-code"): RouteDoc("A new join code for the exam; the old one stops admitting",
                                                         "proctor owning the exam, admin"),
    ("POST", "/api/sessions/{session_id}/message"): RouteDoc(
        "Send the candidate a message (data channel `proctor.message`; logged in the event stream)",
        "proctor, admin", "server.protocol.http:ProctorMessageBody"),
    ("GET", "/api/sessions/{session_id}/thumbnail.jpg"): RouteDoc(
        "The live candidate's newest thumbnail (a small JPEG, renewed every few seconds); 404 when none",
        "proctor, admin", content="image/jpeg"),
    ("GET", "/api/live"): RouteDoc("Live sessions with risk, attention, flags", "proctor, admin"),
    ("GET", "/api/live/stream"): RouteDoc("Server-sent events: live status and events", "proctor, admin",
                                          content="text/event-stream"),
    # shared with the original calibration API (server/http/legacy/shared_paths.py says which call goes where)
    ("POST", "/api/screen/info"): RouteDoc("Store the candidate's screen geometry (with a session token); without "
                                           "one, a body with the original's screen_width_px is the original "
                                           "calibration API's save", "session token; " + LEGACY + " (original body)",
                                           "server.protocol.http:ScreenInfo"),
    ("GET", "/api/screen/info/{candidate_id}"): RouteDoc("The screen geometry a session reads; without a session "
                                                         "token or ?session_id=, the screen the caller saved with "
                                                         "the original calibration API", DOCUMENT_READERS + "; "
                                                         + LEGACY + " (original)"),
    ("GET", "/api/calibration/{candidate_id}"): RouteDoc("The stored calibration a session reads, and its accuracy",
                                                                 DOCUMENT_READERS),
    ("GET", "/api/calibration/{candidate_id}/download"): RouteDoc("The calibration as a JSON download",
                                                                          DOCUMENT_READERS),
    ("GET", "/api/calibration/diagnostics/{session_id}"): RouteDoc("Per-point calibration errors of a session; for "
                                                                  "an original calibration API run's id, that run's "
                                                                  "diagnostics", "session token, proctor, admin; "
                                                                  + LEGACY + " (a run)"),
    ("GET", "/ws/face-detection/{client_id}"): RouteDoc("Seed WebSocket protocol (base64 JPEG frames)", "anyone",
                                                        success=101),
    ("POST", "/api/apikeys"): RouteDoc("Create an API key scoped to exams; its secret is shown once", "admin",
                                       "server.protocol.http:CreateApiKey", 201),
    ("GET", "/api/apikeys"): RouteDoc("Every API key, without secrets", "admin"),
    ("DELETE", "/api/apikeys/{key_id}"): RouteDoc("Revoke an API key", "admin"),
    ("POST", "/api/exams/{exam_id}/join-tokens"): RouteDoc("A short-lived, single-use join token for one candidate",
                                                           "API key scoped to the exam",
                                                           "server.protocol.http:CreateJoinToken", 201),
    ("POST", "/api/exams/{exam_id}/webhooks"): RouteDoc("Add a signed webhook endpoint; its secret is shown once",
                                                        "proctor owning the exam, admin",
                                                        "server.protocol.http:CreateWebhook", 201),
    ("GET", "/api/exams/{exam_id}/webhooks"): RouteDoc("The exam's webhook endpoints", "proctor owning the exam, admin"),
    ("DELETE", "/api/exams/{exam_id}/webhooks/{webhook_id}"): RouteDoc("Remove an endpoint and its undelivered messages",
                                                                       "proctor owning the exam, admin"),
    ("GET", "/api/exams/{exam_id}/webhooks/{webhook_id}/deliveries"): RouteDoc(
        "The endpoint's newest delivery attempts and its pending count", "proctor owning the exam, admin"),
    # the original backends' APIs (server/http/legacy/, docs/legacy-apis.md): each off in production unless
    # VIGIL_LEGACY_APIS names it, and then for a proctor or admin token
    ("POST", "/start-session"): RouteDoc("Original interview API: start a session", LEGACY,
                                         "server.http.legacy.interview:StartSession"),
    ("POST", "/analyze-frame"): RouteDoc("Original interview API: a base64 frame -> risk, attention, gaze, faces, "
                                         "objects, events", LEGACY, "server.http.legacy.interview:AnalyzeFrame"),
    ("POST", "/end-session"): RouteDoc("Original interview API: end a session; the verdict", LEGACY,
                                       "server.http.legacy.interview:EndSession"),
    ("GET", "/ws/{session_id}"): RouteDoc("Original AI proctoring API: WebSocket of the session's events", LEGACY,
                                          success=101),
    ("POST", "/generate_report/{session_id}"): RouteDoc("Original AI proctoring API: the session's PDF report", LEGACY,
                                                        content="application/pdf"),
    ("GET", "/ws/posture"): RouteDoc("Original posture API: WebSocket, {image} -> keypoints, posture_score", LEGACY,
                                     success=101),
    ("POST", "/api/analysis/save"): RouteDoc("Original posture API: save an analysis (any JSON object)", "logged in",
                                             success=201),
    ("GET", "/api/analysis/list"): RouteDoc("Original posture API: the caller's saved analyses, newest first",
                                            "logged in"),
    ("GET", "/api/analysis/{analysis_id}"): RouteDoc("Original posture API: one of the caller's saved analyses",
                                                     "logged in"),
    ("DELETE", "/api/analysis/{analysis_id}"): RouteDoc("Original posture API: delete one of the caller's analyses",
                                                        "logged in"),
    ("POST", "/api/calibration/session/create"): RouteDoc("Original calibration API: a calibration session", LEGACY,
                                                          "server.http.legacy.calibration:CreateRun"),
    ("GET", "/api/calibration/session/{run_id}"): RouteDoc("Original calibration API: a calibration session's status",
                                                           LEGACY),
    ("POST", "/api/calibration/session/{run_id}/link"): RouteDoc("Original calibration API: link to an interview "
                                                                 "session", LEGACY, "server.http.legacy.calibration:LinkRun"),
    ("GET", "/api/calibration/session/{run_id}/download"): RouteDoc("Original calibration API: the run with its "
                                                                    "model, as JSON", LEGACY),
    ("POST", "/api/calibration/start"): RouteDoc("Original calibration API: start, the dots to show", LEGACY,
                                                 "server.http.legacy.calibration:StartRun"),
    ("POST", "/api/calibration/frame"): RouteDoc("Original calibration API: one base64 frame at a dot", LEGACY,
                                                 "server.http.legacy.calibration:RunFrame"),
    ("POST", "/api/calibration/frames"): RouteDoc("Original calibration API: a batch of frames at a dot", LEGACY,
                                                  "server.http.legacy.calibration:RunFrames"),
    ("POST", "/api/calibration/frames/batch"): RouteDoc("Original calibration API: a batch of frames (its path)",
                                                        LEGACY, "server.http.legacy.calibration:RunFrames"),
    ("POST", "/api/calibration/complete"): RouteDoc("Original calibration API: fit and judge the map", LEGACY,
                                                    "server.http.legacy.calibration:CompleteRun"),
    # the LTI 1.3 tool (server/http/lti/, docs/lti.md): an LMS's browser posts forms here, not JSON
    ("GET", "/lti/login"): RouteDoc("LTI OIDC login initiation (iss, login_hint, target_link_uri, ...) -> 302 to the "
                                    "platform", "an LMS's browser", success=302, content="text/html"),
    ("POST", "/lti/login"): RouteDoc("LTI OIDC login initiation, as a form post", "an LMS's browser", success=302,
                                     content="text/html"),
    ("POST", "/lti/launch"): RouteDoc("LTI launch (form: id_token, state): a Learner's proctored page, an "
                                      "Instructor's proctor link, or a deep-linking response",
                                      "a platform-signed id_token", content="text/html"),
    ("POST", "/lti/deep-link"): RouteDoc("LTI deep linking (the launch handler): the signed LtiResourceLink that "
                                         "attaches proctoring to an activity", "a platform-signed id_token (Instructor)",
                                         content="text/html"),
    ("GET", "/lti/jwks"): RouteDoc("The LTI tool's public keys (JWKS)", "anyone"),
    ("GET", "/lti/proctor"): RouteDoc("One-time proctor login from an Instructor's launch (?code=) -> account cookie, "
                                      "302 to the dashboard", "the launch's one-time code", success=302,
                                      content="text/html"),
    ("POST", "/api/calibration/session/{run_id}/resume"): RouteDoc("Original calibration API: where a running run "
                                                                   "goes on (the dots without a frame)", LEGACY),
    ("GET", "/api/calibration/session/{run_id}/diagnostics"): RouteDoc("Original calibration API: samples, rejections "
                                                                       "and errors per dot", LEGACY),
    ("GET", "/api/calibration/verify/{candidate_id}"): RouteDoc("Original calibration API: whether the candidate has "
                                                                "a calibration, and its verdict", LEGACY),
    ("GET", "/api/calibration/download/{candidate_id}"): RouteDoc("Original calibration API: the candidate's newest "
                                                                  "run with its model, as JSON", LEGACY),
    ("POST", "/api/screen/detect"): RouteDoc("Original calibration API: check a detected screen (nothing stored)",
                                             LEGACY, "server.http.legacy.calibration:DetectScreen"),
    ("GET", "/docs"): RouteDoc("Original interview API's docs address: redirects to /api/docs", "anyone",
                               success=302, content="text/html"),
    ("GET", "/api/openapi.json"): RouteDoc("This description", "anyone"),
    ("GET", "/api/docs"): RouteDoc("The API docs page", "anyone", content="text/html"),
    ("GET", "/"): RouteDoc("The candidate's exam page", "anyone", content="text/html"),
    ("GET", "/exam.html"): RouteDoc("The candidate's exam page", "anyone", content="text/html"),
    ("GET", "/dashboard.html"): RouteDoc("The proctor's dashboard", "anyone", content="text/html"),
    ("GET", "/exams.html"): RouteDoc("The proctor's exams page", "anyone", content="text/html"),
    ("GET", "/review.html"): RouteDoc("The proctor's review workspace", "anyone", content="text/html"),
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

