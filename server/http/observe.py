"""Every HTTP request, observed once: counted and timed by route, and written to the access log.

The outermost middleware, so it sees the status the client got (after `error_middleware` turned an
exception into an answer). Routes are labelled by their template (`/api/sessions/{session_id}`), and
requests that matched none as `unmatched`, so a scan of random paths cannot grow the label set.

The access log (`vigil.access`, one record per request) carries a request id, the one the client sent
in `X-Request-Id` when it is a plain token, else a fresh one, returned in the answer's `X-Request-Id`,
and the session id when the request names one (path or `?session_id=`). It logs the path, never the
query string (the seed WebSocket takes `?token=`). Probes and scrapes are logged at DEBUG: they come
every few seconds and say nothing.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from server.core.metrics import HTTP_ERRORS, HTTP_REQUESTS, HTTP_SECONDS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
access_log = logging.getLogger("vigil.access")
REQUEST_ID_HEADER = "X-Request-Id"
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: polled by machines; their access lines are DEBUG
QUIET_PATHS = frozenset({"/livez", "/readyz", "/health", "/metrics"})


def route_label(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def request_id_of(request: web.Request) -> str:
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    return sent if _CLIENT_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex[:16]


def session_id_of(request: web.Request) -> str | None:
    sid = request.match_info.get("session_id") or request.query.get("session_id")
    return sid[:64] if sid else None


def record(request: web.Request, request_id: str, status: int, seconds: float) -> None:
    route = route_label(request)
    HTTP_REQUESTS.labels(route, request.method, str(status)).inc()
    HTTP_SECONDS.labels(route, request.method).observe(seconds)
    if status >= 400:
        HTTP_ERRORS.labels(str(status)).inc()
    level = logging.DEBUG if request.path in QUIET_PATHS else logging.INFO
    access_log.log(level, "%s %s %d %.1f ms", request.method, request.path[:200], status, seconds * 1000.0,
                   extra={"request_id": request_id, "session_id": session_id_of(request), "status": status,
                          "duration_ms": round(seconds * 1000.0, 1), "remote": request.remote})


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = request_id_of(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects and the like, re-raised by error_middleware
        exc.headers[REQUEST_ID_HEADER] = request_id
        record(request, request_id, exc.status, time.perf_counter() - started)
        raise
    if not response.prepared:  # a stream (SSE, WebSocket) has sent its headers already
        response.headers[REQUEST_ID_HEADER] = request_id
    record(request, request_id, response.status, time.perf_counter() - started)
    return response
