"""User accounts: argon2 password hashes in Redis, account JWTs, logout, and a login rate limit.

Records live in Redis through `server.store.records.AccountRecords` (keys and lifetimes: `server.store.keys`).

Account tokens are HS256 JWTs signed with the app's signing secret, `scope: "user"` so a session
token can never pass for a user (and the reverse: `SessionTokens.verify` refuses this scope). The
role is read from the user's hash on every request, so a deleted account or a changed role takes
effect at once; the token only proves who the caller is.

Hashing runs in its own bounded pool (`hashing.py`), never on the event loop or the analysis threads.
Logins are limited per email and address (failures), per address and overall (attempts), and
registrations per address, so a flood with random e-mails is refused before it costs a hash.
"""
from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from server.accounts.auth import Role, User
from server.accounts.hashing import DUMMY_HASH, PasswordHashing
from server.core.metrics import REJECTED
from server.protocol.errors import ApiError
from server.store.records import AccountRecords

USER_SCOPE = "user"
ROLES: tuple[Role, ...] = ("admin", "proctor", "candidate")
#: account tokens last a working day; logout revokes one early.
USER_TOKEN_TTL_S = 12 * 3600
#: failed logins allowed per email and client address within LOGIN_WINDOW_S, then 429.
LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW_S = 300
MIN_PASSWORD_LEN = 8
MAX_PASSWORD_LEN = 256  # argon2 takes any length; a cap keeps a hostile body from costing CPU
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s.]{1,63}$")

#: login attempts (right or wrong) per client address, and by everyone, per minute; a login
#: flood is refused here before it costs an argon2 hash.
LOGINS_PER_ADDRESS_PER_MIN = 60
LOGINS_PER_MIN = 600
#: self-registrations per client address per hour.
REGISTRATIONS_PER_ADDRESS_PER_HOUR = 30


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise ApiError(400, "invalid email address", code="invalid_email")
    return email


def check_password(password: str) -> None:
    if not MIN_PASSWORD_LEN <= len(password) <= MAX_PASSWORD_LEN:
        raise ApiError(400, f"password must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters", code="invalid_password")


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: int


class Accounts:
    def __init__(self, records: AccountRecords, secret: str, hashing: PasswordHashing | None = None) -> None:
        self.records = records
        self.secret = secret
        #: the owner of the hashing pool is whoever made it (the app); a CLI run makes its own
        self.hashing = hashing if hashing is not None else PasswordHashing()

    # -- users ---------------------------------------------------------------------------------
    async def create_user(self, email: str, password: str, role: Role, now: float | None = None,
                          *, client: str | None = None) -> User:
        """A new account; `client` (a request's address) puts it under the registration limit."""
        email = normalise_email(email)
        check_password(password)
        if role not in ROLES:
            raise ApiError(400, f"role must be one of {', '.join(ROLES)}", code="invalid_role")
        if client is not None:
            await self._limit("register", client, REGISTRATIONS_PER_ADDRESS_PER_HOUR, 3600)
        password_hash = await self.hashing.hash(password)
        user_id = uuid.uuid4().hex
        created = await self.records.create_user(user_id, email, {
            "user_id": user_id, "email": email, "role": role, "password_hash": password_hash,
            "created_at": str(now if now is not None else time.time())})
        if not created:
            raise ApiError(409, "an account with this email exists", code="email_taken")
        return User(user_id, email, role)

    async def get_user(self, user_id: str) -> User | None:
        data = await self.records.user_fields(user_id, "email", "role")
        if data[0] is None or data[1] not in ROLES:
            return None
        return User(user_id, data[0], data[1])  # type: ignore[arg-type]

    async def profile(self, user: User) -> dict[str, Any]:
        created = await self.records.user_field(user.user_id, "created_at")
        return {"user_id": user.user_id, "email": user.email, "role": user.role,
                "created_at": float(created) if created else None}

    # -- login ---------------------------------------------------------------------------------
    async def login(self, email: str, password: str, client: str, now: float) -> tuple[User, IssuedToken]:
        """Check the password under the rate limit; 401 on a wrong pair, 429 past the limit."""
        email = email.strip().lower()
        failures = await self.records.login_failures(email, client)
        if failures >= LOGIN_MAX_FAILURES:
            REJECTED.labels("login").inc()
            retry = max(1, await self.records.login_failures_ttl(email, client))
            raise ApiError(429, "too many failed logins; try again later", {"retry_after_s": retry}, code="too_many_logins", retry_after_s=retry)
        await self._limit("login", client, LOGINS_PER_ADDRESS_PER_MIN, 60)
        await self._limit("login", "all", LOGINS_PER_MIN, 60)
        user_id = await self.records.user_id_for_email(email) if len(password) <= MAX_PASSWORD_LEN else None
        stored = await self.records.user_field(user_id, "password_hash") if user_id else None
        ok = await self.hashing.verify(stored or DUMMY_HASH, password[:MAX_PASSWORD_LEN])
        user = await self.get_user(user_id) if ok and stored and user_id else None
        if user is None:
            await self.records.add_login_failure(email, client, LOGIN_WINDOW_S)
            raise ApiError(401, "wrong email or password", code="wrong_credentials")
        await self.records.clear_login_failures(email, client)
        if self.hashing.needs_rehash(stored or ""):
            new_hash = await self.hashing.hash(password)
            await self.records.set_user_field(user.user_id, "password_hash", new_hash)
        return user, self.issue(user, now)

    async def _limit(self, name: str, subject: str, limit: int, window_s: int) -> None:
        if await self.records.rates.count(name, subject, window_s) > limit:
            REJECTED.labels(name).inc()
            raise ApiError(429, f"too many {name} attempts; try again later", {"retry_after_s": window_s}, code="rate_limited", retry_after_s=window_s)

    # -- tokens --------------------------------------------------------------------------------
    def issue(self, user: User, now: float) -> IssuedToken:
        exp = int(now + USER_TOKEN_TTL_S)
        claims = {"sub": user.user_id, "scope": USER_SCOPE, "jti": uuid.uuid4().hex,
                  "iat": int(now), "exp": exp}
        return IssuedToken(jwt.encode(claims, self.secret, algorithm="HS256"), exp)

    def claims(self, token: str) -> dict[str, Any] | None:
        if not token.isascii():  # PyJWT cannot encode it: not a token of ours
            return None
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"],
                                options={"require": ["exp", "sub", "jti"]})
        except jwt.PyJWTError:
            return None
        return claims if claims.get("scope") == USER_SCOPE else None

    async def user_for_token(self, token: str) -> User | None:
        claims = self.claims(token)
        if claims is None or await self.records.is_revoked(str(claims["jti"])):
            return None
        return await self.get_user(str(claims["sub"]))

    async def revoke(self, token: str, now: float) -> bool:
        claims = self.claims(token)
        if claims is None:
            return False
        ttl = int(claims["exp"] - now)
        if ttl > 0:
            await self.records.revoke(str(claims["jti"]), ttl)
        return True
