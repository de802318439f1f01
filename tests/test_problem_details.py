"""Every error is an RFC 9457 problem with a stable `code`; 429/503 carry Retry-After, 405 its Allow.

One table of representative errors against a live server (each row: the request, the status, the code,
and the headers that must come with it), the same checks on the errors no live request reaches cheaply
(503s), and the code registry against its documentation and the raise sites.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.core.strict_json import loads
from server.http.errors import ERROR_KEYS, PROBLEM_JSON, api_error_response
from server.protocol.errors import ERROR_CODES, PROBLEM_TYPE_PREFIX, ApiError
from tests.test_accounts import PASSWORD, make_user

REPO = Path(__file__).resolve().parents[1]
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    status: int
    code: str
    kw: dict[str, Any] = field(default_factory=dict)
    #: header -> a pattern its value must match (None: must be absent)
    headers: dict[str, str | None] = field(default_factory=dict)


NO_RETRY = {"Retry-After": None, "Allow": None}
CASES = [
    Case("POST", "/api/sessions", 400, "invalid_json", {"data": b"{not json", "headers": JSON}, NO_RETRY),
    Case("POST", "/api/sessions", 400, "empty_body", {"data": b"", "headers": JSON}),
    Case("POST", "/api/sessions", 400, "invalid_body", {"json": {"candidate_id": "a b/c"}}),
    Case("POST", "/api/sessions", 413, "body_too_large", {"data": b"{" + b" " * 20_000 + b"}", "headers": JSON}),
    Case("GET", "/api/sessions/0123456789abcdef", 401, "credentials_required"),
    Case("POST", "/api/sessions/0123456789abcdef/offer", 401, "session_token_required",
         {"json": {"sdp": "v=0 xxxxxxxxxx", "type": "offer"}}),
    Case("GET", "/api/auth/profile", 401, "login_required"),
    Case("GET", "/api/nothing-here", 404, "not_found", {}, NO_RETRY),
    Case("DELETE", "/health", 405, "method_not_allowed", {}, {"Allow": r"\bGET\b", "Retry-After": None}),
    Case("PUT", "/api/sessions", 405, "method_not_allowed", {}, {"Allow": r"^(?=.*\bGET\b)(?=.*\bPOST\b)"}),
    Case("POST", "/api/sessions", 404, "unknown_join_code", {"json": {"candidate_id": "c", "join_code": "NOPE-NOPE"}}),
]


def assert_problem(status: int, content_type: str, text: str, expected_status: int, code: str) -> dict[str, Any]:
    assert (status, content_type) == (expected_status, PROBLEM_JSON), (status, content_type, text)
    body = loads(text)
    assert set(body) == ERROR_KEYS, body
    assert (body["status"], body["code"], body["type"]) == (status, code, PROBLEM_TYPE_PREFIX + code), body
    assert body["title"] == ERROR_CODES[code] and isinstance(body["error"], str) and body["error"]
    # RFC 9457 §3.1.4: `detail` is text; structured data is in the typed extension members
    assert isinstance(body["detail"], str) and body["detail"].startswith(body["error"]), body
    assert isinstance(body["errors"], list) and isinstance(body["context"], dict), body
    return body


def assert_headers(headers: Any, expected: dict[str, str | None], status: int) -> None:
    if status in (429, 503):
        expected = {"Retry-After": r"^[1-9][0-9]*$", **expected}
    if status == 401:
        expected = {"WWW-Authenticate": r"^Bearer\b", **expected}
    for name, pattern in expected.items():
        value = headers.get(name)
        assert (value is None) if pattern is None else (value is not None and re.search(pattern, value)), \
            (name, value, pattern)


async def test_representative_errors_are_problems_with_codes(vigil_server_factory) -> None:
    server = await vigil_server_factory(max_body_bytes=16384)
    async with aiohttp.ClientSession() as http:
        for case in CASES:
            async with http.request(case.method, server.url + case.path, **case.kw) as resp:
                assert_problem(resp.status, resp.content_type, await resp.text(), case.status, case.code)
                assert_headers(resp.headers, case.headers, resp.status)


async def test_a_rate_limit_says_when_to_retry(vigil_server) -> None:
    email = await make_user(vigil_server.store, "proctor")
    async with aiohttp.ClientSession() as http:
        for _ in range(5):
            async with http.post(vigil_server.url + "/api/auth/login", json={"email": email, "password": "guess guess"}) as r:
                assert_problem(r.status, r.content_type, await r.text(), 401, "wrong_credentials")
        async with http.post(vigil_server.url + "/api/auth/login", json={"email": email, "password": PASSWORD}) as r:
            body = assert_problem(r.status, r.content_type, await r.text(), 429, "too_many_logins")
            assert_headers(r.headers, {}, 429)
            assert int(r.headers["Retry-After"]) == body["context"]["retry_after_s"]


@pytest.mark.parametrize(("error", "retry_after"), [
    (ApiError(503, "the candidate's video is not live yet; retry shortly", {"status": "connecting"},
              code="video_not_live", retry_after_s=2), "2"),
    (ApiError(503, "too many sign-ins at once; retry shortly", code="busy", retry_after_s=0.2), "1"),
    (ApiError(429, "a limit without its own delay"), "5"),
])
def test_retryable_errors_carry_retry_after(error: ApiError, retry_after: str) -> None:
    response = api_error_response(error)
    assert response.text is not None
    assert_problem(response.status, response.content_type, response.text, error.status, error.code)
    assert response.headers["Retry-After"] == retry_after


@pytest.mark.parametrize(("error", "detail", "context"), [
    (ApiError(413, "request body too large", {"max_bytes": 1024}), "request body too large (max_bytes 1024)",
     {"max_bytes": 1024}),
    (ApiError(400, "implausible screen description", ["screen_w 20000 px is implausible"], code="invalid_screen"),
     "implausible screen description: screen_w 20000 px is implausible",
     {"problems": ["screen_w 20000 px is implausible"]}),
    (ApiError(400, "malformed JSON", "nested too deeply", code="invalid_json"), "malformed JSON: nested too deeply", {}),
    (ApiError(404, "unknown session"), "unknown session", {}),
])
def test_detail_is_text_and_data_is_in_context(error: ApiError, detail: str, context: dict[str, Any]) -> None:
    response = api_error_response(error)
    assert response.text is not None
    body = assert_problem(response.status, response.content_type, response.text, error.status, error.code)
    assert (body["detail"], body["context"], body["errors"]) == (detail, context, [])


async def test_validation_errors_are_listed_in_errors(vigil_server) -> None:
    async with aiohttp.ClientSession() as http, \
            http.post(vigil_server.url + "/api/sessions", json={"candidate_id": "a b/c"}) as resp:
        body = assert_problem(resp.status, resp.content_type, await resp.text(), 400, "invalid_body")
    assert body["errors"][0]["field"] == "candidate_id" and body["errors"][0]["problem"], body
    assert body["detail"] == f"invalid request body: candidate_id: {body['errors'][0]['problem']}"


def test_an_undeclared_code_is_refused_where_it_is_raised() -> None:
    with pytest.raises(ValueError, match="undeclared error code"):
        ApiError(400, "x", code="no_such_code")


def test_every_code_is_documented_and_every_raised_code_declared() -> None:
    docs = (REPO / "docs" / "http-api.md").read_text()
    errors_section = docs[docs.index("## Errors"):]
    undocumented = sorted(c for c in ERROR_CODES if f"`{c}`" not in errors_section)
    assert not undocumented, f"document these codes in docs/http-api.md, Errors: {undocumented}"
    raised = {m for f in (REPO / "server").rglob("*.py") for m in re.findall(r'\bcode="([a-z_]+)"', f.read_text())}
    assert raised and not raised - set(ERROR_CODES), sorted(raised - set(ERROR_CODES))
