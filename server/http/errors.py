"""The one error shape of the HTTP API: `{"error": "...", "detail": ...}`, never a stack trace."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from server.core.metrics import REJECTED
from server.core.strict_json import dumps, loads
from server.protocol.errors import ApiError
from server.store.errors import StoreUnavailable

log = logging.getLogger(__name__)

#: statuses that mean "a limit said no", counted in vigil_rejected{limit=...}
LIMIT_NAMES = {413: "body_size"}


def json_response(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON answer, strict (`core.strict_json.dumps`: never `Infinity` or `NaN`)."""
    return web.json_response(data, status=status, headers=headers, dumps=dumps)


def error_response(status: int, error: str, detail: Any = None) -> web.Response:
    return json_response({"error": error, "detail": detail}, status=status)


def _validation_detail(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()]


@web.middleware
async def error_middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        response = await handler(request)
    except ApiError as exc:
        if exc.status in LIMIT_NAMES:
            REJECTED.labels(LIMIT_NAMES[exc.status]).inc()
        return error_response(exc.status, exc.error, exc.detail)
    except ValidationError as exc:
        return error_response(400, "invalid request body", _validation_detail(exc))
    except web.HTTPRequestEntityTooLarge as exc:
        REJECTED.labels("body_size").inc()
        return error_response(413, "request body too large", {"max_bytes": exc.max_size if hasattr(exc, "max_size") else None})
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason or "error", None)
    except StoreUnavailable as exc:  # the store is away: a retryable answer, not a crash
        log.warning("store unavailable on %s %s: %s", request.method, request.path, exc)
        return error_response(503, "store unavailable, retry shortly", None)
    except Exception:  # the client gets the shape, the log gets the trace
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal error", None)
    if response.status >= 400 and response.content_type != "application/json":
        # aiohttp's own answers (static files, unmatched routes) come back as plain text
        return error_response(response.status, getattr(response, "reason", None) or "error", None)
    return response


async def read_body(request: web.Request, max_bytes: int, expected: str) -> bytes:
    """The raw body, with 413 past `max_bytes` and 400 when it is empty (`expected` names what was)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, "request body too large", {"max_bytes": max_bytes})
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ApiError(413, "request body too large", {"max_bytes": max_bytes})
    if not raw:
        raise ApiError(400, f"request body is empty; {expected} expected")
    return raw


async def read_json(request: web.Request, max_bytes: int) -> Any:
    """The body as JSON, with 413 past `max_bytes` and 400 for anything that is not JSON."""
    raw = await read_body(request, max_bytes, "JSON")
    try:
        return loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError, as are Infinity/NaN
        raise ApiError(400, "malformed JSON", str(exc)) from None
    except RecursionError:  # "[[[[..." thousands deep: not a body any client of ours sends
        raise ApiError(400, "malformed JSON", "nested too deeply") from None
