"""Routing signaling calls to the worker that holds the session's peer (scale-out).

Every worker serves the whole HTTP API on the shared public port (SO_REUSEPORT: the kernel spreads
connections over the workers of one machine; a load balancer does it across machines). Most calls
can be answered by any worker from Redis. Two kinds cannot:

* `POST /api/sessions` is placed on the least-loaded live worker (sessions / capacity, from the
  heartbeats in Redis; ties stay here), so the peer that follows lands where there is room;
* calls on one session (`offer`, `resume`, `end`, `watch`, `GET /api/sessions/{id}`) must reach the
  worker whose aiortc peer holds it (the session hash's `worker`).

When the right worker is another live one, the call is proxied to its internal URL (from its
heartbeat) and the answer is relayed unchanged; `X-Vigil-Forwarded` stops loops. When that worker is
dead, the call is handled here: a `resume` then restores the session's risk state from Redis and the
candidate continues on this worker with the same event stream.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from server.live.manager import SessionManager
from server.store.store import Store

log = logging.getLogger(__name__)

FORWARDED = "X-Vigil-Forwarded"
_SESSION_CALL = re.compile(r"^/api/sessions/([0-9a-f]{32})(?:/(offer|resume|end|watch))?$")
#: headers that describe one hop, not the request
_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}
PROXY_TIMEOUT_S = 30.0


def _load(row: dict[str, str]) -> float:
    try:
        return float(row.get("sessions") or 0) / max(1.0, float(row.get("capacity") or 1))
    except ValueError:
        return 1.0


async def target_worker_url(request: web.Request, manager: SessionManager, store: Store) -> str | None:
    """The internal URL to proxy this request to, or None to handle it here."""
    path = request.path
    if request.method == "POST" and path == "/api/sessions":
        workers = {wid: row for wid, row in (await store.workers()).items() if row.get("url")}
        if len(workers) < 2:
            return None
        best = min(workers, key=lambda wid: (_load(workers[wid]), wid != manager.worker_id, wid))
        return None if best == manager.worker_id else workers[best]["url"]
    match = _SESSION_CALL.match(path)
    if match is None:
        return None
    data = await store.session(match.group(1))
    owner = (data or {}).get("worker")
    if not owner or owner == manager.worker_id:
        return None
    row = (await store.workers()).get(owner)
    return row.get("url") or None if row else None  # a dead owner: take the call over here


def routing_middleware(manager: SessionManager, store: Store) -> Callable[..., Awaitable[web.StreamResponse]]:
    client: dict[str, aiohttp.ClientSession] = {}

    @web.middleware
    async def route(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if request.headers.get(FORWARDED) or not request.path.startswith("/api/sessions"):
            return await handler(request)
        url = await target_worker_url(request, manager, store)
        if url is None:
            return await handler(request)
        if "http" not in client:
            client["http"] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PROXY_TIMEOUT_S))
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        headers[FORWARDED] = manager.worker_id
        try:
            async with client["http"].request(request.method, url + request.path_qs, data=body,
                                              headers=headers) as resp:
                payload = await resp.read()
                out = web.Response(status=resp.status, body=payload)
                for key in ("Content-Type", "Set-Cookie"):
                    for value in resp.headers.getall(key, []):
                        out.headers.add(key, value)
                return out
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("proxy to %s failed: %s; handling here", url, exc)
            return await handler(request)

    async def close(_app: web.Application) -> None:
        if "http" in client:
            await client["http"].close()

    route.close = close  # type: ignore[attr-defined]
    return route
