"""The one error of the HTTP API: a status, a stable code, a message and an optional detail.

Raised anywhere below the HTTP layer (sessions, accounts, calibration); `server.http.errors` turns it
into an RFC 9457 problem (`application/problem+json`) at the edge:
`{"type", "title", "status", "code", "error", "detail"}`. `code` is what clients match on: it never
changes, unlike the English `error`. Every code is one record in `ERROR_CODES` (its title), documented
in docs/http-api.md ("Errors"; a test keeps the two in step).
"""
from __future__ import annotations

from typing import Any

#: RFC 9457 `type` of a code: a tag URI (RFC 4151), an identifier that is not fetched; the codes are
#: documented in docs/http-api.md.
PROBLEM_TYPE_PREFIX = "tag:vigil,2026:problem:"

#: every code -> its title (RFC 9457: the same for every occurrence of the problem type).
ERROR_CODES: dict[str, str] = {
    # generic, one per status: aiohttp's own refusals and errors no site names more precisely
    "bad_request": "Bad request",
    "unauthorized": "Authentication required",
    "forbidden": "Not allowed",
    "not_found": "Not found",
    "method_not_allowed": "Method not allowed",
    "conflict": "Conflict with the current state",
    "body_too_large": "Request body too large",
    "unsupported_media_type": "Unsupported media type",
    "header_too_large": "Request header too large",
    "rate_limited": "Too many requests",
    "internal_error": "Internal error",
    "unavailable": "Temporarily unavailable",
    # request bodies and parameters
    "empty_body": "Request body is empty",
    "invalid_json": "Request body is not JSON",
    "invalid_body": "Request body does not match its schema",
    "invalid_parameter": "Invalid query parameter",
    "missing_parameter": "Missing query parameter",
    "invalid_offer": "Unusable SDP offer",
    "invalid_screen": "Implausible screen description",
    "invalid_policy": "Invalid risk policy",
    "unknown_event": "Unknown event ids",
    # credentials and access
    "login_required": "Login required",
    "credentials_required": "Session token or login required",
    "session_token_required": "Session token required",
    "invalid_token": "Invalid token",
    "token_expired": "Token expired",
    "wrong_credentials": "Wrong email or password",
    "cross_site": "Cross-site request refused",
    "join_code_required": "Join code required",
    # accounts
    "invalid_email": "Invalid email address",
    "invalid_password": "Password of the wrong length",
    "invalid_role": "Unknown role",
    "email_taken": "Email already registered",
    # resources and their state
    "unknown_session": "Unknown session",
    "unknown_candidate": "Unknown candidate",
    "unknown_join_code": "Unknown join code",
    "session_ended": "Session has ended",
    "session_not_live": "Session is not live",
    "session_not_ended": "Session has not ended",
    "session_has_peer": "Session already has a peer",
    "nothing_to_resume": "Nothing to resume",
    "wrong_worker": "Session is hosted on another worker",
    "join_code_unavailable": "Could not allocate a join code",
    "feature_off": "Feature switched off",
    "check_closed": "System check is over",
    # limits and retries (429 and 503 carry Retry-After)
    "session_limit": "Worker at its session limit",
    "too_many_watchers": "Too many watchers",
    "too_many_logins": "Too many failed logins",
    "too_many_clients": "Too many WebSocket clients",
    "too_many_check_frames": "Too many system-check frames",
    "video_not_live": "Video not live yet",
    "store_unavailable": "Store unavailable",
    "busy": "Server busy",
}

#: the code of an error that names none: aiohttp's refusals (unmatched route, wrong method...)
STATUS_CODES: dict[int, str] = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "body_too_large", 415: "unsupported_media_type", 429: "rate_limited",
    431: "header_too_large", 500: "internal_error", 503: "unavailable",
}
#: seconds in `Retry-After` of a 429 or 503 that does not say
DEFAULT_RETRY_AFTER_S = 5


def code_for_status(status: int) -> str:
    return STATUS_CODES.get(status, "internal_error" if status >= 500 else "bad_request")


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: Any = None, *, code: str | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail
        self.code = code or code_for_status(status)
        if self.code not in ERROR_CODES:
            raise ValueError(f"undeclared error code {self.code!r}: add it to ERROR_CODES")
        #: seconds the client should wait before retrying (a 429 or 503; `Retry-After`)
        self.retry_after_s = retry_after_s
