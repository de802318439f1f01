"""Which worker a route must run on, declared on the route itself.

With several workers, a call that creates a session goes to the least-loaded one, and a call that
acts on a session's peer to the worker that holds it (`server.cluster.placement` proxies them). A
handler says which it is with a decorator under its route:

    @routes.post("/api/sessions/{session_id}/offer")
    @on_session_worker
    async def offer(request): ...

`placement_of` reads the declaration of the route a request matched; the app hands it to the
placement middleware (cluster does not import http).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from server.cluster.placement import NewSession, OnSessionWorker, Placement
from server.http.access import is_session_id

H = TypeVar("H", bound=Callable[[web.Request], Awaitable[web.StreamResponse]])

_NEW_SESSION: set[Callable[..., object]] = set()
_ON_SESSION_WORKER: set[Callable[..., object]] = set()


def new_session(handler: H) -> H:
    """The handler creates a session: it runs on the least-loaded worker."""
    _NEW_SESSION.add(handler)
    return handler


def on_session_worker(handler: H) -> H:
    """The handler acts on `{session_id}`'s peer: it runs on the worker that holds it."""
    _ON_SESSION_WORKER.add(handler)
    return handler


def placement_of(request: web.Request) -> Placement | None:
    """What the matched route declared; None when any worker can answer (or the id is malformed,
    which every worker answers with the same 404)."""
    handler = request.match_info.handler
    if handler in _NEW_SESSION:
        return NewSession()
    if handler in _ON_SESSION_WORKER:
        sid = request.match_info.get("session_id", "")
        return OnSessionWorker(sid) if is_session_id(sid) else None
    return None
