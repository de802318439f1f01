"""Who a credential names and what a user may see: the rules, with no HTTP in them.

A credential is a session token (a JWT bound to one session) or an account token (a user). A user
sees a session, or a document written from it, when they are an admin or the proctor owning its
exam (or one of its other proctors). `server/http/access.py` reads the credentials off a request and applies
these rules.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import jwt

from server.accounts.tokens import SESSION_SCOPE, SessionTokens

Role = Literal["admin", "proctor", "candidate"]


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    role: Role


class Authenticator:
    """Resolves credentials to a session id or a user, and decides what a user may see.

    Accounts and exams plug in as functions (`user_for_token`, `exam_proctored_by`): they import this
    module for `User`, so it cannot import them.
    """

    def __init__(self, tokens: SessionTokens, *, user_for_token: Callable[[str], Awaitable[User | None]],
                 exam_proctored_by: Callable[[str, str], Awaitable[bool]]) -> None:
        self.tokens = tokens
        self.user_for_token = user_for_token
        self.exam_proctored_by = exam_proctored_by

    def verify_session(self, token: str, session_id: str) -> None:
        """Raise 401 for a bad or expired session token, 403 for another session's."""
        self.tokens.verify(token, session_id)

    def session_of(self, token: str) -> str | None:
        """The session id a valid session token names; None for anything else (no error detail)."""
        try:
            claims = jwt.decode(token, self.tokens.secret, algorithms=["HS256"], options={"require": ["exp", "sid"]})
        except jwt.PyJWTError:
            return None
        sid = claims.get("sid")
        return sid if claims.get("scope") == SESSION_SCOPE and isinstance(sid, str) else None

    async def can_see_exam(self, user: User, exam_id: str) -> bool:
        """Admins see every exam's sessions; a proctor those of exams they own or were made a proctor of
        (`Exams.proctored_by`); nobody else any."""
        if user.role == "admin":
            return True
        if user.role != "proctor":
            return False
        return bool(exam_id) and await self.exam_proctored_by(exam_id, user.user_id)

    async def can_see_session(self, user: User, session_hash: Mapping[str, str]) -> bool:
        return await self.can_see_exam(user, session_hash.get("exam_id") or "")
