"""The LTI 1.3 tool's routes (docs/lti.md): OIDC login, launch and deep linking, the tool's JWKS, and the
one-time proctor login an Instructor's launch hands out.

    GET|POST /lti/login       OIDC login initiation -> 302 to the platform, with the state cookie
    POST     /lti/launch      the platform's form post (id_token, state): a resource link launch, or a
    POST     /lti/deep-link   deep-linking request (the same handler: platforms point either URL at it)
    GET      /lti/jwks        the tool's public key, for the platform to check deep-linking responses
    GET      /lti/proctor     ?code= -> the account cookie, 302 to the dashboard (once, within two minutes)
    GET      /lti/candidate/{session_id}  a Learner's launch page, with the launch's pass cookie (reloadable)

A Learner's launch makes a candidate session on the link's exam that speaks for the LMS user
(`claims.Launch.identity`, as an API key's asserted candidate) and answers a 303 to its page, with the
pass that opens it (`page_pass`): the launch is a one-time form post, and a reload of the page it
answered would post it again (a 409); the page it redirects to reloads as often as the Learner likes. An Instructor's launch maps them to a proctor account and the link to its exam (`provision`):
the first Instructor owns it, any other Instructor of the course becomes one of its proctors, with the
owner's rights; the page carries the one-time login. A deep-linking request (Instructors
only) answers the signed response carrying one LtiResourceLink back to the platform. Each id_token
launches once: a replayed POST is a 409.
"""
from __future__ import annotations

import time
from urllib.parse import urlsplit

from aiohttp import web
from pylti1p3.deep_link_resource import DeepLinkResource

from server.core.metrics import SESSIONS_CREATED
from server.http.access import session_id
from server.http.affinity import new_session
from server.http.errors import json_response
from server.http.keys import ACCOUNTS, AUTH, EXAMS, LTI, SESSIONS, STORE
from server.http.lti.adapter import read_form, set_tool_cookie
from server.http.lti.claims import DEEP_LINKING, PROCTOR_PARAM, Launch, proctor_claim
from server.http.lti.page_pass import COOKIE as PAGE_PASS
from server.http.lti.page_pass import CandidatePage, issue_pass, read_pass
from server.http.lti.pages import candidate_page, instructor_page
from server.http.lti.provision import exam_for_link, proctor_account
from server.http.lti.tool import ValidatedLaunch
from server.http.routes.accounts import set_account_cookie
from server.protocol.errors import ApiError
from server.protocol.http import CreateSession
from server.store.keys import LTI_HANDOFF_S

LOGIN, LAUNCH, DEEP_LINK, JWKS, PROCTOR = "/lti/login", "/lti/launch", "/lti/deep-link", "/lti/jwks", "/lti/proctor"
CANDIDATE = "/lti/candidate/"
#: the LMS's browser posts these forms from the LMS's site; they never act on Vigil's account cookie
CROSS_SITE_FORMS = frozenset({LOGIN, LAUNCH, DEEP_LINK})

routes = web.RouteTableDef()


def _url(request: web.Request, path: str) -> str:
    return f"{request.scheme}://{request.host}{path}"


def _redirect_uri(request: web.Request, target_link_uri: str | None) -> str:
    """Where the platform posts the id_token: the login's `target_link_uri` when it is one of the tool's
    launch URLs on this host (it carries the scheme the platform sees, e.g. https before a proxy), else
    this host's launch URL."""
    if target_link_uri:
        target = urlsplit(target_link_uri)
        if target.netloc == request.host and target.path in (LAUNCH, DEEP_LINK) and target.scheme in ("http", "https"):
            return target_link_uri
    return _url(request, LAUNCH)


@routes.get(LOGIN)
@routes.post(LOGIN)
async def oidc_login(request: web.Request) -> web.Response:
    form = await read_form(request) if request.method == "POST" else {}
    target = request.query.get("target_link_uri") or form.get("target_link_uri")
    return await request.app[LTI].login(request, _redirect_uri(request, target if isinstance(target, str) else None))


@routes.post(LAUNCH)
@routes.post(DEEP_LINK)
@new_session  # a Learner's launch makes a session: on the least-loaded worker
async def launch(request: web.Request) -> web.StreamResponse:
    validated, parts = await request.app[LTI].validate(request)
    claims = validated.launch
    if not await request.app[STORE].lti.claim_launch(claims.nonce):
        raise ApiError(409, "this LTI launch was already used: open the activity again from the course")
    if claims.message_type == DEEP_LINKING:
        response = await _deep_linking(request, validated)
    elif claims.role == "instructor":
        response = await _instructor(request, claims)
    elif claims.role == "learner":
        response = await _learner(request, claims)
    else:
        raise ApiError(403, "Vigil takes LTI launches from Instructors and Learners only",
                       {"roles": list(claims.roles)[:10]})
    parts.cookies.apply(response)
    return response


async def _learner(request: web.Request, claims: Launch) -> web.Response:
    """The session, and a 303 to its page with the pass that opens it (See Other: the browser GETs it,
    so a reload never posts the one-time launch again)."""
    now = time.time()
    app = request.app
    tokens = app[AUTH].tokens
    exam_id = await exam_for_link(app[EXAMS], app[STORE].lti, app[ACCOUNTS], claims, None, tokens.secret, now)
    created = await app[SESSIONS].create(CreateSession(candidate_id=claims.candidate_id), now, request.remote or "?",
                                         claims.identity, exam_id=exam_id)
    SESSIONS_CREATED.inc()
    page = CandidatePage(session_id=created["session_id"], token=created["token"], candidate_id=claims.candidate_id,
                         name=claims.name or claims.candidate_id, title=claims.exam_title)
    path = CANDIDATE + page.session_id
    response = web.Response(status=303, headers={"Location": path, "Cache-Control": "no-store"})
    # a browser-session cookie: a reload needs it, a browser restarted on a shared computer does not
    set_tool_cookie(response, PAGE_PASS, issue_pass(tokens.secret, page, now, tokens.ttl_s), None,
                    secure=request.secure, path=path)
    return response


@routes.get(CANDIDATE + "{session_id}")
async def candidate(request: web.Request) -> web.Response:
    """A Learner's launch page, for the browser holding its pass: the first view after the launch, and
    every reload (the element then resumes the session), while the session goes on: an ended one's page
    would only hand its token out again."""
    sid = session_id(request)
    page = read_pass(request.app[AUTH].tokens.secret, request.cookies.get(PAGE_PASS), sid)
    status = await request.app[STORE].session_field(sid, "status")
    if status is None:
        raise ApiError(404, "unknown session", {"session_id": sid}, code="unknown_session")
    if status == "ended":
        raise ApiError(409, "this proctored session has ended: open the activity again from the course",
                       {"session_id": sid})
    return candidate_page(page)


async def _instructor(request: web.Request, claims: Launch) -> web.Response:
    now = time.time()
    app = request.app
    proctor = await proctor_account(app[ACCOUNTS], claims, now)
    exam_id = await exam_for_link(app[EXAMS], app[STORE].lti, app[ACCOUNTS], claims, proctor, app[AUTH].tokens.secret, now)
    if proctor.role != "admin":
        # an Instructor of the link's course (the platform signed the role, for this deployment and context:
        # `link_digest` names them) proctors its exam with whoever opened it first
        await app[EXAMS].add_proctor(exam_id, proctor, now)
    code = app[LTI].new_handoff_code()
    await app[STORE].lti.put_handoff(code, proctor.user_id, LTI_HANDOFF_S)
    return instructor_page(title=claims.exam_title, exam_id=exam_id, handoff_url=_url(request, f"{PROCTOR}?code={code}"))


async def _deep_linking(request: web.Request, validated: ValidatedLaunch) -> web.Response:
    claims = validated.launch
    if claims.role != "instructor":
        raise ApiError(403, "only an Instructor attaches proctoring to an activity")
    proctor = await proctor_account(request.app[ACCOUNTS], claims, time.time())
    resource = (DeepLinkResource().set_url(_url(request, LAUNCH)).set_title("Proctored by Vigil")
                .set_custom_params({PROCTOR_PARAM: proctor_claim(request.app[AUTH].tokens.secret, claims,
                                                                 proctor.user_id)}))
    page = await request.app[LTI].deep_linking_form(validated, resource)
    return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})


@routes.get(JWKS)
async def jwks(request: web.Request) -> web.Response:
    return json_response(await request.app[LTI].jwks(), headers={"Cache-Control": "max-age=300"})


@routes.get(PROCTOR)
async def proctor_login(request: web.Request) -> web.Response:
    """The one-time login an Instructor's launch handed out: the account cookie, then the dashboard."""
    code = request.query.get("code", "")
    user_id = await request.app[STORE].lti.take_handoff(code) if 16 <= len(code) <= 64 else None
    user = await request.app[ACCOUNTS].get_user(user_id) if user_id else None
    if user is None:
        raise ApiError(401, "this proctor link was used or has expired: open the activity again from the course")
    issued = request.app[ACCOUNTS].issue(user, time.time())
    response = web.Response(status=302, headers={"Location": "/dashboard.html", "Cache-Control": "no-store"})
    set_account_cookie(request, response, issued.token)
    return response
