"""Probes: `/livez` answers while the process runs; `/readyz` says when new candidates must go elsewhere."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from server.http.routes.health import readiness
from server.store.embedded import EmbeddedValkey
from server.store.store import Store
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP, free_port


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any], str | None]:
    async with http.get(url) as resp:
        return resp.status, await resp.json(), resp.headers.get("Retry-After")


async def test_a_redis_outage_makes_the_worker_unready_but_alive(vigil_server_factory, tmp_path: Path, ledger) -> None:
    valkey = EmbeddedValkey(tmp_path / "redis", port=free_port())
    url = valkey.start()
    server = await vigil_server_factory()
    server.store.redis = Store(url).redis  # this server's store on a Valkey the test can stop
    try:
        async with aiohttp.ClientSession() as http:
            assert (await _get(http, server.url + "/readyz"))[:2] == (200, {
                "status": "ready", "worker": server.sessions.worker_id,
                "checks": {"redis": "ok", "models": "ok", "capacity": "ok"}})
            valkey.stop()
            ledger.injected("redis_outage")
            status, body, retry_after = await _get(http, server.url + "/livez")
            assert (status, body["status"], retry_after) == (200, "ok", None)
            status, body, retry_after = await _get(http, server.url + "/readyz")
            assert (status, body["status"], retry_after) == (503, "not_ready", "5")
            assert body["checks"] == {"redis": "unreachable", "models": "ok", "capacity": "ok"}
            health_status, _, health_retry = await _get(http, server.url + "/health")
            assert (health_status, health_retry) == (503, "5")  # the summary says degraded, and when to ask again
    finally:
        valkey.stop()


async def test_a_full_worker_is_unready(vigil_server_factory) -> None:
    server = await vigil_server_factory(max_sessions=1)
    client = CandidateClient(server.url, FACE_CLIP, candidate_id="fills-the-worker")
    try:
        await client.connect()
        async with aiohttp.ClientSession() as http:
            status, body, retry_after = await _get(http, server.url + "/readyz")
            assert (status, retry_after) == (503, "5")
            assert body["checks"]["capacity"] == "full: 1 of 1 sessions"
            assert (await _get(http, server.url + "/livez"))[0] == 200
    finally:
        await client.close()


def test_a_missing_model_is_named() -> None:
    checks = readiness(redis_ok=True, models={"faces": "loaded", "vad": "missing: no file", "objects": "missing: x"},
                       sessions=0, max_sessions=4)
    assert checks == {"redis": "ok", "models": "not loaded: objects, vad", "capacity": "ok"}
