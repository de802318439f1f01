"""The one error shape of the HTTP API, never a stack trace: an RFC 9457 problem.

`application/problem+json` with `type`, `title`, `status` and the stable `code`
(`server.protocol.errors.ERROR_CODES`), `error` (this occurrence's message, the key clients read before)
and `detail` (RFC 9457: always a human-readable string, the message with what is known of the
occurrence). Structured data goes in two typed extension members, always present: `errors` (the body's
fields that failed validation, `[{"field", "problem"}]`) and `context` (an object: limits, ids, hints).
A 429 or 503 carries `Retry-After`, a 405 its `Allow`, a 401 `WWW-Authenticate: Bearer`.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.core.metrics import REJECTED
from server.core.strict_json import dumps, loads
from server.http.keys import STORE
from server.protocol.errors import (
    DEFAULT_RETRY_AFTER_S,
    ERROR_CODES,
    PROBLEM_TYPE_PREFIX,
    ApiError,
    code_for_status,
)
from server.store.errors import StoreUnavailable

log = logging.getLogger(__name__)

#: statuses that mean "a limit said no", counted in vigil_rejected{limit=...}
LIMIT_NAMES = {413: "body_size"}
PROBLEM_JSON = "application/problem+json"
#: the keys of every error body
ERROR_KEYS = frozenset({"type", "title", "status", "code", "error", "detail", "errors", "context"})
#: statuses that tell the client to come back later: they always carry Retry-After
RETRYABLE = (429, 503)


def json_response(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON answer, strict (`core.strict_json.dumps`: never `Infinity` or `NaN`); a model (the route's
    answer model, `server.protocol.answers`) is dumped here, at the edge, once."""
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    return web.json_response(data, status=status, headers=headers, dumps=dumps)


def problem_members(error: str, data: Any) -> tuple[str, dict[str, Any]]:
    """An error's `detail` string and its `context` object, from the data it was raised with: text is
    appended to the message, a list of problems (strings) too and kept as `context.problems`, an object
    becomes `context`."""
    if data is None:
        return error, {}
    if isinstance(data, str):
        return f"{error}: {data}", {}
    if isinstance(data, Mapping):
        known = [f"{key} {_words(value)}" for key, value in data.items() if value is not None]
        return f"{error} ({', '.join(known)})" if known else error, dict(data)
    if isinstance(data, list | tuple):
        return f"{error}: {'; '.join(str(d) for d in data)}", {"problems": list(data)}
    return f"{error}: {data}", {"value": data}


def _words(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)


def error_response(status: int, error: str, data: Any = None, *, code: str | None = None,
                   retry_after_s: float | None = None, allow: str | None = None,
                   errors: list[dict[str, str]] | None = None) -> web.Response:
    """The problem answer; `code` defaults to the status's generic one, `data` is the raise site's
    structured detail (`problem_members`), `errors` the fields that failed validation."""
    code = code or code_for_status(status)
    detail, context = problem_members(error, data)
    if errors:
        detail = f"{error}: " + "; ".join(f"{e['field']}: {e['problem']}" for e in errors)
    body = {"type": PROBLEM_TYPE_PREFIX + code, "title": ERROR_CODES[code], "status": status, "code": code,
            "error": error, "detail": detail, "errors": errors or [], "context": context}
    headers = {"Content-Type": PROBLEM_JSON}
    if status in RETRYABLE:
        headers["Retry-After"] = str(max(1, round(retry_after_s or DEFAULT_RETRY_AFTER_S)))
    if status == 401:  # RFC 9110 §11.6.1: a 401 names its scheme (a cookie login works too)
        headers["WWW-Authenticate"] = 'Bearer realm="vigil"'
    if allow is not None:
        headers["Allow"] = allow
    return web.Response(text=dumps(body), status=status, headers=headers)


def api_error_response(exc: ApiError) -> web.Response:
    return error_response(exc.status, exc.error, exc.detail, code=exc.code, retry_after_s=exc.retry_after_s)


def _validation_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()]


@web.middleware
async def error_middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        response = await handler(request)
    except ApiError as exc:
        if exc.status in LIMIT_NAMES:
            REJECTED.labels(LIMIT_NAMES[exc.status]).inc()
        return api_error_response(exc)
    except ValidationError as exc:
        return error_response(400, "invalid request body", code="invalid_body", errors=_validation_errors(exc))
    except web.HTTPRequestEntityTooLarge as exc:
        REJECTED.labels("body_size").inc()
        return error_response(413, "request body too large", {"max_bytes": exc.max_size if hasattr(exc, "max_size") else None})
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason or "error", None, allow=exc.headers.get("Allow"))
    except StoreUnavailable as exc:  # the store is away: a retryable answer, not a crash
        log.warning("store unavailable on %s %s: %s", request.method, request.path, exc)
        request.app[STORE].errors += 1  # counted in vigil_redis_errors_total
        return error_response(503, "store unavailable, retry shortly", None, code="store_unavailable")
    except Exception:  # the client gets the shape, the log gets the trace
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal error", None)
    if response.status >= 400 and response.content_type not in ("application/json", PROBLEM_JSON):
        # aiohttp's own answers (static files, unmatched routes) come back as plain text
        return error_response(response.status, getattr(response, "reason", None) or "error", None,
                              allow=response.headers.get("Allow"))
    return response


async def read_body(request: web.Request, max_bytes: int, expected: str) -> bytes:
    """The raw body, with 413 past `max_bytes` and 400 when it is empty (`expected` names what was)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, "request body too large", {"max_bytes": max_bytes}, code="body_too_large")
    # `request.read()` keeps the body on the request: a handler that runs after the placement proxy
    # already read it (a forward that failed, handled here) gets the same bytes, not an empty stream.
    # It stops at the app's `client_max_size` (413 past it); the route's own limit is checked here.
    raw = await request.read()
    if len(raw) > max_bytes:
        raise ApiError(413, "request body too large", {"max_bytes": max_bytes}, code="body_too_large")
    if not raw:
        raise ApiError(400, f"request body is empty; {expected} expected", code="empty_body")
    return raw


async def read_json(request: web.Request, max_bytes: int) -> Any:
    """The body as JSON, with 413 past `max_bytes` and 400 for anything that is not JSON."""
    raw = await read_body(request, max_bytes, "JSON")
    try:
        return loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError, as are Infinity/NaN
        raise ApiError(400, "malformed JSON", str(exc), code="invalid_json") from None
    except RecursionError:  # "[[[[..." thousands deep: not a body any client of ours sends
        raise ApiError(400, "malformed JSON", "nested too deeply", code="invalid_json") from None

