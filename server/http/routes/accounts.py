"""HTTP routes of accounts: register, login, logout, profile; and the request -> user resolver.

The login answer carries the account JWT twice: as an HttpOnly, SameSite=Strict cookie (pages; Secure
in production) and as a bearer token in the JSON (scripts, other services). Either authenticates.
Self-registration creates candidates only; an admin may register any role.
"""
from __future__ import annotations

import time

from aiohttp import web

from server.accounts.auth import Authenticator, User
from server.accounts.tokens import bearer
from server.accounts.users import USER_TOKEN_TTL_S, Accounts
from server.core.config import Settings
from server.http.errors import read_json
from server.http.keys import ACCOUNTS
from server.protocol.errors import ApiError
from server.protocol.http import LoginBody, RegisterBody
from server.store.store import Store

#: the account cookie's name; HttpOnly so page scripts (and injected ones) cannot read it.
COOKIE = "vigil_auth"
#: the caller, resolved once per request
_USER_ON_REQUEST: web.RequestKey[User | None] = web.RequestKey("vigil_user", object)  # type: ignore[arg-type]


def make_user_resolver(accounts: Accounts):  # type: ignore[no-untyped-def]
    """async (request) -> User | None: a user bearer token first, else the cookie. Cached per request."""

    async def resolve(request: web.Request) -> User | None:
        if _USER_ON_REQUEST in request:
            return request[_USER_ON_REQUEST]
        user = None
        token = bearer(request.headers.get("Authorization"))
        if token is not None:
            user = await accounts.user_for_token(token)  # a session token resolves to no user
        if user is None and request.cookies.get(COOKIE):
            user = await accounts.user_for_token(request.cookies[COOKIE])
        request[_USER_ON_REQUEST] = user
        return user

    return resolve


def register_account_routes(app: web.Application, *, settings: Settings, store: Store, secret: str,
                            auth: Authenticator) -> Accounts:
    accounts = Accounts(store.accounts, secret)
    app[ACCOUNTS] = accounts
    auth.user_resolver = make_user_resolver(accounts)
    secure = settings.env == "production"
    max_body = settings.max_body_bytes

    async def register(request: web.Request) -> web.Response:
        body = RegisterBody.model_validate(await read_json(request, max_body))
        role = body.role or "candidate"
        if role != "candidate":
            caller = await auth.user(request)
            if caller is None:
                raise ApiError(401, "only an admin may create proctor or admin accounts; log in as one")
            if caller.role != "admin":
                raise ApiError(403, "only an admin may create proctor or admin accounts")
        user = await accounts.create_user(body.email, body.password, role, time.time())
        return web.json_response(await accounts.profile(user), status=201)

    async def login(request: web.Request) -> web.Response:
        body = LoginBody.model_validate(await read_json(request, max_body))
        now = time.time()
        user, issued = await accounts.login(body.email, body.password, request.remote or "?", now)
        resp = web.json_response({"token": issued.token, "token_type": "bearer", "expires_at": issued.expires_at,
                                  "user": await accounts.profile(user)})
        resp.set_cookie(COOKIE, issued.token, max_age=USER_TOKEN_TTL_S, path="/", httponly=True,
                        samesite="Strict", secure=secure)
        return resp

    async def logout(request: web.Request) -> web.Response:
        """Revokes the presented account token(s) and clears the cookie; idempotent."""
        now = time.time()
        revoked = False
        for token in (bearer(request.headers.get("Authorization")), request.cookies.get(COOKIE)):
            if token:
                revoked = await accounts.revoke(token, now) or revoked
        resp = web.json_response({"logged_out": revoked})
        resp.del_cookie(COOKIE, path="/", secure=secure, samesite="Strict")
        return resp

    async def profile(request: web.Request) -> web.Response:
        user = await auth.user(request)
        if user is None:
            raise ApiError(401, "login required")
        return web.json_response(await accounts.profile(user))

    app.router.add_post("/api/auth/register", register)
    app.router.add_post("/api/auth/login", login)
    app.router.add_post("/api/auth/logout", logout)
    app.router.add_get("/api/auth/profile", profile)
    return accounts
