"""The HTTP API's route table (`ROUTES`): one row per route, from which the OpenAPI 3.1 description
is built (`server.http.openapi_document`, served at `/api/openapi.json`).

Every route must have an entry in `ROUTES` (a test checks it), so the description cannot drift from the
code: a new route without documentation fails the suite. Each row says who may call the route (its
security follows: `anyone` needs no credentials, `anyone ...; ...` takes them optionally, anything else
requires them), its body and answer models, its query parameters and its operationId. `/api/...`
routes are documented at their `/api/v1/...` path (`server.http.versions`); the unversioned path is
an alias, said in each description. Swagger UI renders this description at `/api/docs`
(`server.http.swagger`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from server.protocol.stream import STREAM_KINDS

Auth = Literal["none", "optional", "required"]


@dataclass(frozen=True)
class Query:
    """A query parameter of a route."""

    name: str
    description: str
    type: Literal["string", "integer"] = "string"
    minimum: int | None = None
    maximum: int | None = None
    default: int | None = None


@dataclass(frozen=True)
class RouteDoc:
    summary: str
    who: str
    body: str | None = None  # "module:Model" of the JSON body's pydantic model
    success: int = 200
    content: str = "application/json"
    #: "module:Model" of the answer (a pydantic model or a dataclass); JSON without one is an open object
    response: str | None = None
    #: other statuses answered with the same body (e.g. a probe's 503)
    also: tuple[int, ...] = ()
    #: unique across the document; the handler's name when not given
    operation_id: str | None = None
    query: tuple[Query, ...] = ()
    #: credentials: from `who` when not given ("anyone" none; "anyone ..., ..." optional; else required)
    auth: Auth | None = None


def auth_of(doc: RouteDoc) -> Auth:
    if doc.auth is not None:
        return doc.auth
    if doc.who == "anyone":
        return "none"
    return "optional" if doc.who.startswith("anyone") else "required"


def LIMIT_QUERY(default: int, maximum: int) -> Query:  # noqa: N802 (reads as the constant it builds)
    return Query("limit", f"page size, 1-{maximum}", "integer", 1, maximum, default)


def PAGE_QUERY(default: int, maximum: int) -> tuple[Query, Query]:  # noqa: N802
    return (LIMIT_QUERY(default, maximum),
            Query("cursor", "the `next` of the previous page; the first page without it"))


KIND_QUERY = Query("kind", "comma-separated stream kinds to keep (all without it): " + ", ".join(STREAM_KINDS)
                   + "; e.g. `score` for the risk series")
SESSION_QUERY = Query("session_id", "for a proctor or admin: the session whose document to read")
ANS = "server.protocol.answers:"
HTTP = "server.protocol.http:"
VERDICT = "server.protocol.events:VerdictSummary"
SDP = "server.protocol.http:SessionDescription"
#: documents shared across sessions belong to a session's identity (server.http.access.candidate_document)
#: who may call the original backends' APIs (server/http/legacy/common.py)
LEGACY = "anyone in dev; API key (its exams' sessions), proctor, admin in production"
DOCUMENT_READERS = "that candidate's session token; proctor, admin with ?session_id="
ROUTES: dict[tuple[str, str], RouteDoc] = {
    ("GET", "/health"): RouteDoc("Health: Redis, models (loaded or missing: why), worker, sessions", "anyone",
                                 response=ANS + "Health", also=(503,)),
    ("GET", "/livez"): RouteDoc("Liveness probe: 200 while the process answers", "anyone",
                                response=ANS + "Liveness"),
    ("GET", "/readyz"): RouteDoc("Readiness probe: Redis, models, capacity; 503 with Retry-After when not ready",
                                 "anyone", response=ANS + "Readiness", also=(503,)),
    ("GET", "/metrics"): RouteDoc("Prometheus metrics of every worker on this machine (samples labelled by worker)",
                                  "anyone in dev; in production VIGIL_METRICS_TOKEN or admin. The security below "
                                  "is optional only in dev (VIGIL_ENV=dev): in production credentials are "
                                  "required (401 without them)",
                                  content="text/plain"),
    ("POST", "/api/sessions"): RouteDoc("Create a session (join code, join token, an API key's exam_id, or the demo "
                                        "exam in dev)",
                                        "anyone with a join code or join token (in dev the demo exam without); "
                                        "an API key",
                                        "server.protocol.http:CreateSession", 201,
                                        response=HTTP + "SessionCreated", operation_id="create_session"),
    ("GET", "/api/sessions"): RouteDoc("Past and live sessions visible to the caller", "proctor, admin",
                                       response=HTTP + "SessionList", operation_id="list_sessions",
                                       query=PAGE_QUERY(100, 500)),
    ("POST", "/api/sessions/{session_id}/offer"): RouteDoc("SDP offer -> answer (non-trickle ICE)", "session token", SDP,
                                                           response=HTTP + "SessionAnswer",
                                                           operation_id="offer"),
    ("POST", "/api/sessions/{session_id}/resume"): RouteDoc("Re-offer after a dropped connection", "session token", SDP,
                                                            response=HTTP + "SessionAnswer",
                                                            operation_id="resume"),
    ("POST", "/api/sessions/{session_id}/check-frame"): RouteDoc(
        "System check: one camera still -> faces found and a stable code (ok, no_face, dark, covered...); "
        "only before the offer, nothing logged", "session token", "server.protocol.http:CheckFrame",
        response=HTTP + "CheckFrameResult", operation_id="check_frame"),
    ("POST", "/api/sessions/{session_id}/whip"): RouteDoc(
        # the body, the SDP offer as application/sdp, is said here and not as a requestBody: schema-driven
        # fuzzers (schemathesis in tests/reliability) cannot serialise that media type
        "WHIP (RFC 9725): body the SDP offer (application/sdp) -> 201, the SDP answer, Location to DELETE; "
        "a second POST resumes", "session token", success=201, content="application/sdp",
        operation_id="whip_publish"),
    ("DELETE", "/api/sessions/{session_id}/whip"): RouteDoc("End the WHIP publisher's session; returns the summary",
                                                            "session token", response=VERDICT,
                                                            operation_id="whip_end"),
    ("GET", "/api/sessions/{session_id}"): RouteDoc("Session status, counters, score", "session token, proctor, admin",
                                                    response=ANS + "SessionView", operation_id="get_session"),
    ("DELETE", "/api/sessions/{session_id}"): RouteDoc("Delete a session and all its data", "admin",
                                                       response=ANS + "Deleted", operation_id="delete_session"),
    ("POST", "/api/sessions/{session_id}/end"): RouteDoc("End the session; returns the verdict summary",
                                                         "session token, proctor, admin", response=VERDICT,
                                                         operation_id="end_session"),
    ("GET", "/api/sessions/{session_id}/events"): RouteDoc("The session's event log, oldest first", "proctor, admin",
                                                           response=ANS + "EventPage",
                                                           operation_id="list_session_events",
                                                           query=(*PAGE_QUERY(1000, 5000), KIND_QUERY)),
    ("GET", "/api/sessions/{session_id}/report.pdf"): RouteDoc("PDF report", "proctor, admin",
                                                               content="application/pdf",
                                                               operation_id="get_report_pdf"),
    ("GET", "/api/sessions/{session_id}/report.json"): RouteDoc("Report content as data", "proctor, admin",
                                                                response="server.reports.document:Report",
                                                                operation_id="get_report"),
    ("GET", "/api/sessions/{session_id}/evidence/{name}"): RouteDoc(
        "An evidence file: an event's snapshot (`<event id>.jpg`, JPEG) or clip (`<event id>.webm`, video/webm)",
        "proctor, admin",
                                                                    content="image/jpeg",
                                                                    operation_id="get_evidence"),
    ("GET", "/api/sessions/{session_id}/review"): RouteDoc("The human review: flag marks, unreviewed flags, decision, "
                                                          "AI suggestion", "proctor, admin",
                                                           response=HTTP + "ReviewState",
                                                           operation_id="get_review"),
    ("PATCH", "/api/sessions/{session_id}/review"): RouteDoc("Confirm or dismiss flags with a note, record the decision",
                                                            "proctor, admin", "server.protocol.http:ReviewPatch",
                                                            response=HTTP + "ReviewState", operation_id="patch_review"),
    ("POST", "/api/sessions/{session_id}/watch"): RouteDoc("Proctor's SDP offer -> answer: live video + analyses",
                                                           "proctor, admin", SDP,
                                                           response=HTTP + "SessionAnswer",
                                                           operation_id="watch"),
    ("POST", "/api/auth/register"): RouteDoc("Register (candidates; other roles by an admin)", "anyone, admin",
                                             "server.protocol.http:RegisterBody", 201,
                                             response=ANS + "Profile", operation_id="register"),
    ("POST", "/api/auth/login"): RouteDoc("Log in: JWT as HttpOnly cookie and bearer token", "anyone",
                                          "server.protocol.http:LoginBody", response=ANS + "LoginAnswer",
                                          operation_id="login"),
    ("POST", "/api/auth/logout"): RouteDoc("Log out (revokes the token)", "logged in",
                                           response=ANS + "LoggedOut", operation_id="logout"),
    ("GET", "/api/auth/profile"): RouteDoc("The caller's account", "logged in", response=ANS + "Profile",
                                           operation_id="get_profile"),
    ("POST", "/api/exams"): RouteDoc("Create an exam; returns its join code", "proctor, admin",
                                     "server.protocol.http:CreateExam", 201, response=ANS + "ExamCreated",
                                     operation_id="create_exam"),
    ("GET", "/api/exams"): RouteDoc("The caller's exams", "proctor, admin", response=ANS + "ExamList",
                                    operation_id="list_exams", query=PAGE_QUERY(500, 500)),
    ("PATCH", "/api/exams/{exam_id}"): RouteDoc("Edit an exam: title, risk policy (retention included); "
                                               "returns the exam", "proctor owning the exam, admin",
                                               "server.protocol.http:UpdateExam", response=ANS + "ExamRow",
                                               operation_id="update_exam"),
    ("POST", "/api/exams/{exam_id}/join-code"): RouteDoc("A new join code for the exam; the old one stops admitting",
                                                         "proctor owning the exam, admin",
                                                         response=HTTP + "ExamJoinCode",
                                                         operation_id="new_join_code"),
    ("POST", "/api/sessions/{session_id}/message"): RouteDoc(
        "Send the candidate a message (data channel `proctor.message`; logged in the event stream)",
        "proctor, admin", "server.protocol.http:ProctorMessageBody", response=HTTP + "ProctorMessageSent",
        operation_id="message_candidate"),
    ("GET", "/api/sessions/{session_id}/thumbnail.jpg"): RouteDoc(
        "The live candidate's newest thumbnail (a small JPEG, renewed every few seconds); 404 when none",
        "proctor, admin", content="image/jpeg", operation_id="get_thumbnail"),
    ("GET", "/api/live"): RouteDoc("Live sessions with risk, attention, flags", "proctor, admin",
                                   response=ANS + "LiveGrid", operation_id="list_live"),
    ("GET", "/api/live/stream"): RouteDoc("Server-sent events: live status and events", "proctor, admin",
                                          content="text/event-stream", operation_id="live_stream"),
    # shared with the original calibration API (server/http/legacy/shared_paths.py says which call goes where)
    ("POST", "/api/screen/info"): RouteDoc("Store the candidate's screen geometry (with a session token); without "
                                           "one, a body with the original's screen_width_px is the original "
                                           "calibration API's save", "session token; " + LEGACY + " (original body)",
                                           "server.protocol.http:ScreenInfo", response=ANS + "ScreenDocument",
                                           operation_id="put_screen_info"),
    ("GET", "/api/screen/info/{candidate_id}"): RouteDoc("The screen geometry a session reads; without a session "
                                                         "token or ?session_id=, the screen the caller saved with "
                                                         "the original calibration API", DOCUMENT_READERS + "; "
                                                         + LEGACY + " (original)",
                                                         response=ANS + "ScreenDocument",
                                                         operation_id="get_screen_info",
                                                         query=(SESSION_QUERY,)),
    ("GET", "/api/calibration/{candidate_id}"): RouteDoc("The stored calibration a session reads, and its accuracy",
                                                                 DOCUMENT_READERS,
                                                         operation_id="get_calibration",
                                                         query=(SESSION_QUERY,)),
    ("GET", "/api/calibration/{candidate_id}/download"): RouteDoc("The calibration as a JSON download",
                                                                          DOCUMENT_READERS,
                                                                  operation_id="download_calibration",
                                                                  query=(SESSION_QUERY,)),
    ("GET", "/api/calibration/diagnostics/{session_id}"): RouteDoc("Per-point calibration errors of a session; for "
                                                                  "an original calibration API run's id, that run's "
                                                                  "diagnostics", "session token, proctor, admin; "
                                                                  + LEGACY + " (a run)",
                                                                   response=ANS + "CalibrationDiagnostics",
                                                                   operation_id="get_calibration_diagnostics"),
    ("GET", "/ws/face-detection/{client_id}"): RouteDoc("Seed WebSocket protocol (base64 JPEG frames)", "anyone",
                                                        success=101),
    ("POST", "/api/apikeys"): RouteDoc("Create an API key scoped to exams; its secret is shown once", "admin",
                                       "server.protocol.http:CreateApiKey", 201,
                                       response=ANS + "ApiKeyCreated", operation_id="create_api_key"),
    ("GET", "/api/apikeys"): RouteDoc("Every API key, without secrets", "admin", response=ANS + "ApiKeyList",
                                      operation_id="list_api_keys", query=PAGE_QUERY(500, 500)),
    ("DELETE", "/api/apikeys/{key_id}"): RouteDoc("Revoke an API key", "admin", response=ANS + "ApiKeyRow",
                                                  operation_id="revoke_api_key"),
    ("POST", "/api/exams/{exam_id}/join-tokens"): RouteDoc("A short-lived, single-use join token for one candidate",
                                                           "API key scoped to the exam",
                                                           "server.protocol.http:CreateJoinToken", 201,
                                                           response=ANS + "JoinToken",
                                                           operation_id="create_join_token"),
    ("POST", "/api/exams/{exam_id}/webhooks"): RouteDoc("Add a signed webhook endpoint; its secret is shown once",
                                                        "proctor owning the exam, admin",
                                                        "server.protocol.http:CreateWebhook", 201,
                                                        response=ANS + "WebhookCreated",
                                                        operation_id="create_webhook"),
    ("GET", "/api/exams/{exam_id}/webhooks"): RouteDoc("The exam's webhook endpoints", "proctor owning the exam, admin",
                                                       response=ANS + "WebhookList",
                                                       operation_id="list_webhooks"),
    ("DELETE", "/api/exams/{exam_id}/webhooks/{webhook_id}"): RouteDoc("Remove an endpoint and its undelivered messages",
                                                                       "proctor owning the exam, admin",
                                                                       response=ANS + "WebhookDeleted",
                                                                       operation_id="delete_webhook"),
    ("GET", "/api/exams/{exam_id}/webhooks/{webhook_id}/deliveries"): RouteDoc(
        "The endpoint's newest delivery attempts and its pending count", "proctor owning the exam, admin",
        response=ANS + "Deliveries", operation_id="list_webhook_deliveries", query=(LIMIT_QUERY(100, 200),)),
    # the original backends' APIs (server/http/legacy/, docs/legacy-apis.md): each off in production unless
    # VIGIL_LEGACY_APIS names it, and then for a proctor or admin token
    ("POST", "/start-session"): RouteDoc("Original interview API: start a session", LEGACY,
                                         "server.http.legacy.interview:StartSession", response="server.http.legacy.interview:SessionStarted"),
    ("POST", "/analyze-frame"): RouteDoc("Original interview API: a base64 frame -> risk, attention, gaze, faces, "
                                         "objects, events", LEGACY, "server.http.legacy.interview:AnalyzeFrame"),
    ("POST", "/end-session"): RouteDoc("Original interview API: end a session; the verdict", LEGACY,
                                       "server.http.legacy.interview:EndSession", response=VERDICT,
                                       operation_id="interview_end_session"),
    ("GET", "/ws/{session_id}"): RouteDoc("Original AI proctoring API: WebSocket of the session's events", LEGACY,
                                          success=101),
    ("POST", "/generate_report/{session_id}"): RouteDoc("Original AI proctoring API: the session's PDF report", LEGACY,
                                                        content="application/pdf"),
    ("GET", "/ws/posture"): RouteDoc("Original posture API: WebSocket, {image} -> keypoints, posture_score", LEGACY,
                                     success=101),
    ("POST", "/api/analysis/save"): RouteDoc("Original posture API: save an analysis (any JSON object)", "logged in",
                                             success=201, response="server.http.legacy.posture:AnalysisSaved"),
    ("GET", "/api/analysis/list"): RouteDoc("Original posture API: the caller's saved analyses, newest first",
                                            "logged in"),
    ("GET", "/api/analysis/{analysis_id}"): RouteDoc("Original posture API: one of the caller's saved analyses",
                                                     "logged in"),
    ("DELETE", "/api/analysis/{analysis_id}"): RouteDoc("Original posture API: delete one of the caller's analyses",
                                                        "logged in", response=ANS + "Deleted", operation_id="delete_saved_analysis"),
    ("POST", "/api/calibration/session/create"): RouteDoc("Original calibration API: a calibration session", LEGACY,
                                                          "server.http.legacy.calibration.models:CreateRun"),
    ("GET", "/api/calibration/session/{run_id}"): RouteDoc("Original calibration API: a calibration session's status",
                                                           LEGACY),
    ("POST", "/api/calibration/session/{run_id}/link"): RouteDoc("Original calibration API: link to an interview "
                                                                 "session", LEGACY, "server.http.legacy.calibration.models:LinkRun"),
    ("GET", "/api/calibration/session/{run_id}/download"): RouteDoc("Original calibration API: the run with its "
                                                                    "model, as JSON", LEGACY),
    ("POST", "/api/calibration/start"): RouteDoc("Original calibration API: start, the dots to show", LEGACY,
                                                 "server.http.legacy.calibration.models:StartRun"),
    ("POST", "/api/calibration/frame"): RouteDoc("Original calibration API: one base64 frame at a dot", LEGACY,
                                                 "server.http.legacy.calibration.models:RunFrame"),
    ("POST", "/api/calibration/frames"): RouteDoc("Original calibration API: a batch of frames at a dot", LEGACY,
                                                  "server.http.legacy.calibration.models:RunFrames",
                                                  operation_id="legacy_calibration_frames"),
    ("POST", "/api/calibration/frames/batch"): RouteDoc("Original calibration API: a batch of frames (its path)",
                                                        LEGACY, "server.http.legacy.calibration.models:RunFrames",
                                                        operation_id="legacy_calibration_frames_batch"),
    ("POST", "/api/calibration/complete"): RouteDoc("Original calibration API: fit and judge the map", LEGACY,
                                                    "server.http.legacy.calibration.models:CompleteRun"),
    # the LTI 1.3 tool (server/http/lti/, docs/lti.md): an LMS's browser posts forms here, not JSON
    ("GET", "/lti/login"): RouteDoc("LTI OIDC login initiation (iss, login_hint, target_link_uri, ...) -> 302 to the "
                                    "platform", "an LMS's browser", success=302, content="text/html",
                                    auth="none", operation_id="lti_login"),
    ("POST", "/lti/login"): RouteDoc("LTI OIDC login initiation, as a form post", "an LMS's browser", success=302,
                                     content="text/html", auth="none", operation_id="lti_login_form"),
    ("POST", "/lti/launch"): RouteDoc("LTI launch (form: id_token, state): a Learner's 303 to their page, an "
                                      "Instructor's proctor link, or a deep-linking response",
                                      "a platform-signed id_token", content="text/html",
                                      auth="none", operation_id="lti_launch"),
    ("POST", "/lti/deep-link"): RouteDoc("LTI deep linking (the launch handler): the signed LtiResourceLink that "
                                         "attaches proctoring to an activity", "a platform-signed id_token (Instructor)",
                                         content="text/html", auth="none", operation_id="lti_deep_link"),
    ("GET", "/lti/jwks"): RouteDoc("The LTI tool's public keys (JWKS)", "anyone"),
    ("GET", "/lti/proctor"): RouteDoc("One-time proctor login from an Instructor's launch (?code=) -> account cookie, "
                                      "302 to the dashboard", "the launch's one-time code", success=302,
                                      content="text/html", auth="none"),
    ("GET", "/lti/candidate/{session_id}"): RouteDoc("A Learner's launch page (the launch's 303 goes here; a reload "
                                                     "shows it again): the embedded client on the launch's session",
                                                     "the browser that launched (its page pass cookie)",
                                                     content="text/html", auth="none", operation_id="lti_candidate_page"),
    ("POST", "/api/calibration/session/{run_id}/resume"): RouteDoc("Original calibration API: where a running run "
                                                                   "goes on (the dots without a frame)", LEGACY),
    ("GET", "/api/calibration/session/{run_id}/diagnostics"): RouteDoc("Original calibration API: samples, rejections "
                                                                       "and errors per dot", LEGACY),
    ("GET", "/api/calibration/verify/{candidate_id}"): RouteDoc("Original calibration API: whether the candidate has "
                                                                "a calibration, and its verdict", LEGACY),
    ("GET", "/api/calibration/download/{candidate_id}"): RouteDoc("Original calibration API: the candidate's newest "
                                                                  "run with its model, as JSON", LEGACY),
    ("POST", "/api/screen/detect"): RouteDoc("Original calibration API: check a detected screen (nothing stored)",
                                             LEGACY, "server.http.legacy.calibration.models:DetectScreen"),
    ("GET", "/docs"): RouteDoc("Original interview API's docs address: redirects to /api/docs", "anyone",
                               success=302, content="text/html"),
    ("GET", "/api/openapi.json"): RouteDoc("This description (OpenAPI 3.1)", "anyone", operation_id="openapi"),
    ("GET", "/api/docs"): RouteDoc("The API docs: Swagger UI, served offline, on this description", "anyone",
                                   content="text/html", operation_id="docs_page"),
    ("GET", "/"): RouteDoc("The candidate's exam page", "anyone", content="text/html",
                           operation_id="index_page"),
    ("GET", "/exam.html"): RouteDoc("The candidate's exam page", "anyone", content="text/html",
                                    operation_id="exam_page"),
    ("GET", "/dashboard.html"): RouteDoc("The proctor's dashboard", "anyone", content="text/html",
                                         operation_id="dashboard_page"),
    ("GET", "/exams.html"): RouteDoc("The proctor's exams page", "anyone", content="text/html",
                                     operation_id="exams_page"),
    ("GET", "/review.html"): RouteDoc("The proctor's review workspace", "anyone", content="text/html",
                                      operation_id="review_page"),
    ("GET", "/favicon.ico"): RouteDoc("The site icon (SVG)", "anyone", content="image/svg+xml"),
}
