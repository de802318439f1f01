"""Session-scoped bearer tokens: a JWT bound to one session id, with an expiry."""
from __future__ import annotations

from dataclasses import dataclass

import jwt

from server.protocol.errors import ApiError

SESSION_SCOPE = "session"


@dataclass(frozen=True)
class SessionTokens:
    secret: str
    ttl_s: int

    def issue(self, session_id: str, now: float) -> str:
        claims = {"sid": session_id, "scope": SESSION_SCOPE, "iat": int(now), "exp": int(now + self.ttl_s)}
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def verify(self, token: str, session_id: str) -> None:
        """Raise 401 when the token is bad or expired, 403 when it belongs to another session."""
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], options={"require": ["exp", "sid"]})
        except jwt.ExpiredSignatureError:
            raise ApiError(401, "session token expired", code="token_expired") from None
        except jwt.PyJWTError:
            raise ApiError(401, "invalid session token", code="invalid_token") from None
        if claims.get("scope") != SESSION_SCOPE:
            raise ApiError(401, "not a session token", code="invalid_token")
        if claims.get("sid") != session_id:
            raise ApiError(403, "token belongs to another session", code="forbidden")


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    value = value.strip()
    # a token is base64url and dots: anything else (a non-ASCII byte) is no credential, a 401
    return value if scheme.lower() == "bearer" and value and value.isascii() else None
