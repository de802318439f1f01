"""The original APIs in production driven by an integrator's API key (docs/legacy-apis.md).

A key reaches the sessions of the exams in its scope and nothing else; the sessions it starts belong
to its only exam (or the `exam_id` it names, when it has several) and speak for the candidate it names;
a revoked key is refused (401) on its next call; account tokens keep working (test_switch.py)."""
from __future__ import annotations

from pathlib import Path

import aiohttp

from server.accounts.apikeys import identity_of
from tests.legacy.images import jpeg_b64
from tests.test_accounts import call, logged_in, new_exam

SECRET = "x" * 32
APIS = ("interview", "proctoring", "posture", "calibration")


async def _key(http: aiohttp.ClientSession, base: str, admin: str, *exams: str) -> dict:  # type: ignore[type-arg]
    status, made = await call(http, "POST", base + "/api/apikeys", admin, json={"name": "platform", "exams": list(exams)})
    assert status == 201, made
    return made


async def test_a_key_starts_analyses_and_ends_a_session_of_its_exam_then_is_revoked(
        vigil_server_factory, shared_data: Path) -> None:
    server = await vigil_server_factory(env="production", jwt_secret=SECRET, legacy_apis=APIS)
    base, ws_base = server.url, server.url.replace("http://", "ws://")
    _, admin = await logged_in(server, "admin")
    _, proctor = await logged_in(server, "proctor")
    face = jpeg_b64(shared_data / "images/faces/obama.jpg")
    async with aiohttp.ClientSession() as http:
        exam = await new_exam(http, base, proctor)
        key = (await _key(http, base, admin, exam["exam_id"]))["key"]

        st, started = await call(http, "POST", base + "/start-session", key, json={"candidate_id": "ext-1"})
        assert st == 200 and started["status"] == "active", started
        sid = started["session_id"]
        session = await server.store.session(sid)
        assert session["exam_id"] == exam["exam_id"]
        assert session["identity"] == identity_of(key.removeprefix("vk_").partition(".")[0], "ext-1")

        st, result = await call(http, "POST", base + "/analyze-frame", key, json={"session_id": sid, "frame": face})
        assert st == 200 and result["faces"] == 1, result
        # the other original APIs take the key too: a WebSocket in ?token=, the report, a calibration run
        async with http.ws_connect(f"{ws_base}/ws/{sid}?token={key}") as ws:
            assert not ws.closed
        async with http.ws_connect(f"{ws_base}/ws/posture?token={key}") as ws:
            assert not ws.closed
        st, run = await call(http, "POST", base + "/api/calibration/session/create", key, json={"session_id": sid})
        assert st == 200, run
        st, _ = await call(http, "GET", f"{base}/api/calibration/session/{run['calibration_session_id']}", key)
        assert st == 200
        st, _ = await call(http, "GET", f"{base}/api/calibration/session/{run['calibration_session_id']}", proctor)
        assert st == 404  # a run is its creator's: the key's, not the exam's proctor's
        # the exam's proctor follows the key's session with their own token
        st, _ = await call(http, "POST", base + "/analyze-frame", proctor, json={"session_id": sid, "frame": face})
        assert st == 200

        st, ended = await call(http, "POST", base + "/end-session", key, json={"session_id": sid})
        assert st == 200 and ended["verdict"] in ("CLEAR", "REVIEW", "CHEATING"), ended
        async with http.post(f"{base}/generate_report/{sid}", headers={"Authorization": f"Bearer {key}"}) as resp:
            assert resp.status == 200 and resp.content_type == "application/pdf"

        st, _ = await call(http, "DELETE", f"{base}/api/apikeys/{key.removeprefix('vk_').partition('.')[0]}", admin)
        assert st == 200
        for method, path, body in (("POST", "/start-session", {}), ("POST", "/analyze-frame", {"session_id": sid}),
                                   ("POST", "/end-session", {"session_id": sid}),
                                   ("POST", f"/generate_report/{sid}", None)):
            st, error = await call(http, method, base + path, key, json=body)
            assert st == 401, (path, error)
        async with http.get(f"{base}/ws/{sid}?token={key}") as resp:
            assert resp.status == 401


async def test_a_key_cannot_reach_another_exams_session_and_names_its_exam_when_it_has_several(
        vigil_server_factory, shared_data: Path) -> None:
    server = await vigil_server_factory(env="production", jwt_secret=SECRET, legacy_apis=APIS)
    base = server.url
    _, admin = await logged_in(server, "admin")
    _, proctor = await logged_in(server, "proctor")
    face = jpeg_b64(shared_data / "images/faces/obama.jpg")
    async with aiohttp.ClientSession() as http:
        exam_a, exam_b, exam_c = [await new_exam(http, base, proctor) for _ in range(3)]
        key_a = (await _key(http, base, admin, exam_a["exam_id"]))["key"]
        key_bc = (await _key(http, base, admin, exam_b["exam_id"], exam_c["exam_id"]))["key"]
        st, started = await call(http, "POST", base + "/start-session", key_a, json={"candidate_id": "ext-2"})
        assert st == 200
        sid = started["session_id"]

        for method, path, body in (("POST", "/analyze-frame", {"session_id": sid, "frame": face}),
                                   ("POST", "/end-session", {"session_id": sid}),
                                   ("POST", f"/generate_report/{sid}", None),
                                   ("POST", "/api/calibration/session/create", {"session_id": sid})):
            st, error = await call(http, method, base + path, key_bc, json=body)
            assert st == 403, (path, error)
        async with http.get(f"{base}/ws/{sid}?token={key_bc}") as resp:
            assert resp.status == 403
        assert (await server.store.session(sid))["status"] != "ended"

        # a key of several exams names one of them; a join code or an exam outside its scope is refused
        st, error = await call(http, "POST", base + "/start-session", key_bc, json={"candidate_id": "ext-3"})
        assert st == 400 and set(error["context"]["exams"]) == {exam_b["exam_id"], exam_c["exam_id"]}, error
        st, _ = await call(http, "POST", base + "/start-session", key_bc,
                           json={"candidate_id": "ext-3", "exam_id": exam_a["exam_id"]})
        assert st == 403
        st, _ = await call(http, "POST", base + "/start-session", key_bc,
                           json={"candidate_id": "ext-3", "join_code": exam_b["join_code"]})
        assert st == 400
        st, started = await call(http, "POST", base + "/start-session", key_bc,
                                 json={"candidate_id": "ext-3", "exam_id": exam_c["exam_id"]})
        assert st == 200
        assert (await server.store.session(started["session_id"]))["exam_id"] == exam_c["exam_id"]
