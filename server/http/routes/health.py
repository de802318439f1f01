"""Probes (`/livez`, `/readyz`), the health summary (`/health`) and Prometheus metrics.

Two probes, two questions. `/livez`: does this process answer? 200 whenever the event loop runs; it
checks nothing else, so a Redis blip never makes an orchestrator restart a worker (which would drop
its live candidates). `/readyz`: should new candidates be sent here? 200 when Redis answers, every
model loaded and the worker below its session limit; else 503 with `Retry-After` and the failing
checks. `/health` stays the human summary (every model's state, sessions, the embedded Valkey).

With REDIS_URL unset, `/health` also says what the embedded Valkey's owner did (`redis_embedded`:
its url, how often it restarted a dead Valkey, and when last), read from the status file the owner
publishes (`server.store.embedded.read_status`): the process that owns the Valkey may be another
worker, so its memory is not ours to read.
"""
from __future__ import annotations

import asyncio
import hmac
from weakref import WeakKeyDictionary

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from pipeline.audio.vad import SileroVad
from server.accounts.tokens import bearer
from server.core.metrics import REDIS_ERRORS, REGISTRY, SESSIONS_LIVE, WORKER_LOAD, WorkerLabelled
from server.http.access import require_role
from server.http.errors import json_response
from server.http.keys import PIPELINE, SESSIONS, SETTINGS, STORE, VAD
from server.protocol.answers import EmbeddedValkey, Health, Liveness, Readiness
from server.store.embedded import read_status
from server.store.store import Store

routes = web.RouteTableDef()
#: seconds a load balancer should wait before asking `/readyz` again after a 503
READY_RETRY_AFTER_S = 5


@routes.get("/livez")
async def livez(request: web.Request) -> web.Response:
    return json_response(Liveness(status="ok", worker=request.app[SESSIONS].worker_id))


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    app = request.app
    models = {**app[PIPELINE].health(), "vad": _vad_health(app[VAD])}
    checks = readiness(redis_ok=await app[STORE].ping(), models=models,
                       sessions=app[SESSIONS].connected_count(), max_sessions=app[SETTINGS].max_sessions)
    ready = all(state == "ok" for state in checks.values())
    body = Readiness.model_validate({"status": "ready" if ready else "not_ready", "worker": app[SESSIONS].worker_id,
                                     "checks": checks})
    if ready:
        return json_response(body)
    return json_response(body, status=503, headers={"Retry-After": str(READY_RETRY_AFTER_S)})


def readiness(*, redis_ok: bool, models: dict[str, str], sessions: int, max_sessions: int) -> dict[str, str]:
    """Each readiness check's state: "ok", or why not."""
    missing = sorted(name for name, state in models.items() if state != "loaded")
    return {
        "redis": "ok" if redis_ok else "unreachable",
        "models": "ok" if not missing else f"not loaded: {', '.join(missing)}",
        "capacity": "ok" if sessions < max_sessions else f"full: {sessions} of {max_sessions} sessions",
    }


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    app = request.app
    redis_ok = await app[STORE].ping()
    models = app[PIPELINE].health()
    models["vad"] = _vad_health(app[VAD])
    body = Health(status="ok" if redis_ok else "degraded", redis="ok" if redis_ok else "unreachable", models=models,
                  worker=app[SESSIONS].worker_id, sessions=app[SESSIONS].connected_count(), env=app[SETTINGS].env,
                  # null with an external Redis: one type in every state, never a missing key
                  redis_embedded=await _embedded_status(app) if app[SETTINGS].redis_url is None else None)
    return json_response(body, status=200 if redis_ok else 503,
                         headers=None if redis_ok else {"Retry-After": str(READY_RETRY_AFTER_S)})


async def _embedded_status(app: web.Application) -> EmbeddedValkey | None:
    """`{url, restarts, last_restart_at}` of the embedded Valkey; null when no status was published."""
    status = await asyncio.to_thread(read_status, app[SETTINGS].data_dir)  # a file: off the event loop
    if status is None:
        return None
    return EmbeddedValkey(url=status.get("url"), restarts=int(status.get("restarts") or 0),
                          last_restart_at=status.get("last_restart_at"))


def _vad_health(vad: SileroVad | None) -> str:
    if vad is None:
        return "missing: no voice activity detector configured"
    if getattr(vad, "loaded", False):
        return "loaded"
    return f"missing: {getattr(vad, 'error', None) or 'not loaded'}"


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """This worker's metrics, every sample labelled with its worker; in production for scrapers only."""
    app = request.app
    await _authorise_scrape(request)
    sessions, capacity = app[SESSIONS].connected_count(), app[SETTINGS].max_sessions
    SESSIONS_LIVE.set(sessions)
    WORKER_LOAD.set(sessions / capacity)
    _sync_redis_errors(app[STORE])
    body = generate_latest(WorkerLabelled(REGISTRY, app[SESSIONS].worker_id))  # type: ignore[arg-type]
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _authorise_scrape(request: web.Request) -> None:
    """Open in dev; in production `VIGIL_METRICS_TOKEN` as a bearer token, or an admin's account token."""
    settings = request.app[SETTINGS]
    if settings.env != "production":
        return
    token = bearer(request.headers.get("Authorization"))
    if settings.metrics_token and token and hmac.compare_digest(token.encode(), settings.metrics_token.get_secret_value().encode()):
        return
    await require_role(request, "admin")


#: each store's failure count already added to vigil_redis_errors_total
_REDIS_ERRORS_COUNTED: WeakKeyDictionary[Store, int] = WeakKeyDictionary()


def _sync_redis_errors(store: Store) -> None:
    """The store counts its failed operations (`Store.errors`, bumped wherever one fails, retried or not);
    the counter takes what was added since the last scrape."""
    counted = _REDIS_ERRORS_COUNTED.get(store, 0)
    if store.errors > counted:
        REDIS_ERRORS.inc(store.errors - counted)
        _REDIS_ERRORS_COUNTED[store] = store.errors
