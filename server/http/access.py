"""Who may touch one session: resolved and authorised once, for every session-scoped route.

A session-scoped route names the callers it accepts (the session's own token, proctors, admins);
`session_access` checks the id's shape, the credentials, that the session exists, and that a proctor
owns its exam. The rule lives here and nowhere else.
"""
from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from server.accounts.auth import Role, User
from server.http.keys import AUTH, STORE
from server.protocol.errors import ApiError

NOT_YOURS = "this session belongs to another proctor's exam"


def session_id(request: web.Request) -> str:
    """The `{session_id}` of the path; anything that cannot be a session id is an unknown session."""
    sid = request.match_info["session_id"]
    if not (0 < len(sid) <= 64 and sid.isalnum()):
        raise ApiError(404, "unknown session", {"session_id": sid[:64]})
    return sid


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
    auth = request.app[AUTH]
    if token:
        user = await auth.session_or_role(request, sid, *roles)
    else:
        user = await auth.require_role(request, *roles)
    data = await request.app[STORE].session(sid)
    if data is None:
        raise ApiError(404, "unknown session", {"session_id": sid})
    await require_visible(request, user, data)
    return SessionAccess(sid, data, user)


async def require_visible(request: web.Request, user: User | None, session: dict[str, str],
                          message: str = NOT_YOURS) -> None:
    """A user must be an admin or the proctor owning the session's (or document's) exam."""
    if user is not None and not await request.app[AUTH].can_see_session(user, session):
        raise ApiError(403, message)
