"""Every HTTP request, observed once: counted and timed by route template, method and status.

The outermost middleware, so it sees the status the client got (after `error_middleware` turned an
exception into an answer). Routes are labelled by their template (`/api/sessions/{session_id}`), and
requests that matched none as `unmatched`, so a scan of random paths cannot grow the label set.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from server.core.metrics import HTTP_ERRORS, HTTP_REQUESTS, HTTP_SECONDS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_label(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def record(request: web.Request, status: int, seconds: float) -> None:
    route = route_label(request)
    HTTP_REQUESTS.labels(route, request.method, str(status)).inc()
    HTTP_SECONDS.labels(route, request.method).observe(seconds)
    if status >= 400:
        HTTP_ERRORS.labels(str(status)).inc()


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects and the like, re-raised by error_middleware
        record(request, exc.status, time.perf_counter() - started)
        raise
    record(request, response.status, time.perf_counter() - started)
    return response
