"""The Learner's launch page pass: what lets the browser that launched reload its page: pure, no I/O.

A launch is a one-time form post (its id_token and nonce launch once), so the launch answers with a
303 to `GET /lti/candidate/{session_id}` and this pass, in a cookie on exactly that path, carries what
the page shows: the session's id and token, the candidate id, the LMS name and the activity's title.
Reloading the page reads the pass again and shows the same session; `<vigil-proctor>` then resumes it.

The pass is a JWT signed with the server's secret under its own scope, so it is neither a session
token nor an account token, and no field of it can be edited: the name and title shown are the ones the
platform signed. It holds the session token, which the page hands to the element anyway, and expires
with it. The URL names only the session id, which the API's paths carry too: a URL copied from a log, a
history or a screen opens nothing without the cookie.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import jwt

from server.protocol.errors import ApiError

#: the cookie's name; its path is the page's own (`/lti/candidate/{session_id}`), so two launches in one
#: browser (two activities in two tabs) keep a pass each
COOKIE = "vigil_lti_page"
SCOPE = "lti-candidate-page"


@dataclass(frozen=True)
class CandidatePage:
    """What a Learner's launch page shows."""

    session_id: str
    token: str
    candidate_id: str
    name: str
    title: str


def issue_pass(secret: str, page: CandidatePage, now: float, ttl_s: int) -> str:
    """The signed pass for `page`, valid as long as its session token (`ttl_s` from `now`)."""
    return jwt.encode({**asdict(page), "scope": SCOPE, "exp": int(now + ttl_s)}, secret, algorithm="HS256")


def read_pass(secret: str, value: str | None, session_id: str) -> CandidatePage:
    """The page a pass opens, for the session in the URL: 401 without a valid pass (another browser, an
    expired or edited one), 403 for a pass of another session."""
    if not value:
        raise ApiError(401, "this page opens in the browser that launched it: open the activity again from the course",
                       code="login_required")
    try:
        claims = jwt.decode(value, secret, algorithms=["HS256"], options={"require": ["exp", "session_id"]})
    except jwt.PyJWTError:
        raise ApiError(401, "this launch page has expired: open the activity again from the course",
                       code="login_required") from None
    if claims.get("scope") != SCOPE:
        raise ApiError(401, "not a launch page pass", code="login_required")
    if claims.get("session_id") != session_id:
        raise ApiError(403, "this launch page belongs to another session", code="forbidden")
    return CandidatePage(**{k: str(claims.get(k) or "") for k in CandidatePage.__dataclass_fields__})
