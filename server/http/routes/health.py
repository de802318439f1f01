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
import logging
from collections import Counter
from weakref import WeakKeyDictionary

import aiohttp
from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from pipeline.audio.vad import SileroVad
from server.accounts.tokens import bearer
from server.cluster.placement import FORWARDED
from server.core.metrics import (
    EXAM_SESSIONS_LIVE,
    REDIS_ERRORS,
    REGISTRY,
    SESSIONS_LIVE,
    WORKER_LOAD,
    Merged,
    WorkerLabelled,
)
from server.http.access import require_role
from server.http.errors import json_response
from server.http.keys import PIPELINE, SESSIONS, SETTINGS, STORE, VAD
from server.protocol.answers import EmbeddedValkey, Health, Liveness, Readiness
from server.store.embedded import read_status
from server.store.errors import StoreUnavailable
from server.store.store import Store

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
#: seconds a load balancer should wait before asking `/readyz` again after a 503
READY_RETRY_AFTER_S = 5
#: a peer worker that does not answer a scrape within this is left out of it (and logged)
PEER_SCRAPE_TIMEOUT_S = 2.0


@routes.get("/livez")
async def livez(request: web.Request) -> web.Response:
    return json_response(Liveness(status="ok", worker=request.app[SESSIONS].worker_id))


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    app = request.app
    models = {**app[PIPELINE].health(), "vad": _vad_health(app[VAD])}
    checks = readiness(redis_ok=await _ping(app[STORE]), models=models,
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
    redis_ok = await _ping(app[STORE])
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


async def _ping(store: Store) -> bool:
    """Redis answers; a failed ping is a failed Redis operation (`vigil_redis_errors_total`)."""
    ok = await store.ping()
    if not ok:
        REDIS_ERRORS.inc()
    return ok


def _vad_health(vad: SileroVad | None) -> str:
    if vad is None:
        return "missing: no voice activity detector configured"
    if getattr(vad, "loaded", False):
        return "loaded"
    return f"missing: {getattr(vad, 'error', None) or 'not loaded'}"


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Every worker of this machine's metrics, each sample labelled with its worker; in production for
    scrapers only. A scrape forwarded by a peer (`X-Vigil-Forwarded`) answers with this worker's alone."""
    app = request.app
    await _authorise_scrape(request)
    manager = app[SESSIONS]
    sessions, capacity = manager.connected_count(), app[SETTINGS].max_sessions
    SESSIONS_LIVE.set(sessions)
    WORKER_LOAD.set(sessions / capacity)
    EXAM_SESSIONS_LIVE.clear()  # an exam whose last session left has no series, not a stale one
    for exam, count in Counter(manager.connected_exams()).items():
        EXAM_SESSIONS_LIVE.labels(exam).set(count)
    _sync_redis_errors(app[STORE])
    body = generate_latest(WorkerLabelled(REGISTRY, manager.worker_id))  # type: ignore[arg-type]
    if not request.headers.get(FORWARDED):  # a peer's scrape takes this worker's alone
        peers = await _peer_expositions(request)
        if peers:
            body = generate_latest(Merged([body.decode(), *peers]))  # type: ignore[arg-type]
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _peer_expositions(request: web.Request) -> list[str]:
    """The other live workers' own expositions, fetched over their internal URLs (from their heartbeats).
    Only this machine's workers (the worker id is `<hostname>-<pid>`): each machine is its own scrape
    target. A peer that fails is left out of this scrape and logged; without Redis, this worker alone."""
    manager = request.app[SESSIONS]
    host = manager.worker_id.rsplit("-", 1)[0]
    try:
        rows = await request.app[STORE].workers()
    except StoreUnavailable:
        REDIS_ERRORS.inc()
        return []
    urls = [row["url"] for wid, row in rows.items()
            if wid != manager.worker_id and row.get("url") and wid.rsplit("-", 1)[0] == host]
    if not urls:
        return []
    headers = {FORWARDED: manager.worker_id}
    for name in ("Authorization", "Cookie"):  # the peer authorises the scrape as this worker did
        if name in request.headers:
            headers[name] = request.headers[name]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PEER_SCRAPE_TIMEOUT_S)) as http:
        answers = await asyncio.gather(*(_fetch(http, url + "/metrics", headers) for url in urls))
    return [text for text in answers if text is not None]


async def _fetch(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> str | None:
    try:
        async with http.get(url, headers=headers) as resp:
            if resp.status == 200:
                return await resp.text()
            log.warning("scrape of peer %s answered %d; left out", url, resp.status)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("scrape of peer %s failed: %s; left out", url, exc)
    return None


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
