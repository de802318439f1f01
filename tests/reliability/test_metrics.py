"""Metrics: the ones nothing updated before are driven here, every sample names its worker, and
/metrics in production answers scrapers with the token (or an admin) only."""
from __future__ import annotations

from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from server.store.embedded import EmbeddedValkey
from server.store.store import Store
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP, eventually, free_port
from tests.test_accounts import login, make_user


async def scrape(http: aiohttp.ClientSession, base: str, headers: dict[str, str] | None = None) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of one scrape."""
    async with http.get(base + "/metrics", headers=headers or {}) as resp:
        assert resp.status == 200, await resp.text()
        text = await resp.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict[tuple, float], name: str, **labels: str) -> float:
    """A sample's value (0 when absent), matching the given labels whatever the others."""
    return sum(v for (n, ls), v in samples.items() if n == name and labels.items() <= dict(ls).items())


async def test_redis_outage_http_errors_and_load_are_counted_per_worker(
        vigil_server_factory, tmp_path: Path, ledger) -> None:
    valkey = EmbeddedValkey(tmp_path / "redis", port=free_port())
    url = valkey.start()
    server = await vigil_server_factory(max_sessions=2)
    server.store.redis = Store(url).redis  # this server's store on a Valkey the test can stop
    worker = server.sessions.worker_id
    client = CandidateClient(server.url, FACE_CLIP, candidate_id="metrics")
    try:
        async with aiohttp.ClientSession() as http:
            await client.connect()
            before = await scrape(http, server.url)
            assert value(before, "vigil_worker_load", worker=worker) == 0.5  # 1 of 2 sessions
            assert all(dict(labels).get("worker") == worker for _name, labels in before), "a sample without worker"

            async with http.get(server.url + "/api/sessions/0123456789abcdef") as resp:
                assert resp.status == 401
            valkey.stop()
            ledger.injected("redis_outage")
            for event in ("paste", "devtools"):  # event writes fail while Redis is away, and are retried
                client.send({"type": "browser", "event": event})
            session = server.sessions.live[client.session_id]

            async def retried() -> bool:
                return session.outbox.retries >= 2
            await eventually(retried, 20, "the outbox to retry its writes")
            async with http.post(server.url + "/api/sessions", json={"candidate_id": "during-outage"}) as resp:
                assert resp.status == 503 and (await resp.json())["code"] == "store_unavailable"
            after = await scrape(http, server.url)
    finally:
        await client.close()
        valkey.stop()

    redis_errors = value(after, "vigil_redis_errors_total", worker=worker) - value(before, "vigil_redis_errors_total")
    assert redis_errors >= 3, redis_errors  # two failed event writes at least, and the refused POST
    for status in ("401", "503"):
        assert value(after, "vigil_http_errors_total", status=status) == \
            value(before, "vigil_http_errors_total", status=status) + 1, status
    route = {"route": "/api/sessions/{session_id}", "method": "GET", "worker": worker}
    assert value(after, "vigil_http_requests_total", status="401", **route) >= 1
    assert value(after, "vigil_http_request_seconds_count", **route) >= 1
    assert value(after, "vigil_http_requests_total", route="/api/sessions", method="POST", status="201") >= 1


async def test_metrics_in_production_need_the_scrape_token_or_an_admin(vigil_server_factory) -> None:
    server = await vigil_server_factory(env="production", jwt_secret="x" * 32, metrics_token="scrape-token-123")
    admin = await make_user(server.store, "admin")
    async with aiohttp.ClientSession() as http:
        for headers, status in (({}, 401), ({"Authorization": "Bearer wrong-token"}, 401),
                                ({"Authorization": "Bearer scrape-token-123"}, 200)):
            async with http.get(server.url + "/metrics", headers=headers) as resp:
                assert resp.status == status, (headers, status, await resp.text())
        token = await login(http, server.url, admin)
    async with aiohttp.ClientSession() as fresh:  # no cookie: the admin's bearer token alone
        samples = await scrape(fresh, server.url, {"Authorization": f"Bearer {token}"})
    assert value(samples, "process_resident_memory_bytes", worker=server.sessions.worker_id) > 0


#: declared families one ordinary session cannot move, and why (each has its own test where it can)
CANNOT_MOVE_HERE = {
    "vigil_redis_errors": "needs Redis away: test_redis_outage_http_errors_and_load_are_counted_per_worker",
    "vigil_analysis_errors": "needs the whole analysis of a frame to raise; real models on a real frame do not",
    "vigil_stage_errors": "needs a stage to raise on a frame; real models on a real frame do not",
    "vigil_decode_sheds": "needs a video decode backlog (an overloaded host): tests of server/rtc/decode_guard.py",
    "vigil_datachannel_dropped": "needs a client that stops reading its data channel (a full send buffer)",
}


def moved(before: dict[tuple, float], after: dict[tuple, float]) -> set[str]:
    """The sample names whose value changed or which appeared (`_created` timestamps left out)."""
    return {name for (name, labels), v in after.items()
            if not name.endswith("_created") and before.get((name, labels)) != v}


def family_of(sample: str, families: set[str]) -> str | None:
    for suffix in ("", "_total", "_count", "_sum", "_bucket"):
        if sample.endswith(suffix) and sample[:len(sample) - len(suffix)] in families:
            return sample[:len(sample) - len(suffix)]
    return None


async def test_one_session_a_bad_message_and_a_baseline_frame_move_every_declared_metric(
        vigil_server_factory) -> None:
    from server.core.metrics import REGISTRY
    from tests.test_ws_baseline import frame

    declared = {f.name for f in REGISTRY.collect() if f.name.startswith("vigil_")}
    assert set(CANNOT_MOVE_HERE) <= declared, "a family named here is no longer declared"
    server = await vigil_server_factory(max_sessions=1)
    client = CandidateClient(server.url, FACE_CLIP, candidate_id="every-metric")
    async with aiohttp.ClientSession() as http:
        before = await scrape(http, server.url)
        try:
            await client.connect()
            client.send({"type": "no-such-message"})  # a bad data-channel message
            client.send({"type": "browser", "event": "paste"})  # a risk event starts
            await client.wait_for(lambda m: m.get("type") == "analysis" and any(
                e["type"] == "paste" for e in m.get("events", [])), timeout=30)
            async with http.post(server.url + "/api/sessions", json={"candidate_id": "over-the-limit"}) as resp:
                assert resp.status == 503  # refused by the session limit (max_sessions=1): an HTTP error too
            ws_url = server.url.replace("http://", "ws://") + "/ws/face-detection/every-metric"
            async with http.ws_connect(ws_url) as ws:
                await ws.send_str(frame(20, 1.0))
                assert (await ws.receive_json(timeout=15))["type"] == "detection_result"
                await ws.send_str("not json")
                assert (await ws.receive_json(timeout=15))["type"] == "error"

            still: set[str] = set()

            async def all_moved() -> bool:
                after = await scrape(http, server.url)
                still.clear()
                still.update(declared - set(CANNOT_MOVE_HERE) - {family_of(n, declared) for n in moved(before, after)})
                return not still
            try:
                await eventually(all_moved, 20, "every declared metric to move")
            except AssertionError:
                raise AssertionError(f"these families never moved: {sorted(still)}") from None
        finally:
            await client.close()


async def test_a_failed_readiness_ping_is_a_redis_error() -> None:
    """`/readyz` and `/health` ping Redis through one helper: a ping that fails is counted."""
    from server.core.metrics import REDIS_ERRORS
    from server.http.routes.health import _ping

    store = Store(f"redis://127.0.0.1:{free_port()}")  # nothing listens there
    try:
        before = REDIS_ERRORS._value.get()
        assert not await _ping(store)
        assert REDIS_ERRORS._value.get() - before == 1
    finally:
        await store.close()
