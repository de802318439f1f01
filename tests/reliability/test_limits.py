"""Every limit answers with a clear error and shows in the metrics."""
from __future__ import annotations

import re

import aiohttp

from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP


def _rejected(metrics_text: str, limit: str) -> float:
    match = re.search(rf'vigil_rejected_total{{limit="{limit}",worker="[^"]+"}} ([0-9.e+]+)', metrics_text)
    return float(match.group(1)) if match else 0.0


async def test_session_and_body_limits_answer_clearly_and_are_counted(vigil_server_factory, ledger) -> None:
    server = await vigil_server_factory(max_sessions=1, max_body_bytes=16384)
    first = CandidateClient(server.url, FACE_CLIP, candidate_id="first")
    try:
        await first.connect()
        async with aiohttp.ClientSession() as http:
            async with http.get(server.url + "/metrics") as resp:
                before = await resp.text()
            # admission control: the session beyond capacity is refused outright (503, a stable code,
            # when to retry), and the load balancer's readiness probe says full meanwhile
            async with http.post(server.url + "/api/sessions", json={"candidate_id": "second"}) as resp:
                assert resp.status == 503 and resp.content_type == "application/problem+json"
                body = await resp.json()
                assert "session limit" in body["error"] and body["context"] == {"max_sessions": 1}
                assert body["code"] == "session_limit" and int(resp.headers["Retry-After"]) > 0
            async with http.get(server.url + "/readyz") as resp:
                ready = await resp.json()
                assert resp.status == 503 and ready["checks"]["capacity"] == "full: 1 of 1 sessions"
            assert first.pc is not None and first.pc.connectionState == "connected"  # the admitted one is untouched
            async with http.post(server.url + "/api/sessions", data=b"{" + b" " * 20000 + b"}",
                                 headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 413 and (await resp.json())["context"] == {"max_bytes": 16384}
            async with http.get(server.url + "/metrics") as resp:
                after = await resp.text()
        assert _rejected(after, "sessions") == _rejected(before, "sessions") + 1
        assert _rejected(after, "body_size") == _rejected(before, "body_size") + 1
        ledger.tried("limits", 2)
    finally:
        await first.close()


async def test_the_credential_free_websocket_baseline_is_capped(vigil_server_factory, ledger) -> None:
    server = await vigil_server_factory(max_sessions=1)
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(server.url.replace("http", "ws") + "/ws/face-detection/first") as first:
            async with http.get(server.url + "/ws/face-detection/second",
                                headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                         "Sec-WebSocket-Version": "13",
                                         "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as resp:
                assert resp.status == 429
                assert "too many WebSocket clients" in (await resp.json())["error"]
            await first.send_json({"type": "stats"})
            reply = await first.receive_json(timeout=10)
            assert reply["type"] == "stats"  # the admitted socket is untouched
        async with http.ws_connect(server.url.replace("http", "ws") + "/ws/face-detection/third") as third:
            await third.send_json({"type": "stats"})
            assert (await third.receive_json(timeout=10))["type"] == "stats"  # a freed place is reusable
    ledger.tried("limits", 1)


async def test_the_seed_websocket_is_off_in_production_and_then_needs_a_proctor(vigil_server_factory, ledger) -> None:
    from tests.test_accounts import login, make_user

    ws_path = "/ws/face-detection/seed"
    off = await vigil_server_factory(env="production", jwt_secret="x" * 32)
    async with aiohttp.ClientSession() as http, http.get(off.url + ws_path) as resp:
        assert resp.status == 404 and "off" in (await resp.json())["error"]
    on = await vigil_server_factory(env="production", jwt_secret="x" * 32, ws_baseline=True)
    proctor = await make_user(on.store, "proctor")
    candidate = await make_user(on.store, "candidate")
    ws_url = on.url.replace("http", "ws") + ws_path
    async with aiohttp.ClientSession() as http:
        async with http.get(on.url + ws_path) as resp:
            assert resp.status == 401  # anonymous analysis is gone
        candidate_token = await login(http, on.url, candidate)
        async with http.get(on.url + ws_path + f"?token={candidate_token}") as resp:
            assert resp.status == 403
        token = await login(http, on.url, proctor)
        async with http.ws_connect(ws_url + f"?token={token}") as ws:  # a browser: the token in the query
            await ws.send_json({"type": "stats"})
            assert (await ws.receive_json(timeout=10))["type"] == "stats"
        async with http.ws_connect(ws_url, headers={"Authorization": f"Bearer {token}"}) as ws:
            await ws.send_json({"type": "stats"})
            assert (await ws.receive_json(timeout=10))["type"] == "stats"
    ledger.tried("seed_websocket_gate", 5)
