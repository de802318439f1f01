"""Every route of the app against every kind of caller: the expected status of each, in one table.

The routes come from `app.router.routes()`, so a route added without a row here fails this test. Every
`/api/` route is served twice, at `/api/v1/...` and at its unversioned alias (`server.http.versions`):
one row covers both, and the matrix runs every cell on each path.
Callers: anonymous; a candidate account; the proctor who owns the exam; another proctor; an admin;
and the session token of the session under test. Each cell runs on a fresh session of the owner's
exam (created with its join code), so cells never depend on each other. Bodies are valid enough that
the status says what authorisation decided (or, once allowed, what the handler answered).
"""
from __future__ import annotations

import base64

import aiohttp
import cv2
import numpy as np

from server.http.versions import unversioned, versioned
from tests.test_accounts import PASSWORD, call, logged_in, login, make_user, new_exam, unique_email

ACTORS = ("anonymous", "candidate", "owner", "other", "admin", "session")
NO_VIDEO_SDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
WATCH_SDP = NO_VIDEO_SDP + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
#: a 64x48 grey JPEG as a data URL: a valid system-check frame (with no face in it)
CHECK_FRAME = "data:image/jpeg;base64," + base64.b64encode(
    cv2.imencode(".jpg", np.full((48, 64, 3), 128, np.uint8))[1].tobytes()).decode()


def row(anonymous: int, candidate: int, owner: int, other: int, admin: int, session: int) -> dict[str, int]:
    return dict(zip(ACTORS, (anonymous, candidate, owner, other, admin, session), strict=True))


def everyone(status: int) -> dict[str, int]:
    return row(*(status,) * 6)


#: (method, route) -> expected status per caller. Bodies: BODIES below.
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/health"): everyone(200),
    ("GET", "/livez"): everyone(200),
    ("GET", "/readyz"): everyone(200),
    ("GET", "/metrics"): everyone(200),
    ("GET", "/"): everyone(200),
    ("GET", "/exam.html"): everyone(200),
    ("GET", "/dashboard.html"): everyone(200),
    ("GET", "/exams.html"): everyone(200),
    ("GET", "/review.html"): everyone(200),
    ("GET", "/favicon.ico"): everyone(200),
    ("GET", "/static"): everyone(200),  # /static/vigil.css
    ("GET", "/api/openapi.json"): everyone(200),  # the API's description is public
    ("GET", "/api/docs"): everyone(200),
    ("GET", "/api/docs/assets"): everyone(200),  # Swagger UI's files (server/http/swagger.py)
    # anyone with a join code may start a session (docs/http-api.md: candidate with a join code)
    ("POST", "/api/sessions"): everyone(201),
    ("GET", "/api/sessions"): row(401, 403, 200, 200, 200, 401),
    # signaling takes the session token only; with it a body without video is refused as a bad offer
    ("POST", "/api/sessions/{session_id}/offer"): row(401, 401, 401, 401, 401, 400),
    ("POST", "/api/sessions/{session_id}/resume"): row(401, 401, 401, 401, 401, 409),
    # the system check's frames: the session's own token only, while it is `created` (the matrix's is)
    ("POST", "/api/sessions/{session_id}/check-frame"): row(401, 401, 401, 401, 401, 200),
    # WHIP (server/http/routes/whip.py) takes the session token only; with it a body that is not
    # application/sdp is 415, and DELETE ends the session
    ("POST", "/api/sessions/{session_id}/whip"): row(401, 401, 401, 401, 401, 415),
    ("DELETE", "/api/sessions/{session_id}/whip"): row(401, 401, 401, 401, 401, 200),
    ("GET", "/api/sessions/{session_id}"): row(401, 403, 200, 403, 200, 200),
    ("POST", "/api/sessions/{session_id}/end"): row(401, 403, 200, 403, 200, 200),
    ("DELETE", "/api/sessions/{session_id}"): row(401, 403, 403, 403, 200, 401),
    ("GET", "/api/sessions/{session_id}/events"): row(401, 403, 200, 403, 200, 401),
    ("GET", "/api/sessions/{session_id}/report.json"): row(401, 403, 200, 403, 200, 401),
    ("GET", "/api/sessions/{session_id}/report.pdf"): row(401, 403, 200, 403, 200, 401),
    ("GET", "/api/sessions/{session_id}/evidence/{name}"): row(401, 403, 404, 403, 404, 401),
    # the human review (server/http/routes/review.py): the owning proctor or an admin, never the session itself
    ("GET", "/api/sessions/{session_id}/review"): row(401, 403, 200, 403, 200, 401),
    ("PATCH", "/api/sessions/{session_id}/review"): row(401, 403, 200, 403, 200, 401),
    # the session has no peer here: allowed callers get 409 (not live), the others never learn that
    ("POST", "/api/sessions/{session_id}/watch"): row(401, 403, 409, 403, 409, 401),
    ("POST", "/api/auth/register"): row(401, 403, 403, 403, 201, 401),  # creating a proctor account
    ("POST", "/api/auth/login"): everyone(200),
    ("POST", "/api/auth/logout"): everyone(200),
    ("GET", "/api/auth/profile"): row(401, 200, 200, 200, 200, 401),
    ("POST", "/api/exams"): row(401, 403, 201, 201, 201, 401),
    ("GET", "/api/exams"): row(401, 403, 200, 200, 200, 401),
    ("PATCH", "/api/exams/{exam_id}"): row(401, 403, 200, 403, 200, 401),
    ("POST", "/api/exams/{exam_id}/join-code"): row(401, 403, 200, 403, 200, 401),
    # the session has no peer here: allowed callers get 409 (not live), the others never learn that
    ("POST", "/api/sessions/{session_id}/message"): row(401, 403, 409, 403, 409, 401),
    # no thumbnail before the candidate's video is analysed
    ("GET", "/api/sessions/{session_id}/thumbnail.jpg"): row(401, 403, 404, 403, 404, 401),
    ("GET", "/api/live"): row(401, 403, 200, 200, 200, 401),
    ("GET", "/api/live/stream"): row(401, 403, 200, 200, 200, 401),
    # the seed's WebSocket baseline (server/http/routes/face_ws.py) takes no credentials at all: a plain GET
    # without the upgrade is 400 for everyone. Kept for latency comparisons; not for production.
    ("GET", "/ws/face-detection/{client_id}"): everyone(400),
    # the original backends' APIs (server/http/legacy/): on in dev for anyone, as the originals took no
    # credentials (production: off unless VIGIL_LEGACY_APIS names them, then API key, proctor or admin; tests/legacy/)
    ("POST", "/start-session"): everyone(200),
    # frames and end only for sessions /start-session made, never a WebRTC session such as the matrix's
    ("POST", "/analyze-frame"): everyone(409),
    ("POST", "/end-session"): everyone(409),
    ("GET", "/ws/{session_id}"): everyone(400),  # a plain GET without the upgrade
    ("POST", "/generate_report/{session_id}"): everyone(200),
    ("GET", "/ws/posture"): everyone(400),
    # saved analyses are the logged-in account's own (any role); the matrix's id is not one (404)
    ("POST", "/api/analysis/save"): row(401, 201, 201, 201, 201, 401),
    ("GET", "/api/analysis/list"): row(401, 200, 200, 200, 200, 401),
    ("GET", "/api/analysis/{analysis_id}"): row(401, 404, 404, 404, 404, 401),
    ("DELETE", "/api/analysis/{analysis_id}"): row(401, 404, 404, 404, 404, 401),
    # the calibration API's run in the path is no run (404); its bodies here are empty (400)
    ("POST", "/api/calibration/session/create"): everyone(200),
    ("GET", "/api/calibration/session/{run_id}"): everyone(404),
    ("POST", "/api/calibration/session/{run_id}/link"): everyone(404),
    ("GET", "/api/calibration/session/{run_id}/download"): everyone(404),
    ("POST", "/api/calibration/start"): everyone(400),
    ("POST", "/api/calibration/frame"): everyone(400),
    ("POST", "/api/calibration/frames"): everyone(400),
    ("POST", "/api/calibration/frames/batch"): everyone(400),
    ("POST", "/api/calibration/complete"): everyone(400),
    # verify answers for any candidate id (`exists` says whether there is a run); the matrix's candidate has no
    # run to download; detect's body here is empty
    ("POST", "/api/calibration/session/{run_id}/resume"): everyone(404),
    ("GET", "/api/calibration/session/{run_id}/diagnostics"): everyone(404),
    ("GET", "/api/calibration/verify/{candidate_id}"): everyone(200),
    ("GET", "/api/calibration/download/{candidate_id}"): everyone(404),
    ("POST", "/api/screen/detect"): everyone(400),
    ("GET", "/docs"): everyone(200),  # a redirect to /api/docs, followed
    # screen geometry and calibrations (server/http/routes/screen.py, calibration.py): a session writes its own
    # candidate's screen; reads are for that session, and for admins and the owning proctor naming the
    # session (`?session_id=`, PATHS below). The session under test has no stored screen info (the GETs
    # run before the POST) nor calibration, so whoever is let through gets 404; the diagnostics of a
    # fresh session are 200 with null. The original calibration API shares three of these paths
    # (server/http/legacy/shared_paths.py): the matrix's calls are Vigil's (its body, ?session_id=, a session's
    # id), so the original's callers are in tests/legacy/test_calibration_api.py.
    ("POST", "/api/screen/info"): row(401, 401, 401, 401, 401, 200),
    ("GET", "/api/screen/info/{candidate_id}"): row(401, 403, 404, 403, 404, 404),
    ("GET", "/api/calibration/{candidate_id}"): row(401, 403, 404, 403, 404, 404),
    ("GET", "/api/calibration/{candidate_id}/download"): row(401, 403, 404, 403, 404, 404),
    ("GET", "/api/calibration/diagnostics/{session_id}"): row(401, 403, 200, 403, 200, 200),
    # integrations (docs/integration.md): API keys are the admins' (an unknown key id is 404); a join token
    # needs an API key, which none of these callers is; an exam's webhooks are its owner's and the admins'
    # (an unknown webhook id is 404). The API key's own cases are in tests/test_apikeys.py.
    ("POST", "/api/apikeys"): row(401, 403, 403, 403, 201, 401),
    ("GET", "/api/apikeys"): row(401, 403, 403, 403, 200, 401),
    ("DELETE", "/api/apikeys/{key_id}"): row(401, 403, 403, 403, 404, 401),
    ("POST", "/api/exams/{exam_id}/join-tokens"): everyone(401),
    ("POST", "/api/exams/{exam_id}/webhooks"): row(401, 403, 201, 403, 201, 401),
    ("GET", "/api/exams/{exam_id}/webhooks"): row(401, 403, 200, 403, 200, 401),
    ("DELETE", "/api/exams/{exam_id}/webhooks/{webhook_id}"): row(401, 403, 404, 403, 404, 401),
    ("GET", "/api/exams/{exam_id}/webhooks/{webhook_id}/deliveries"): row(401, 403, 404, 403, 404, 401),
    # the LTI 1.3 tool (server/http/lti/, tests/test_lti.py): an LMS's browser carries no Vigil credential; without
    # an issuer the login is 400, without an id_token the launch is 400, without a code the proctor login 401;
    # the tool's JWKS is public
    ("GET", "/lti/login"): everyone(400),
    ("POST", "/lti/login"): everyone(400),
    ("POST", "/lti/launch"): everyone(400),
    ("POST", "/lti/deep-link"): everyone(400),
    ("GET", "/lti/jwks"): everyone(200),
    ("GET", "/lti/proctor"): everyone(401),
    # a Learner's launch page opens with the pass cookie its launch set (tests/test_lti.py), never with a credential
    ("GET", "/lti/candidate/{session_id}"): everyone(401),
}

NO_ID = "0" * 32  # the shape of an id, naming nothing
PATHS = {"/static": "/static/vigil.css", "/api/docs/assets": "/api/docs/assets/swagger-ui.css", "/api/analysis/{analysis_id}": "/api/analysis/" + NO_ID,
         **{route: route.replace("{run_id}", NO_ID) for route in (
             "/api/calibration/session/{run_id}", "/api/calibration/session/{run_id}/link",
             "/api/calibration/session/{run_id}/download", "/api/calibration/session/{run_id}/resume",
             "/api/calibration/session/{run_id}/diagnostics")}, **{route: route + "?session_id={session_id}" for route in (
    "/api/screen/info/{candidate_id}", "/api/calibration/{candidate_id}", "/api/calibration/{candidate_id}/download")}}


def body_for(key: tuple[str, str], join_code: str, login_email: str, exam_id: str = "") -> dict | None:
    method, route = key
    if route == "/api/sessions" and method == "POST":
        return {"candidate_id": "matrix", "join_code": join_code}
    if route.endswith("/offer") or route.endswith("/resume"):
        return {"sdp": NO_VIDEO_SDP, "type": "offer"}
    if route.endswith("/check-frame"):
        return {"image": CHECK_FRAME}
    if route.endswith("/watch"):
        return {"sdp": WATCH_SDP, "type": "offer"}
    if route == "/api/auth/register":
        return {"email": unique_email("made"), "password": PASSWORD, "role": "proctor"}
    if route == "/api/auth/login":
        return {"email": login_email, "password": PASSWORD}
    if route == "/api/exams" and method == "POST":
        return {"title": "matrix exam"}
    if route == "/api/exams/{exam_id}":
        return {"title": "matrix exam, renamed"}
    if route.endswith("/message"):
        return {"text": "matrix"}
    if route.endswith("/review") and method == "PATCH":
        return {"decision": {"decision": "inconclusive", "note": "matrix"}}
    if route == "/api/apikeys" and method == "POST":
        return {"name": "matrix key", "exams": [exam_id]}
    if route.endswith("/join-tokens"):
        return {"candidate_id": "matrix"}
    if route.endswith("/webhooks") and method == "POST":
        return {"url": "http://127.0.0.1:9/matrix"}
    if route == "/api/analysis/save":
        return {"keypoints": [], "posture_score": 0.5}
    if route in ("/analyze-frame", "/end-session", "/api/calibration/session/{run_id}/link"):
        return {"session_id": "{session_id}"}
    if route == "/api/screen/info":
        return {"candidate_id": "matrix", "screen_w": 1536, "screen_h": 864, "dpr": 1.25}
    if method in ("POST", "DELETE") and route != "/api/auth/logout" and not route.endswith("/end"):
        return None
    return {} if method == "POST" else None


def app_routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(method, path) as served: `/api/v1/` paths and their unversioned aliases both."""
    out = set()
    for route in app.router.routes():
        if route.method == "HEAD":  # aiohttp adds HEAD beside every GET
            continue
        out.add((route.method, route.resource.canonical))
    return out


def row_of(key: tuple[str, str]) -> tuple[str, str]:
    """The MATRIX row of a served route: a v1 path shares its alias's row."""
    return key[0], unversioned(key[1])


async def test_every_route_has_a_row(vigil_server) -> None:
    missing = sorted(key for key in app_routes(vigil_server.app) if row_of(key) not in MATRIX)
    assert not missing, f"routes without an authorisation row in MATRIX: {missing}"


async def test_every_api_route_is_served_under_v1_too(vigil_server) -> None:
    served = app_routes(vigil_server.app)
    unversioned_only = sorted((method, path) for method, path in served if path.startswith("/api/")
                              and not path.startswith("/api/v1/") and path != "/api/docs/assets"
                              and (method, versioned(path)) not in served)
    assert not unversioned_only, f"/api/ routes without their /api/v1/ twin: {unversioned_only}"


async def test_auth_matrix(vigil_server) -> None:
    base, store = vigil_server.url, vigil_server.store
    emails = {"candidate": await make_user(store, "candidate"), "owner": await make_user(store, "proctor"),
              "other": await make_user(store, "proctor"), "admin": await make_user(store, "admin")}
    login_email = await make_user(store, "candidate", "matrix-login")
    failures: list[str] = []
    async with aiohttp.ClientSession() as http:
        tokens = {actor: await login(http, base, email) for actor, email in emails.items()}
        exam = await new_exam(http, base, tokens["owner"])
        for key in sorted(app_routes(vigil_server.app)):
            expected = MATRIX.get(row_of(key))
            if expected is None:
                continue  # reported by test_every_route_has_a_row
            method, route = key
            alias = unversioned(route)
            for actor in ACTORS:
                st, created = await call(http, "POST", base + "/api/sessions",
                                         json={"candidate_id": "matrix", "join_code": exam["join_code"]})
                assert st == 201, created
                if actor == "session":
                    token: str | None = created["token"]
                elif actor == "anonymous":
                    token = None
                elif alias == "/api/auth/logout":  # logging out revokes: use a token of its own
                    token = await login(http, base, emails[actor])
                else:
                    token = tokens[actor]
                path = versioned(PATHS.get(alias, alias)) if route != alias else PATHS.get(route, route)
                path = path.replace("{session_id}", created["session_id"]).replace("{name}", "x.jpg") \
                    .replace("{client_id}", "matrix").replace("{candidate_id}", "matrix") \
                    .replace("{exam_id}", exam["exam_id"]).replace("{key_id}", "matrix").replace("{webhook_id}", "matrix")
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                body = body_for(row_of(key), exam["join_code"], login_email, exam["exam_id"])
                if body is not None and body.get("session_id") == "{session_id}":
                    body = {**body, "session_id": created["session_id"]}
                async with http.request(method, base + path, headers=headers, json=body) as resp:
                    status = resp.status  # streams are not read: the status is the answer
                    if route.endswith("/join-code") and status == 200:  # the old code no longer admits
                        exam["join_code"] = (await resp.json())["join_code"]
                if status != expected[actor]:
                    failures.append(f"{method} {route} as {actor}: expected {expected[actor]}, got {status}")
    assert not failures, "\n".join(failures)


async def test_a_session_token_never_passes_for_a_user_nor_a_user_token_for_a_session(vigil_server) -> None:
    base = vigil_server.url
    _, admin = await logged_in(vigil_server, "admin")
    async with aiohttp.ClientSession() as http:
        st, created = await call(http, "POST", base + "/api/sessions", json={"candidate_id": "swap"})
        assert st == 201
        st, _ = await call(http, "GET", base + "/api/auth/profile", created["token"])
        assert st == 401
        st, _ = await call(http, "POST", f"{base}/api/sessions/{created['session_id']}/offer", admin,
                           json={"sdp": NO_VIDEO_SDP, "type": "offer"})
        assert st == 401
        st, _ = await call(http, "GET", base + "/api/auth/profile", "not.a.jwt")
        assert st == 401
