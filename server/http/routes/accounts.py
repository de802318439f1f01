"""The `/api/auth` resource: register, login, logout, profile.

The login answer carries the account JWT twice: as an HttpOnly, SameSite=Strict cookie (pages; Secure
in production) and as a bearer token in the JSON (scripts, other services). Either authenticates
(`server.http.access.caller`). Self-registration creates candidates only; an admin may register any role.
"""
from __future__ import annotations

import time

from aiohttp import web

from server.accounts.users import USER_TOKEN_TTL_S
from server.http.access import COOKIE, caller, presented_tokens
from server.http.errors import json_response, read_json
from server.http.keys import ACCOUNTS, SETTINGS
from server.protocol.answers import LoggedOut, LoginAnswer, Profile
from server.protocol.errors import ApiError
from server.protocol.http import LoginBody, RegisterBody

routes = web.RouteTableDef()


def _secure_cookie(request: web.Request) -> bool:
    return request.app[SETTINGS].env == "production"


def set_account_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    """The account cookie pages authenticate with (also set by an LTI Instructor's one-time login)."""
    response.set_cookie(COOKIE, token, max_age=USER_TOKEN_TTL_S, path="/", httponly=True,
                        samesite="Strict", secure=_secure_cookie(request))


@routes.post("/api/auth/register")
async def register(request: web.Request) -> web.Response:
    accounts = request.app[ACCOUNTS]
    body = RegisterBody.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    role = body.role or "candidate"
    if role != "candidate":
        user = await caller(request)
        if user is None:
            raise ApiError(401, "only an admin may create proctor or admin accounts; log in as one", code="login_required")
        if user.role != "admin":
            raise ApiError(403, "only an admin may create proctor or admin accounts", code="forbidden")
    created = await accounts.create_user(body.email, body.password, role, time.time(), client=request.remote or "?")
    return json_response(Profile.model_validate(await accounts.profile(created)), status=201)


@routes.post("/api/auth/login")
async def login(request: web.Request) -> web.Response:
    accounts = request.app[ACCOUNTS]
    body = LoginBody.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    user, issued = await accounts.login(body.email, body.password, request.remote or "?", time.time())
    resp = json_response(LoginAnswer(token=issued.token, token_type="bearer", expires_at=issued.expires_at,
                                     user=Profile.model_validate(await accounts.profile(user))))
    set_account_cookie(request, resp, issued.token)
    return resp


@routes.post("/api/auth/logout")
async def logout(request: web.Request) -> web.Response:
    """Revokes the presented account token(s) and clears the cookie; idempotent."""
    now = time.time()
    revoked = False
    for token in presented_tokens(request):
        revoked = await request.app[ACCOUNTS].revoke(token, now) or revoked
    resp = json_response(LoggedOut(logged_out=revoked))
    resp.del_cookie(COOKIE, path="/", secure=_secure_cookie(request), samesite="Strict")
    return resp


@routes.get("/api/auth/profile")
async def profile(request: web.Request) -> web.Response:
    user = await caller(request)
    if user is None:
        raise ApiError(401, "login required", code="login_required")
    return json_response(Profile.model_validate(await request.app[ACCOUNTS].profile(user)))
