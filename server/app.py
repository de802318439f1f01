"""The aiohttp application: wires the worker's objects into the HTTP layer and owns their lifetimes.

Every long-lived object is created here, stored under its key (`server.http.keys`), started by the
one `cleanup_ctx` step and closed by it, in reverse order: the live fan-out, watchers, the session
manager, the placement proxy, executors. Route modules only read the keys.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from pipeline.audio.vad import SileroVad
from pipeline.runner import Pipeline
from server.accounts.apikeys import ApiKeys
from server.accounts.auth import Authenticator
from server.accounts.exams import Exams
from server.accounts.hashing import PasswordHashing
from server.accounts.join_tokens import JoinTokens
from server.accounts.secrets import signing_secret
from server.accounts.tokens import SessionTokens
from server.accounts.users import Accounts
from server.accounts.webhooks import Webhooks
from server.cluster.fanout import LiveFanout
from server.cluster.jobs import Jobs, PeriodicJob, worker_jobs
from server.cluster.placement import WorkerRouter
from server.cluster.webhooks import PERIOD_S as WEBHOOK_PERIOD_S
from server.cluster.webhooks import WebhookDelivery
from server.core.config import Settings
from server.http import aiohttp_private, openapi, pages
from server.http.access import COOKIE
from server.http.affinity import placement_of
from server.http.errors import error_middleware
from server.http.keys import (
    ACCOUNTS,
    ANALYSIS_EXECUTOR,
    APIKEYS,
    AUTH,
    BASELINE_SOCKETS,
    EXAMS,
    FANOUT,
    HTTP_SESSIONS,
    JOIN_TOKENS,
    PIPELINE,
    SESSIONS,
    SETTINGS,
    STORE,
    VAD,
    WATCHERS,
    WEBHOOKS,
)
from server.http.legacy import calibration as legacy_calibration
from server.http.legacy import interview, posture, proctoring
from server.http.legacy.state import HttpSessions
from server.http.observe import observe_middleware
from server.http.origin import origin_middleware
from server.http.routes import (
    accounts,
    apikeys,
    calibration,
    exams,
    face_ws,
    health,
    live,
    reports,
    review,
    screen,
    sessions,
    watch,
    webhooks,
    whip,
)
from server.live.manager import SessionManager
from server.live.watchers import Watchers
from server.store.store import Store

log = logging.getLogger(__name__)

#: every route of the API, one table per resource; `face_ws` is the seed's WebSocket API, a benchmark baseline;
#: then the original backends' APIs (`server/http/legacy/`, each switched by VIGIL_LEGACY_APIS)
ROUTE_TABLES = (health.routes, sessions.routes, reports.routes, review.routes, watch.routes, accounts.routes,
                exams.routes, live.routes, screen.routes, calibration.routes, face_ws.routes, whip.routes, openapi.routes,
                pages.routes, apikeys.routes, webhooks.routes, interview.routes, posture.routes, proctoring.routes,
                legacy_calibration.routes)


def build_app(*, settings: Settings, store: Store, pipeline: Pipeline, worker_id: str,
              vad: SileroVad | None = None) -> web.Application:
    """The app around loaded models (`pipeline.load()` and `vad.load()` done by the caller)."""
    aiohttp_private.install()  # requests aiohttp refuses before routing get the JSON error shape too
    executor = ThreadPoolExecutor(max_workers=settings.analysis_threads, thread_name_prefix="analysis")
    # one lane for the slow 1-2 Hz stages, so they never hold up a frame's per-frame analysis and
    # never take more than one core from it; under load they run less often (their age shows it)
    background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="background-stages")
    tokens = SessionTokens(signing_secret(settings), settings.session_token_ttl)
    manager = SessionManager(settings=settings, store=store, pipeline=pipeline, executor=executor,
                             tokens=tokens, worker_id=worker_id, vad=vad, background=background)
    hashing = PasswordHashing()  # its own thread: a login flood never takes the analysis threads
    user_accounts, exam_records = Accounts(store.accounts, tokens.secret, hashing), Exams(store.exams)
    router = WorkerRouter(manager, store, placement_of)
    fanout, watchers = LiveFanout(store), Watchers()
    http_sessions = HttpSessions(store, pipeline, settings)
    app = web.Application(middlewares=[observe_middleware, error_middleware, origin_middleware(COOKIE),
                                       router.middleware],
                          client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[STORE] = store
    app[PIPELINE] = pipeline
    app[VAD] = vad
    app[ACCOUNTS] = user_accounts
    app[EXAMS] = exam_records
    app[AUTH] = Authenticator(tokens, user_for_token=user_accounts.user_for_token, exam_owner=exam_records.owner)
    app[SESSIONS] = manager
    app[ANALYSIS_EXECUTOR] = executor
    app[WATCHERS] = watchers
    app[FANOUT] = fanout
    app[BASELINE_SOCKETS] = set()
    app[APIKEYS] = ApiKeys(store.apikeys, store.exams, tokens.secret)
    app[JOIN_TOKENS] = JoinTokens(tokens.secret, app[APIKEYS])
    app[WEBHOOKS] = Webhooks(store.webhooks)
    app[HTTP_SESSIONS] = http_sessions

    delivery = WebhookDelivery(store, worker_id)  # one worker at a time delivers (a lease in Redis)

    async def lifetimes(app: web.Application) -> AsyncIterator[None]:
        jobs = worker_jobs(manager)
        jobs.start()
        webhook_jobs = Jobs([PeriodicJob("webhooks", WEBHOOK_PERIOD_S, delivery.run_once)])
        webhook_jobs.start()
        fanout.start()
        yield
        await webhook_jobs.close()
        await delivery.close()
        await fanout.close()
        await watchers.close()
        await jobs.close()
        await http_sessions.close()
        await manager.close()
        await router.close()
        executor.shutdown(wait=False, cancel_futures=True)
        background.shutdown(wait=False, cancel_futures=True)
        hashing.close()

    async def end_live_streams(_app: web.Application) -> None:
        """Dashboards' streams never end by themselves: end them before aiohttp waits for open handlers."""
        await fanout.close()

    app.cleanup_ctx.append(lifetimes)
    app.on_shutdown.append(end_live_streams)
    for table in ROUTE_TABLES:
        app.router.add_routes(table)
    return app
