"""The aiohttp application: routes of SPEC.md's HTTP API, pages, health and metrics."""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from pipeline.audio.vad import SileroVad
from pipeline.runner import Pipeline
from server.auth import Authenticator
from server.config import Settings
from server.errors import ApiError, error_middleware, read_json
from server.messages import CreateSession, SessionDescription
from server.metrics import REGISTRY, SESSIONS_CREATED, SESSIONS_LIVE
from server.routes_accounts import COOKIE, register_account_routes
from server.routes_calibration import register_calibration_routes
from server.routes_exams import register_exam_routes
from server.routes_live import register_live_routes
from server.reports import register_report_routes
from server.secrets import signing_secret
from server.jitter import install_marker_jitter_buffer
from server.openapi import register_openapi_routes
from server.origin import origin_middleware
from server.routing import routing_middleware
from server.sessions import SessionManager
from server.store import Store
from server.tokens import SessionTokens
from server.turn import ice_servers
from server.ws_baseline import register_ws_baseline
from server.watch import register_watch_route

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
STORE: web.AppKey[Store] = web.AppKey("store", Store)
SESSIONS: web.AppKey[SessionManager] = web.AppKey("sessions", SessionManager)
AUTH: web.AppKey[Authenticator] = web.AppKey("auth", Authenticator)
PIPELINE: web.AppKey[Pipeline] = web.AppKey("pipeline", Pipeline)
VAD: web.AppKey[object] = web.AppKey("vad", object)


def _sid(request: web.Request) -> str:
    sid = request.match_info["session_id"]
    if not (0 < len(sid) <= 64 and sid.isalnum()):
        raise ApiError(404, "unknown session", {"session_id": sid[:64]})
    return sid


async def health(request: web.Request) -> web.Response:
    app = request.app
    redis_ok = await app[STORE].ping()
    models = app[PIPELINE].health()
    models["vad"] = _vad_health(app[VAD])
    body = {
        "status": "ok" if redis_ok else "degraded",
        "redis": "ok" if redis_ok else "unreachable",
        "models": models,
        "worker": app[SESSIONS].worker_id,
        "sessions": app[SESSIONS].connected_count(),
        "env": app[SETTINGS].env,
    }
    return web.json_response(body, status=200 if redis_ok else 503)


def _vad_health(vad: object) -> str:
    if vad is None:
        return "missing: no voice activity detector configured"
    if getattr(vad, "loaded", False):
        return "loaded"
    return f"missing: {getattr(vad, 'error', None) or 'not loaded'}"


async def metrics(request: web.Request) -> web.Response:
    SESSIONS_LIVE.set(request.app[SESSIONS].connected_count())
    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def create_session(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    body = CreateSession.model_validate(await read_json(request, settings.max_body_bytes))
    result = await request.app[SESSIONS].create(body, time.time())
    SESSIONS_CREATED.inc()
    return web.json_response(result, status=201)


async def _offer(request: web.Request, *, resume: bool) -> web.Response:
    sid = _sid(request)
    request.app[AUTH].require_session(request, sid)
    desc = SessionDescription.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    answer = await request.app[SESSIONS].offer(sid, desc, resume=resume)
    return web.json_response(answer)


async def offer(request: web.Request) -> web.Response:
    return await _offer(request, resume=False)


async def resume(request: web.Request) -> web.Response:
    return await _offer(request, resume=True)


async def _visible(request: web.Request, sid: str, user: Any) -> None:
    """A user (not a session token) must be an admin or the proctor owning the session's exam."""
    if user is not None and not await request.app[AUTH].can_see_session(user, await request.app[SESSIONS].require(sid)):
        raise ApiError(403, "this session belongs to another proctor's exam")


async def get_session(request: web.Request) -> web.Response:
    sid = _sid(request)
    user = await request.app[AUTH].session_or_role(request, sid, "proctor", "admin")
    await _visible(request, sid, user)
    status = await request.app[SESSIONS].status(sid)
    if user is None:  # the candidate: fresh ICE servers (TURN credentials expire) for a resume
        status["ice_servers"] = ice_servers(request.app[SETTINGS], sid, time.time())
    return web.json_response(status)


async def end_session(request: web.Request) -> web.Response:
    sid = _sid(request)
    await _visible(request, sid, await request.app[AUTH].session_or_role(request, sid, "proctor", "admin"))
    return web.json_response(await request.app[SESSIONS].end(sid, time.time()))


async def session_events(request: web.Request) -> web.Response:
    sid = _sid(request)
    await _visible(request, sid, await request.app[AUTH].require_role(request, "proctor", "admin"))
    return web.json_response({"session_id": sid, "events": await request.app[STORE].events(sid)})


PAGES = {"/": "exam.html", "/exam.html": "exam.html", "/dashboard.html": "dashboard.html"}


async def page(request: web.Request) -> web.StreamResponse:
    path = STATIC_DIR / PAGES[request.path]
    if not path.is_file():
        raise ApiError(404, "page not found")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


def build_app(*, settings: Settings, store: Store, pipeline: Pipeline, worker_id: str,
              vad: SileroVad | None = None) -> web.Application:
    """The app around loaded models (`pipeline.load()` and `vad.load()` done by the caller)."""
    install_marker_jitter_buffer()  # frames reach the decoder one frame interval sooner
    executor = ThreadPoolExecutor(max_workers=settings.analysis_threads, thread_name_prefix="analysis")
    # one lane for the slow 1-2 Hz stages, so they never hold up a frame's per-frame analysis and
    # never take more than one core from it; under load they run less often (their age shows it)
    background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="background-stages")
    tokens = SessionTokens(signing_secret(settings), settings.session_token_ttl)
    manager = SessionManager(settings=settings, store=store, pipeline=pipeline, executor=executor,
                             tokens=tokens, worker_id=worker_id, vad=vad, background=background)
    router_mw = routing_middleware(manager, store)
    app = web.Application(middlewares=[error_middleware, origin_middleware(COOKIE), router_mw],
                          client_max_size=settings.max_body_bytes)
    app.on_cleanup.append(router_mw.close)  # type: ignore[attr-defined]
    app[SETTINGS] = settings
    app[STORE] = store
    app[PIPELINE] = pipeline
    app[AUTH] = Authenticator(tokens)
    app[SESSIONS] = manager
    app[VAD] = vad

    async def on_startup(app: web.Application) -> None:
        app[SESSIONS].start()

    async def on_cleanup(app: web.Application) -> None:
        await app[SESSIONS].close()
        executor.shutdown(wait=False, cancel_futures=True)
        background.shutdown(wait=False, cancel_futures=True)

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    r = app.router
    r.add_get("/health", health)
    r.add_get("/metrics", metrics)
    r.add_post("/api/sessions", create_session)
    r.add_post("/api/sessions/{session_id}/offer", offer)
    r.add_post("/api/sessions/{session_id}/resume", resume)
    r.add_get("/api/sessions/{session_id}", get_session)
    r.add_post("/api/sessions/{session_id}/end", end_session)
    r.add_get("/api/sessions/{session_id}/events", session_events)
    register_ws_baseline(app, executor)  # the seed's WebSocket API, a benchmark baseline
    register_report_routes(app)
    register_account_routes(app, settings=settings, redis=store.redis, secret=tokens.secret, auth=app[AUTH])
    register_exam_routes(app, settings=settings, redis=store.redis, auth=app[AUTH])
    register_live_routes(app, store=store, sessions=app[SESSIONS], auth=app[AUTH])
    register_watch_route(app, settings=settings, sessions=app[SESSIONS], auth=app[AUTH])
    register_calibration_routes(app, store=store, auth=app[AUTH])
    register_openapi_routes(app)
    for route in PAGES:
        r.add_get(route, page)
    r.add_static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False)
    return app
