"""Which calls placement moves to another worker is declared on the routes (`server.http.affinity`):
exactly session creation, and the calls on one session's peer (what the URL regex matched before)."""
from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

from aiohttp.test_utils import make_mocked_request

from server.app import build_app
from server.cluster.placement import NewSession, OnSessionWorker
from server.core.config import Settings
from server.http.affinity import placement_of
from server.http.versions import versioned
from server.store.store import Store

SID = "0123456789abcdef0123456789abcdef"
UNVERSIONED = {
    ("POST", "/api/sessions"): NewSession(),
    **{(method, f"/api/sessions/{SID}{tail}"): OnSessionWorker(SID) for method, tail in (
        ("POST", "/offer"), ("POST", "/resume"), ("POST", "/end"), ("POST", "/watch"), ("GET", ""), ("DELETE", ""),
        ("POST", "/whip"), ("DELETE", "/whip"), ("POST", "/message"), ("POST", "/check-frame"))},
    # WHIP offers and ends on the peer's worker too; a proctor's message goes out on its data channel; the
    # system check's frames meet one per-session rate limit on the session's worker
}
#: the /api/v1/ paths are the same handlers, placed the same way (server.http.versions)
EXPECTED = {**UNVERSIONED, **{(method, versioned(path)): found for (method, path), found in UNVERSIONED.items()}}


async def placement(app, method: str, path: str):  # type: ignore[no-untyped-def]
    match = await app.router.resolve(make_mocked_request(method, path, app=app))
    return placement_of(SimpleNamespace(match_info=match))  # type: ignore[arg-type]  # all it reads


async def test_exactly_the_declared_routes_are_placed(tmp_path: Path) -> None:
    # never started: nothing here talks to Redis or runs a model
    app = build_app(settings=Settings(data_dir=tmp_path), store=Store("redis://127.0.0.1:1"),
                    pipeline=None, worker_id="w")  # type: ignore[arg-type]
    placed = {}
    for route in app.router.routes():
        canonical = route.resource.canonical if route.resource is not None else ""
        if route.method == "HEAD" or "{" not in canonical and not canonical.startswith("/api"):
            continue
        path = re.sub(r"\{[a-z_]+\}", lambda m: SID if m.group() == "{session_id}" else "x", canonical)
        found = await placement(app, route.method, path)
        if found is not None:
            placed[(route.method, path)] = found
    assert placed == EXPECTED


async def test_a_malformed_session_id_is_answered_where_it_lands(tmp_path: Path) -> None:
    app = build_app(settings=Settings(data_dir=tmp_path), store=Store("redis://127.0.0.1:1"),
                    pipeline=None, worker_id="w")  # type: ignore[arg-type]
    assert await placement(app, "POST", "/api/sessions/not-a-session-id!/offer") is None
    assert await placement(app, "GET", f"/api/sessions/{SID}/events") is None
