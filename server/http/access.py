"""Who is calling, and may they: every access rule of the HTTP API, in this one module.

A caller is a session (its scoped token, `Authorization: Bearer`) or a user account (its JWT as a
bearer token or the `vigil_auth` cookie). Handlers ask for what they accept: `require_role`,
`require_session_token`, or, for a route on `{session_id}`, `session_access`, which checks the id's
shape, the credentials, that the session exists, and that a proctor owns its exam, in that order
(401 before 404 before 403). Listings filter through a `Visibility`. Documents shared across sessions
(screen info, calibrations) belong to a session's authenticated identity (`session_identity`, set at
creation) or, without one, to the session alone; `candidate_document` reads them for that session or a
user who may see it. The rule itself (admin, or the proctor owning the exam) is `Authenticator.can_see_exam`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from server.accounts.apikeys import ApiKey, identity_of, is_api_key
from server.accounts.auth import Role, User
from server.accounts.join_tokens import SessionGrant
from server.accounts.tokens import bearer
from server.http.keys import APIKEYS, AUTH, JOIN_TOKENS, STORE
from server.protocol.errors import ApiError
from server.protocol.http import ID_PATTERN, CreateSession
from server.store.keys import document_owner

#: the account cookie's name; HttpOnly so page scripts (and injected ones) cannot read it.
COOKIE = "vigil_auth"
NOT_YOURS = "this session belongs to another proctor's exam"
#: the caller's account, resolved once per request
_USER_ON_REQUEST: web.RequestKey[User | None] = web.RequestKey("vigil_user", object)  # type: ignore[arg-type]


def made_elsewhere(what: str) -> str:
    """The refusal for a document (screen info, calibration) written in another proctor's exam."""
    return f"this {what} was made in another proctor's exam"


# -- ids in the path ------------------------------------------------------------------------------
def session_id(request: web.Request) -> str:
    """The `{session_id}` of the path; anything that cannot be a session id is an unknown session."""
    sid = request.match_info["session_id"]
    if not is_session_id(sid):
        raise ApiError(404, "unknown session", {"session_id": sid[:64]}, code="unknown_session")
    return sid


def is_session_id(sid: str) -> bool:
    return 0 < len(sid) <= 64 and sid.isalnum()


def candidate_id(request: web.Request) -> str:
    """The `{candidate_id}` of the path; anything that cannot be one is an unknown candidate."""
    cid = request.match_info["candidate_id"]
    if not re.match(ID_PATTERN, cid):
        raise ApiError(404, "unknown candidate", {"candidate_id": cid[:128]}, code="unknown_candidate")
    return cid


# -- credentials ----------------------------------------------------------------------------------
async def caller(request: web.Request) -> User | None:
    """The user behind the request: a user bearer token first, else the cookie. Cached per request."""
    if _USER_ON_REQUEST in request:
        return request[_USER_ON_REQUEST]
    auth = request.app[AUTH]
    user = None
    token = bearer(request.headers.get("Authorization"))
    if token is not None:
        user = await auth.user_for_token(token)  # a session token resolves to no user
    if user is None and request.cookies.get(COOKIE):
        user = await auth.user_for_token(request.cookies[COOKIE])
    request[_USER_ON_REQUEST] = user
    return user


async def require_role(request: web.Request, *roles: Role) -> User:
    user = await caller(request)
    if user is None:
        raise ApiError(401, "login required", code="login_required")
    if user.role not in roles:
        raise ApiError(403, f"requires role {' or '.join(roles)}", code="forbidden")
    return user


async def exam_manager(request: web.Request) -> tuple[User, str]:
    """The caller, an admin or the proctor owning `{exam_id}` (401, then 404 for an unknown exam, then 403)."""
    user = await require_role(request, "proctor", "admin")
    exam_id = request.match_info["exam_id"]
    if not exam_id.isalnum() or await request.app[STORE].exam_field(exam_id, "exam_id") is None:
        raise ApiError(404, "unknown exam", {"exam_id": exam_id[:64]})
    if not await request.app[AUTH].can_see_exam(user, exam_id):
        raise ApiError(403, "this exam belongs to another proctor")
    return user, exam_id


def require_session_token(request: web.Request, sid: str) -> None:
    """This session's own token, and nothing else."""
    token = bearer(request.headers.get("Authorization"))
    if token is None:
        raise ApiError(401, "session token required (Authorization: Bearer <token>)", code="session_token_required")
    request.app[AUTH].verify_session(token, sid)


def presented_tokens(request: web.Request) -> list[str]:
    """Every account credential the request carries (bearer token, cookie), e.g. to revoke them."""
    return [t for t in (bearer(request.headers.get("Authorization")), request.cookies.get(COOKIE)) if t]


def token_session(request: web.Request) -> str | None:
    """The session id of a valid session token in the Authorization header, else None."""
    token = bearer(request.headers.get("Authorization"))
    return None if token is None else request.app[AUTH].session_of(token)


async def session_or_role(request: web.Request, sid: str, *roles: Role) -> User | None:
    """A valid token for this session, or a user with one of `roles`. Returns the user, if any."""
    token = bearer(request.headers.get("Authorization"))
    if token is not None:
        try:
            request.app[AUTH].verify_session(token, sid)
            return None
        except ApiError as exc:
            session_error = exc
    else:
        session_error = ApiError(401, "session token or login required", code="credentials_required")
    user = await caller(request)
    if user is None:
        raise session_error
    if user.role not in roles:
        raise ApiError(403, f"requires this session's token or role {' or '.join(roles)}", code="forbidden")
    return user


# -- one session ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionAccess:
    session_id: str
    #: the session's hash as stored
    session: dict[str, str]
    #: the user (proctor or admin); None when the caller presented the session's own token
    user: User | None


async def session_access(request: web.Request, *roles: Role, token: bool = True) -> SessionAccess:
    """Authorise a call on `{session_id}`: its token (when `token`), or a user with one of `roles`
    who may see the session (an admin, or the proctor owning its exam)."""
    sid = session_id(request)
    user = await session_or_role(request, sid, *roles) if token else await require_role(request, *roles)
    data = await request.app[STORE].session(sid)
    if data is None:
        raise ApiError(404, "unknown session", {"session_id": sid}, code="unknown_session")
    await require_visible(request, user, data)
    return SessionAccess(sid, data, user)


async def require_visible(request: web.Request, user: User | None, session: Mapping[str, str],
                          message: str = NOT_YOURS) -> None:
    """A user must be an admin or the proctor owning the session's (or document's) exam."""
    if user is not None and not await request.app[AUTH].can_see_session(user, session):
        raise ApiError(403, message, code="forbidden")


# -- documents shared across sessions (screen info, calibration) ---------------------------------
#: the identity scheme of a logged-in candidate account; an integration's asserted identity has its own
#: (`apikey:<key_id>:<candidate_id>`, `server.accounts.apikeys.identity_of`), resolved in `session_grant`
ACCOUNT_IDENTITY = "account:"


async def session_identity(request: web.Request) -> str | None:
    """The authenticated identity a new session speaks for, stored as the session hash's `identity`:
    the logged-in candidate account making the request, else None (a `candidate_id` typed with a join
    code proves nothing, so such a session's documents stay its own: `server.store.keys.document_owner`)."""
    user = await caller(request)
    if user is not None and user.role == "candidate":
        return ACCOUNT_IDENTITY + user.user_id
    return None


# -- integrations: API keys and the join tokens they mint (docs/integration.md) -------------------
async def api_key_caller(request: web.Request) -> ApiKey | None:
    """The API key of an integrator's backend (`Authorization: Bearer vk_<id>.<secret>`): None when the
    request carries no API key, 401 when it carries a wrong or revoked one."""
    token = bearer(request.headers.get("Authorization"))
    if token is None or not is_api_key(token):
        return None
    return await request.app[APIKEYS].authenticate(token)


async def require_api_key(request: web.Request) -> ApiKey:
    key = await api_key_caller(request)
    if key is None:
        raise ApiError(401, "API key required (Authorization: Bearer vk_<key_id>.<secret>)")
    return key


async def session_grant(request: web.Request, body: CreateSession, now: float) -> SessionGrant:
    """The exam and identity of a new session: a join token's (its API key's candidate); an API key's
    caller's, on the body's `exam_id` in the key's scope, for the body's `candidate_id`; else the
    exam of the join code (or the demo) and the logged-in candidate account, if any."""
    if body.join_token is not None:
        if body.join_code is not None:
            raise ApiError(400, "give a join token or a join code, not both")
        return await request.app[JOIN_TOKENS].redeem(body.join_token, body.candidate_id, now, body.exam_id)
    key = await api_key_caller(request)
    if key is not None:
        if body.exam_id is None or body.join_code is not None:
            raise ApiError(400, "with an API key, name the exam (exam_id) and no join code")
        key.require_exam(body.exam_id)
        return SessionGrant(body.exam_id, identity_of(key.key_id, body.candidate_id))
    return SessionGrant(None, await session_identity(request))


@dataclass(frozen=True)
class DocumentAccess:
    """The session whose documents a call reads, and who asked."""

    session_id: str
    session: dict[str, str]
    #: the proctor or admin; None for the session's own token
    user: User | None

    @property
    def owner(self) -> str:
        return document_owner(self.session_id, self.session.get("identity"))


async def document_access(request: web.Request, cid: str) -> DocumentAccess:
    """Whose documents about candidate `cid` a call may read: with a session token, that session's
    (when it is `cid`'s session); for a proctor or admin, those of the session named by the
    `session_id` query parameter (which they must be allowed to see, and which must be `cid`'s)."""
    store = request.app[STORE]
    sid = token_session(request)
    if sid is not None:
        session = await store.session(sid)
        if session is None or session.get("candidate_id") != cid:
            raise ApiError(403, "this session token belongs to another candidate", code="forbidden")
        return DocumentAccess(sid, session, None)
    user = await require_role(request, "proctor", "admin")
    sid = request.query.get("session_id", "")
    if not sid:
        raise ApiError(400, "name the session whose documents to read (?session_id=)",
                       {"hint": "documents belong to a session's identity, not to a candidate id"}, code="missing_parameter")
    session = await store.session(sid) if is_session_id(sid) else None
    if session is None:
        raise ApiError(404, "unknown session", {"session_id": sid[:64]}, code="unknown_session")
    await require_visible(request, user, session)
    if session.get("candidate_id") != cid:
        raise ApiError(404, "this session is not this candidate's", {"candidate_id": cid, "session_id": sid}, code="unknown_session")
    return DocumentAccess(sid, session, user)


async def candidate_document(request: web.Request, key_of: Callable[[str], str], what: str) -> dict[str, Any]:
    """The stored document `key_of(owner)` (screen info, calibration) that `{candidate_id}`'s session
    reads: its identity's, or its own without one (`document_access` says which session and who may).
    A user must also be allowed to see the exam the document was written from."""
    cid = candidate_id(request)
    access = await document_access(request, cid)
    doc = await request.app[STORE].get_json(key_of(access.owner))
    if doc is None:
        raise ApiError(404, f"no {what} stored for this candidate", {"candidate_id": cid}, code="not_found")
    await require_visible(request, access.user, {"exam_id": str(doc.get("exam_id") or "")}, made_elsewhere(what))
    return doc


# -- listings -------------------------------------------------------------------------------------
class Visibility:
    """`can_see_exam` for one caller over many sessions (a listing, a dashboard's stream), memoised
    per exam: exam owners do not change, and a stream asks about the same few sessions every second."""

    #: a dashboard open for days forgets its session -> exam map past this size, to keep memory flat
    MAX_REMEMBERED = 10_000

    def __init__(self, request: web.Request, user: User) -> None:
        self.auth, self.store, self.user = request.app[AUTH], request.app[STORE], user
        self._exam_of: dict[str, str] = {}
        self._allowed: dict[str, bool] = {}

    @classmethod
    async def of_caller(cls, request: web.Request, *roles: Role) -> Visibility:
        """The caller's visibility; 401/403 unless they have one of `roles`."""
        return cls(request, await require_role(request, *roles))

    async def allows(self, sid: str | None, exam_id: str | None = None) -> bool:
        if self.user.role == "admin":
            return True
        if not sid:
            return False
        exam_id = exam_id or self._exam_of.get(sid) or await self.store.session_field(sid, "exam_id")
        if not exam_id:
            return False
        if len(self._exam_of) > self.MAX_REMEMBERED:
            self._exam_of.clear()
        self._exam_of[sid] = exam_id
        if exam_id not in self._allowed:
            self._allowed[exam_id] = await self.auth.can_see_exam(self.user, exam_id)
        return self._allowed[exam_id]
