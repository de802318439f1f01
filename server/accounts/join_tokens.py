"""Join tokens: a short-lived signed invitation an integrator's backend hands to a candidate's browser.

The browser presents it to `POST /api/sessions` as `join_token`, instead of a join code. It is an HS256
JWT (the app's signing secret, `scope: "join"`, so it never passes for a session or account token)
naming the API key that minted it, the exam and the candidate; the session it makes has the key's
asserted identity (`apikeys.identity_of`). It works once: its `jti` is claimed in Redis when it is
redeemed (kept until the token would expire), so a leaked link cannot start a second session. The
minting key must still be active when the token is redeemed: revoking a key voids its tokens.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import jwt

from server.accounts.apikeys import ApiKey, ApiKeys, identity_of
from server.protocol.errors import ApiError

JOIN_SCOPE = "join"
DEFAULT_TTL_S = 300
MAX_TTL_S = 3600


@dataclass(frozen=True)
class SessionGrant:
    """What a new session may be: its exam (None: resolved from the body's join code or the demo) and
    the authenticated identity it speaks for (None: its documents are its own)."""

    exam_id: str | None
    identity: str | None


@dataclass(frozen=True)
class JoinTokens:
    secret: str
    keys: ApiKeys

    def issue(self, key: ApiKey, exam_id: str, candidate_id: str, ttl_s: int, now: float) -> dict[str, object]:
        key.require_exam(exam_id)
        ttl = max(1, min(MAX_TTL_S, ttl_s))
        claims = {"scope": JOIN_SCOPE, "kid": key.key_id, "exam": exam_id, "sub": candidate_id,
                  "jti": uuid.uuid4().hex, "iat": int(now), "exp": int(now) + ttl}
        return {"join_token": jwt.encode(claims, self.secret, algorithm="HS256"), "exam_id": exam_id,
                "candidate_id": candidate_id, "expires_at": int(now) + ttl}

    async def redeem(self, token: str, candidate_id: str, now: float, exam_id: str | None = None) -> SessionGrant:
        """The grant of a valid, unused join token for `candidate_id` (and `exam_id` when given); 401 bad,
        expired or its key revoked, 403 for another candidate or exam, 409 when already used. A refused
        token is not spent."""
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"],
                                options={"require": ["exp", "jti", "kid", "exam", "sub"]})
        except jwt.ExpiredSignatureError:
            raise ApiError(401, "join token expired") from None
        except jwt.PyJWTError:
            raise ApiError(401, "invalid join token") from None
        if claims.get("scope") != JOIN_SCOPE:
            raise ApiError(401, "not a join token")
        key = await self.keys.active(str(claims["kid"]))
        if key is None or not key.allows(str(claims["exam"])):
            raise ApiError(401, "the API key that issued this join token was revoked")
        if claims["sub"] != candidate_id:
            raise ApiError(403, "this join token was issued for another candidate")
        if exam_id not in (None, claims["exam"]):
            raise ApiError(403, "this join token is for another exam")
        if not await self.keys.records.claim_join_token(str(claims["jti"]), int(claims["exp"] - now) + 1):
            raise ApiError(409, "this join token was already used")
        return SessionGrant(str(claims["exam"]), identity_of(key.key_id, candidate_id))
