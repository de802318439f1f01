"""Who is calling: a session (its scoped token) or a user account (JWT, bearer or cookie).

Route handlers ask for what they need (`require_session`, `require_session_or_role`, `require_role`);
the answer is 401 without credentials and 403 with the wrong ones.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from server.accounts.tokens import SessionTokens, bearer
from server.protocol.errors import ApiError

Role = Literal["admin", "proctor", "candidate"]


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    role: Role


class Authenticator:
    """Resolves requests to a session id or a user. Accounts plug in with `user_resolver`."""

    def __init__(self, tokens: SessionTokens) -> None:
        self.tokens = tokens
        self.user_resolver = None  # async (request) -> User | None, set by the accounts module
        #: async (exam_id) -> owner user id | None, set by the exams module
        self.exam_owner: Callable[[str], Awaitable[str | None]] | None = None

    async def user(self, request: web.Request) -> User | None:
        if self.user_resolver is None:
            return None
        return await self.user_resolver(request)

    def require_session(self, request: web.Request, session_id: str) -> None:
        token = bearer(request.headers.get("Authorization"))
        if token is None:
            raise ApiError(401, "session token required (Authorization: Bearer <token>)")
        self.tokens.verify(token, session_id)

    async def require_role(self, request: web.Request, *roles: Role) -> User:
        user = await self.user(request)
        if user is None:
            raise ApiError(401, "login required")
        if user.role not in roles:
            raise ApiError(403, f"requires role {' or '.join(roles)}")
        return user

    async def session_or_role(self, request: web.Request, session_id: str, *roles: Role) -> User | None:
        """A valid token for this session, or a user with one of `roles`. Returns the user, if any."""
        token = bearer(request.headers.get("Authorization"))
        if token is not None:
            try:
                self.tokens.verify(token, session_id)
                return None
            except ApiError as exc:
                session_error = exc
        else:
            session_error = ApiError(401, "session token or login required")
        user = await self.user(request)
        if user is None:
            raise session_error
        if user.role not in roles:
            raise ApiError(403, f"requires this session's token or role {' or '.join(roles)}")
        return user

    async def can_see_session(self, user: User, session_hash: Mapping[str, str]) -> bool:
        """Admins see every session; a proctor sees the sessions of exams they own; nobody else."""
        if user.role == "admin":
            return True
        if user.role != "proctor" or self.exam_owner is None:
            return False
        exam_id = session_hash.get("exam_id") or ""
        return bool(exam_id) and await self.exam_owner(exam_id) == user.user_id
