"""Health (Redis, models, worker) and Prometheus metrics."""
from __future__ import annotations

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from pipeline.audio.vad import SileroVad
from server.core.metrics import REGISTRY, SESSIONS_LIVE
from server.http.errors import json_response
from server.http.keys import PIPELINE, SESSIONS, SETTINGS, STORE, VAD

routes = web.RouteTableDef()


@routes.get("/health")
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
    return json_response(body, status=200 if redis_ok else 503)


def _vad_health(vad: SileroVad | None) -> str:
    if vad is None:
        return "missing: no voice activity detector configured"
    if getattr(vad, "loaded", False):
        return "loaded"
    return f"missing: {getattr(vad, 'error', None) or 'not loaded'}"


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    SESSIONS_LIVE.set(request.app[SESSIONS].connected_count())
    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})
