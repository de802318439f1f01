"""The original APIs in production: off unless VIGIL_LEGACY_APIS names them; then for a proctor or admin
who may see the session (a WebSocket's token in `?token=`), and saved analyses for their own account."""
from __future__ import annotations

import aiohttp

from tests.test_accounts import call, logged_in, new_exam

SECRET = "x" * 32
#: one call per original API route (WebSocket paths as plain GETs: refused before any upgrade)
ROUTES = (("POST", "/start-session"), ("POST", "/analyze-frame"), ("POST", "/end-session"),
          ("GET", "/ws/" + "0" * 32), ("POST", "/generate_report/" + "0" * 32), ("GET", "/ws/posture"),
          ("POST", "/api/analysis/save"), ("GET", "/api/analysis/list"), ("GET", "/api/analysis/" + "0" * 32),
          ("DELETE", "/api/analysis/" + "0" * 32), ("POST", "/api/calibration/session/create"),
          ("GET", "/api/calibration/session/" + "0" * 32), ("POST", "/api/calibration/start"),
          ("POST", "/api/calibration/frame"), ("POST", "/api/calibration/frames"),
          ("POST", "/api/calibration/complete"))


async def test_every_original_api_is_off_in_production_by_default(vigil_server_factory) -> None:
    server = await vigil_server_factory(env="production", jwt_secret=SECRET)
    _, admin = await logged_in(server, "admin")
    async with aiohttp.ClientSession() as http:
        for method, path in ROUTES:
            st, error = await call(http, method, server.url + path, admin, json={})
            assert st == 404 and "VIGIL_LEGACY_APIS" in error["context"]["hint"], (method, path, st, error)


async def test_when_on_a_proctor_follows_and_reports_only_their_own_exams_sessions(vigil_server_factory) -> None:
    server = await vigil_server_factory(env="production", jwt_secret=SECRET,
                                        legacy_apis=("interview", "proctoring", "posture", "calibration"))
    _, owner = await logged_in(server, "proctor")
    _, other = await logged_in(server, "proctor")
    _, candidate = await logged_in(server, "candidate")
    ws_base = server.url.replace("http://", "ws://")
    async with aiohttp.ClientSession() as http:
        exam = await new_exam(http, server.url, owner)
        st, started = await call(http, "POST", server.url + "/start-session", owner,
                                 json={"candidate_id": "c1", "join_code": exam["join_code"]})
        assert st == 200
        sid = started["session_id"]
        for token, expected in ((None, 401), (candidate, 403), (other, 403), (owner, 200)):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with http.post(f"{server.url}/generate_report/{sid}", headers=headers) as resp:
                assert resp.status == expected, (token, resp.status)
                assert expected != 200 or resp.content_type == "application/pdf"
        # a browser's WebSocket carries the token in the query
        async with http.ws_connect(f"{ws_base}/ws/{sid}?token={owner}") as ws:
            assert not ws.closed
        for token in (other, candidate):
            async with http.get(f"{server.url}/ws/{sid}?token={token}") as resp:
                assert resp.status == 403
        # saved analyses are any logged-in account's own, even a candidate's
        st, saved = await call(http, "POST", server.url + "/api/analysis/save", candidate, json={"posture_score": 1})
        assert st == 201
        st, _ = await call(http, "GET", server.url + "/api/analysis/list")
        assert st == 401
        # a calibration run is its creator's
        st, run = await call(http, "POST", server.url + "/api/calibration/session/create", owner, json={})
        assert st == 200
        st, _ = await call(http, "GET", f"{server.url}/api/calibration/session/{run['calibration_session_id']}", other)
        assert st == 404


def test_the_setting_names_apis_or_all_or_none_and_refuses_unknown_names() -> None:
    import pytest

    from server.core.config import Settings

    dev, prod = Settings.from_env({}), Settings.from_env({"VIGIL_ENV": "production", "VIGIL_JWT_SECRET": SECRET})
    assert dev.legacy_api_enabled("interview") and not prod.legacy_api_enabled("interview")
    some = Settings.from_env({"VIGIL_LEGACY_APIS": "posture, Interview"})
    assert some.legacy_apis == ("interview", "posture") and not some.legacy_api_enabled("calibration")
    assert Settings.from_env({"VIGIL_LEGACY_APIS": "none"}).legacy_apis == ()
    assert Settings.from_env({"VIGIL_ENV": "production", "VIGIL_JWT_SECRET": SECRET,
                              "VIGIL_LEGACY_APIS": "all"}).legacy_api_enabled("calibration")
    with pytest.raises(ValueError, match="VIGIL_LEGACY_APIS"):
        Settings.from_env({"VIGIL_LEGACY_APIS": "interview,seed"})
