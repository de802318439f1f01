"""The aiohttp application: wires the worker's objects into the HTTP layer and owns their lifetimes.

Every long-lived object is created in one `cleanup_ctx` step and closed by it, in reverse order:
executors, the session manager, watchers, the live fan-out, the placement proxy.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from pipeline.audio.vad import SileroVad
from pipeline.runner import Pipeline
from server.accounts.auth import Authenticator
from server.accounts.secrets import signing_secret
from server.accounts.tokens import SessionTokens
from server.cluster.jobs import worker_jobs
from server.cluster.placement import routing_middleware
from server.core.config import Settings
from server.http.errors import error_middleware
from server.http.keys import ANALYSIS_EXECUTOR, AUTH, PIPELINE, SESSIONS, SETTINGS, STORE, VAD, WATCHERS
from server.http.openapi import register_openapi_routes
from server.http.origin import origin_middleware
from server.http.pages import add_pages
from server.http.routes import health, reports, sessions, watch
from server.http.routes.accounts import COOKIE, register_account_routes
from server.http.routes.calibration import register_calibration_routes
from server.http.routes.exams import register_exam_routes
from server.http.routes.face_ws import register_ws_baseline
from server.http.routes.live import register_live_routes
from server.live.manager import SessionManager
from server.live.watchers import Watchers
from server.store.store import Store

log = logging.getLogger(__name__)


def build_app(*, settings: Settings, store: Store, pipeline: Pipeline, worker_id: str,
              vad: SileroVad | None = None) -> web.Application:
    """The app around loaded models (`pipeline.load()` and `vad.load()` done by the caller)."""
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
    app[SETTINGS] = settings
    app[STORE] = store
    app[PIPELINE] = pipeline
    app[AUTH] = Authenticator(tokens)
    app[SESSIONS] = manager
    app[VAD] = vad
    app[ANALYSIS_EXECUTOR] = executor
    app[WATCHERS] = Watchers()

    async def lifetimes(app: web.Application) -> AsyncIterator[None]:
        jobs = worker_jobs(manager)
        jobs.start()
        yield
        await app[WATCHERS].close()
        await jobs.close()
        await manager.close()
        await router_mw.close(app)  # type: ignore[attr-defined]
        executor.shutdown(wait=False, cancel_futures=True)
        background.shutdown(wait=False, cancel_futures=True)

    app.cleanup_ctx.append(lifetimes)
    for table in (health.routes, sessions.routes, reports.routes, watch.routes):
        app.router.add_routes(table)
    register_ws_baseline(app)  # the seed's WebSocket API, a benchmark baseline
    register_account_routes(app, settings=settings, store=store, secret=tokens.secret, auth=app[AUTH])
    register_exam_routes(app, settings=settings, store=store, auth=app[AUTH])
    register_live_routes(app, store=store, sessions=manager, auth=app[AUTH])
    register_calibration_routes(app, store=store, auth=app[AUTH])
    register_openapi_routes(app)
    add_pages(app)
    return app
