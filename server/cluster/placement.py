"""Routing signaling calls to the worker that holds the session's peer (scale-out).

Every worker serves the whole HTTP API on the shared public port (SO_REUSEPORT: the kernel spreads
connections over the workers of one machine; a load balancer does it across machines). Most calls
can be answered by any worker from Redis. Two kinds cannot, and their routes say so (the HTTP layer
declares them, see `server.http.affinity`, and hands this module a `PlacementOf` that reads the
declaration of the matched route):

* `NewSession`: `POST /api/sessions` is placed on the least-loaded live worker (sessions / capacity,
  from the heartbeats in Redis; ties stay here), so the peer that follows lands where there is room;
* `OnSessionWorker`: calls on one session (offer, resume, end, watch, status, delete) must reach the
  worker whose aiortc peer holds it (the session hash's `worker`).

When the right worker is another live one, the call is proxied to its internal URL (from its
heartbeat) and the answer is relayed unchanged; `X-Vigil-Forwarded` stops loops. When that worker is
dead, the call is handled here: a `resume` then restores the session's risk state from Redis and the
candidate continues on this worker with the same event stream.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from server.live.manager import SessionManager
from server.store.store import Store

log = logging.getLogger(__name__)

FORWARDED = "X-Vigil-Forwarded"
#: headers that describe one hop, not the request
_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}
PROXY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class NewSession:
    """The call creates a session: run it on the least-loaded worker."""


@dataclass(frozen=True)
class OnSessionWorker:
    """The call acts on `session_id`'s peer: run it on the worker that holds it."""

    session_id: str


Placement = NewSession | OnSessionWorker
#: what the matched route needs, or None when any worker can answer it
PlacementOf = Callable[[web.Request], Placement | None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _load(row: dict[str, str]) -> float:
    try:
        return float(row.get("sessions") or 0) / max(1.0, float(row.get("capacity") or 1))
    except ValueError:
        return 1.0


class WorkerRouter:
    """The routing middleware and the HTTP client it proxies with (created on first use, closed by `close`)."""

    def __init__(self, manager: SessionManager, store: Store, placement_of: PlacementOf) -> None:
        self.manager, self.store, self.placement_of = manager, store, placement_of
        self._client: aiohttp.ClientSession | None = None

    async def target_url(self, placement: Placement) -> str | None:
        """The internal URL of the worker to proxy to, or None to handle the call here."""
        if isinstance(placement, NewSession):
            workers = {wid: row for wid, row in (await self.store.workers()).items() if row.get("url")}
            if len(workers) < 2:
                return None
            me = self.manager.worker_id
            best = min(workers, key=lambda wid: (_load(workers[wid]), wid != me, wid))
            return None if best == me else workers[best]["url"]
        data = await self.store.session(placement.session_id)
        owner = (data or {}).get("worker")
        if not owner or owner == self.manager.worker_id:
            return None
        row = (await self.store.workers()).get(owner)
        return row.get("url") or None if row else None  # a dead owner: take the call over here

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        placement = None if request.headers.get(FORWARDED) else self.placement_of(request)
        url = None if placement is None else await self.target_url(placement)
        if url is None:
            return await handler(request)
        try:
            return await self._proxy(request, url)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("proxy to %s failed: %s; handling here", url, exc)
            return await handler(request)

    async def _proxy(self, request: web.Request, url: str) -> web.Response:
        if self._client is None:
            self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PROXY_TIMEOUT_S))
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        headers[FORWARDED] = self.manager.worker_id
        # a redirect is the browser's to follow (an LTI launch's 303 to its page, with the page's cookie)
        async with self._client.request(request.method, url + request.path_qs, data=body, headers=headers,
                                        allow_redirects=False) as resp:
            payload = await resp.read()
            out = web.Response(status=resp.status, body=payload)
            for key in ("Content-Type", "Set-Cookie", "Location"):
                for value in resp.headers.getall(key, []):
                    out.headers.add(key, value)
            return out

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
