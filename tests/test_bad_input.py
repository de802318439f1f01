"""Bad input gets the documented error shape (docs/http-api.md) with the right status, and the server keeps serving."""
from __future__ import annotations

import aiohttp
import pytest

from server.http.errors import ERROR_KEYS
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP


async def _call(http: aiohttp.ClientSession, method: str, url: str, **kw) -> tuple[int, dict]:
    async with http.request(method, url, **kw) as resp:
        body = await resp.json(content_type=None)
        return resp.status, body


def _assert_error(status: int, body: dict, expected: int) -> None:
    assert status == expected, (status, body)
    assert set(body) == ERROR_KEYS and isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in str(body)


async def test_bad_requests_get_clear_errors(vigil_server) -> None:
    base = vigil_server.url
    async with aiohttp.ClientSession() as http:
        st, body = await _call(http, "POST", base + "/api/sessions", data=b"{not json", headers={"Content-Type": "application/json"})
        _assert_error(st, body, 400)
        assert "malformed JSON" in body["error"]
        st, body = await _call(http, "POST", base + "/api/sessions", json={"candidate_id": "a b/c"})
        _assert_error(st, body, 400)
        assert body["errors"][0]["field"] == "candidate_id"
        st, body = await _call(http, "POST", base + "/api/sessions", json={"candidate_id": "x", "extra": 1})
        _assert_error(st, body, 400)
        st, body = await _call(http, "POST", base + "/api/sessions", data=b"{" + b" " * 400_000 + b"}",
                               headers={"Content-Type": "application/json"})
        _assert_error(st, body, 413)
        st, body = await _call(http, "GET", base + "/api/sessions/0123456789abcdef")
        _assert_error(st, body, 401)
        st, created = await _call(http, "POST", base + "/api/sessions", json={"candidate_id": "mallory"})
        assert st == 201
        sid, token = created["session_id"], created["token"]
        auth = {"Authorization": f"Bearer {token}"}
        st, body = await _call(http, "POST", f"{base}/api/sessions/deadbeef/offer", json={"sdp": "v=0 xxxxxxxxxx", "type": "offer"}, headers=auth)
        _assert_error(st, body, 403)  # a token for another session
        st, body = await _call(http, "POST", f"{base}/api/sessions/{sid}/offer", json={"sdp": "v=0 xxxxxxxxxx", "type": "offer"},
                               headers={"Authorization": "Bearer not-a-token"})
        _assert_error(st, body, 401)
        st, body = await _call(http, "POST", f"{base}/api/sessions/{sid}/offer", json={"sdp": "hello world, not sdp", "type": "offer"}, headers=auth)
        _assert_error(st, body, 400)
        garbage = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=garbage\r\n"
        st, body = await _call(http, "POST", f"{base}/api/sessions/{sid}/offer", json={"sdp": garbage, "type": "offer"}, headers=auth)
        _assert_error(st, body, 400)
        st, body = await _call(http, "POST", f"{base}/api/sessions/{sid}/offer", json={"sdp": "v=0\r\nxxxxxxxx", "type": "answer"}, headers=auth)
        _assert_error(st, body, 400)
        st, body = await _call(http, "GET", f"{base}/api/nothing-here")
        _assert_error(st, body, 404)
        st, body = await _call(http, "GET", f"{base}/health")
        assert st == 200 and body["status"] == "ok" and body["redis"] == "ok"


async def test_second_offer_while_connected_is_a_conflict(vigil_server) -> None:
    client = CandidateClient(vigil_server.url, FACE_CLIP, candidate_id="oscar")
    try:
        await client.connect()
        async with aiohttp.ClientSession() as http:
            st, body = await _call(http, "POST", f"{vigil_server.url}/api/sessions/{client.session_id}/offer",
                                   json={"sdp": client.pc.localDescription.sdp, "type": "offer"},
                                   headers={"Authorization": f"Bearer {client.token}"})
        _assert_error(st, body, 409)
        await client.wait_for(lambda m: m.get("type") == "analysis", timeout=15)  # still serving
        await client.end()
        async with aiohttp.ClientSession() as http:
            st, body = await _call(http, "POST", f"{vigil_server.url}/api/sessions/{client.session_id}/resume",
                                   json={"sdp": client.pc.localDescription.sdp, "type": "offer"},
                                   headers={"Authorization": f"Bearer {client.token}"})
        _assert_error(st, body, 409)
    finally:
        await client.close()


async def test_production_mode_refuses_the_demo_exam(valkey_url, loaded_pipeline, tmp_path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from server.app import build_app
    from server.core.config import Settings
    from server.store.store import Store

    settings = Settings(data_dir=tmp_path, env="production", jwt_secret="s" * 32)
    store = Store(valkey_url)
    app = build_app(settings=settings, store=store, pipeline=loaded_pipeline, worker_id="prod")
    async with TestClient(TestServer(app)) as client:
        resp = await client.post("/api/sessions", json={"candidate_id": "x"})
        assert resp.status == 403
        assert "join code" in (await resp.json())["error"]
    await store.close()


def test_production_mode_requires_a_jwt_secret(tmp_path) -> None:
    from server.accounts.secrets import signing_secret
    from server.core.config import Settings

    with pytest.raises(ValueError, match="VIGIL_JWT_SECRET is required"):
        signing_secret(Settings(data_dir=tmp_path, env="production"))
