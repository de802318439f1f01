"""The aiohttp application: wires the worker's objects into the HTTP layer and owns their lifetimes.

Every long-lived object is created here, stored under its key (`server.http.keys`), started by the
one `cleanup_ctx` step and closed by it, in reverse order: the live fan-out, watchers, the session
manager, the placement proxy, executors. Route modules only read the keys.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

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
from server.http import aiohttp_private, openapi_document, pages, swagger
from server.http.access import COOKIE
from server.http.affinity import placement_of
from server.http.errors import error_middleware
from server.http.keys import (
    ACCOUNTS,
    ANALYSIS_EXECUTOR,
    APIKEYS,
    AUTH,
    BASELINE_SOCKETS,
    CHECK_FRAME_LIMITS,
    EXAMS,
    FANOUT,
    HTTP_SESSIONS,
    JOIN_TOKENS,
    LTI,
    PIPELINE,
    SESSIONS,
    SETTINGS,
    STORE,
    VAD,
    WATCHERS,
    WEBHOOKS,
)
from server.http.legacy import interview, posture, proctoring, shared_paths
from server.http.legacy.calibration import handlers as legacy_calibration
from server.http.legacy.state import HttpSessions
from server.http.lti import routes as lti
from server.http.lti.tool import LtiTool
from server.http.observe import observe_middleware
from server.http.origin import origin_middleware
from server.http.routes import (
    accounts,
    apikeys,
    calibration,
    check_frame,
    exams,
    face_ws,
    health,
    live,
    reports,
    review,
    sessions,
    watch,
    webhooks,
    whip,
)
from server.http.versions import add_v1_routes
from server.inference.host import InferenceHost
from server.inference.loading import load_pipeline_quietly
from server.live.manager import SessionManager
from server.live.watchers import Watchers
from server.store.store import Store

log = logging.getLogger(__name__)

#: every route of the API, one table per resource; `face_ws` is the seed's WebSocket API, a benchmark baseline;
#: then the original backends' APIs (`server/http/legacy/`, each switched by VIGIL_LEGACY_APIS); `shared_paths`
#: holds the paths Vigil's screen and calibration routes share with the original calibration API (before
#: `calibration.routes`, whose `/api/calibration/{candidate_id}/download` would take `.../diagnostics/download`)
ROUTE_TABLES = (health.routes, sessions.routes, check_frame.routes, reports.routes, review.routes, watch.routes, accounts.routes,
                exams.routes, live.routes, shared_paths.routes, calibration.routes, face_ws.routes, whip.routes,
                openapi_document.routes, swagger.routes,
                pages.routes, apikeys.routes, webhooks.routes, interview.routes, posture.routes, proctoring.routes,
                legacy_calibration.routes, lti.routes)


@dataclass
class WorkerParts:
    """The worker's long-lived objects, made together; `lifetimes` starts them and closes them in reverse."""

    executor: ThreadPoolExecutor
    background: ThreadPoolExecutor
    tokens: SessionTokens
    manager: SessionManager
    hashing: PasswordHashing
    router: WorkerRouter
    fanout: LiveFanout
    watchers: Watchers
    http_sessions: HttpSessions
    delivery: WebhookDelivery
    lti: LtiTool
    #: the models' child process with `VIGIL_INFERENCE=process`, else None (they run in `executor`)
    inference: InferenceHost | None

    @classmethod
    def make(cls, settings: Settings, store: Store, pipeline: Pipeline, worker_id: str,
             vad: SileroVad | None) -> WorkerParts:
        executor = ThreadPoolExecutor(max_workers=settings.analysis_threads, thread_name_prefix="analysis")
        # one lane for the slow 1-2 Hz stages, so they never hold up a frame's per-frame analysis and
        # never take more than one core from it; under load they run less often (their age shows it)
        background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="background-stages")
        inference = None if settings.inference == "thread" else InferenceHost(
            partial(load_pipeline_quietly, settings), settings.analysis_threads)
        tokens = SessionTokens(signing_secret(settings), settings.session_token_ttl)
        manager = SessionManager(settings=settings, store=store, pipeline=pipeline, executor=executor,
                                 tokens=tokens, worker_id=worker_id, vad=vad, background=background,
                                 inference=inference)
        return cls(executor, background, tokens, manager,
                   PasswordHashing(),  # its own thread: a login flood never takes the analysis threads
                   WorkerRouter(manager, store, placement_of), LiveFanout(store), Watchers(),
                   HttpSessions(store, pipeline, settings),
                   WebhookDelivery(store, worker_id),  # one worker at a time delivers (a lease in Redis)
                   LtiTool(settings.data_dir, store.lti), inference)

    async def lifetimes(self, _app: web.Application) -> AsyncIterator[None]:
        if self.inference is not None:  # its models loaded before the first session is served
            await self.inference.start()
        jobs = worker_jobs(self.manager)
        webhook_jobs = Jobs([PeriodicJob("webhooks", WEBHOOK_PERIOD_S, self.delivery.run_once)])
        jobs.start()
        webhook_jobs.start()
        self.fanout.start()
        yield
        await webhook_jobs.close()
        await self.delivery.close()
        await self.fanout.close()
        await self.watchers.close()
        await jobs.close()
        await self.http_sessions.close()
        await self.manager.close()
        if self.inference is not None:
            await self.inference.aclose()
        await self.router.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.background.shutdown(wait=False, cancel_futures=True)
        self.hashing.close()
        self.lti.close()

    async def end_live_streams(self, _app: web.Application) -> None:
        """Dashboards' streams never end by themselves: end them before aiohttp waits for open handlers."""
        await self.fanout.close()


def _put_keys(app: web.Application, parts: WorkerParts, settings: Settings, store: Store, pipeline: Pipeline,
              vad: SileroVad | None) -> None:
    """What route modules read from `request.app` (`server.http.keys`)."""
    accounts, exams = Accounts(store.accounts, parts.tokens.secret, parts.hashing), Exams(store.exams)
    app[SETTINGS], app[STORE], app[PIPELINE], app[VAD] = settings, store, pipeline, vad
    app[ACCOUNTS], app[EXAMS] = accounts, exams
    app[AUTH] = Authenticator(parts.tokens, user_for_token=accounts.user_for_token, exam_proctored_by=exams.proctored_by)
    app[SESSIONS], app[ANALYSIS_EXECUTOR] = parts.manager, parts.executor
    app[WATCHERS], app[FANOUT], app[BASELINE_SOCKETS] = parts.watchers, parts.fanout, set()
    app[APIKEYS] = ApiKeys(store.apikeys, store.exams, parts.tokens.secret)
    app[JOIN_TOKENS] = JoinTokens(parts.tokens.secret, app[APIKEYS])
    app[WEBHOOKS] = Webhooks(store.webhooks)
    app[HTTP_SESSIONS] = parts.http_sessions
    app[LTI] = parts.lti
    app[CHECK_FRAME_LIMITS] = check_frame.new_limits()


def build_app(*, settings: Settings, store: Store, pipeline: Pipeline, worker_id: str,
              vad: SileroVad | None = None) -> web.Application:
    """The app around loaded models (`pipeline.load()` and `vad.load()` done by the caller)."""
    aiohttp_private.install()  # requests aiohttp refuses before routing get the JSON error shape too
    parts = WorkerParts.make(settings, store, pipeline, worker_id, vad)
    app = web.Application(middlewares=[observe_middleware, error_middleware, origin_middleware(COOKIE, lti.CROSS_SITE_FORMS),
                                       parts.router.middleware],
                          client_max_size=settings.max_body_bytes)
    _put_keys(app, parts, settings, store, pipeline, vad)
    app.cleanup_ctx.append(parts.lifetimes)
    app.on_shutdown.append(parts.end_live_streams)
    for table in ROUTE_TABLES:
        app.router.add_routes(table)
    add_v1_routes(app)  # every /api/ route under /api/v1/ too; the unversioned paths stay as aliases
    return app
