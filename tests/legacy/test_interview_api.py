"""The original interview risk API's contract, from its description: start a session, post base64 frames,
end it; on real face photos, against a real server. The session is a Vigil session: its events are in
its stream and its report is Vigil's."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from tests.legacy.images import jpeg_b64
from tests.test_accounts import call, logged_in, new_exam

RESULT_FIELDS = {"session_id", "cheating", "risk_score", "attention", "gaze", "faces", "objects", "events"}
END_FIELDS = {"final_risk_score", "verdict", "total_violations", "duration_seconds"}
#: frames of two faces, each analysed after the one before, until the 1 s debounce has passed
MAX_FRAMES = 60


async def post(http: aiohttp.ClientSession, url: str, body: Any = None) -> tuple[int, Any]:
    async with http.post(url, json=body) as resp:
        return resp.status, await resp.json()


async def test_a_session_sees_one_face_then_flags_two_and_ends_with_a_verdict(vigil_server, shared_data: Path) -> None:
    base, store = vigil_server.url, vigil_server.store
    one_face = jpeg_b64(shared_data / "images/faces/obama.jpg")
    two_faces = jpeg_b64(shared_data / "images/multi_face/obama_and_biden.jpg")
    async with aiohttp.ClientSession() as http:
        st, started = await post(http, base + "/start-session")  # the original took no body
        assert st == 200 and started["status"] == "active", started
        sid = started["session_id"]

        st, result = await post(http, base + "/analyze-frame", {"session_id": sid, "frame": one_face})
        assert st == 200, result
        assert RESULT_FIELDS <= set(result), result
        assert result["session_id"] == sid and result["faces"] == 1 and result["cheating"] is False
        assert result["gaze"] in ("center", "left", "right", "up", "down")
        assert isinstance(result["objects"], list) and result["events"] == []
        assert 0 <= result["risk_score"] < 50

        # a data URL under "image" is the same frame
        st, again = await post(http, base + "/analyze-frame",
                               {"session_id": sid, "image": "data:image/jpeg;base64," + one_face})
        assert st == 200 and again["faces"] == 1

        for _ in range(MAX_FRAMES):
            st, result = await post(http, base + "/analyze-frame", {"session_id": sid, "frame": two_faces})
            assert st == 200 and result["faces"] >= 2, result
            if "multiple_faces" in result["events"]:
                break
        assert "multiple_faces" in result["events"], result
        assert result["risk_score"] > 0

        st, ended = await post(http, base + "/end-session", {"session_id": sid})
        assert st == 200, ended
        assert END_FIELDS <= set(ended)
        assert ended["verdict"] in ("REVIEW", "CHEATING") and ended["total_violations"] >= 1
        assert ended["duration_seconds"] > 0 and ended["final_risk_score"] >= 0

        # the session is Vigil's: ended in its hash, its events in its stream for the reports
        assert (await store.session(sid))["status"] == "ended"
        kinds = [(e["kind"], e.get("event", {}).get("type")) for e in await store.events(sid)]
        assert ("event_started", "multiple_faces") in kinds and ("event_ended", "multiple_faces") in kinds
        assert kinds[-1][0] == "verdict"

        # an ended session takes no frames; ending it again answers the same verdict
        st, refused = await post(http, base + "/analyze-frame", {"session_id": sid, "frame": one_face})
        assert st == 409, refused
        st, again_ended = await post(http, base + "/end-session", {"session_id": sid})
        assert st == 200 and again_ended["verdict"] == ended["verdict"]


async def test_bad_frames_and_unknown_sessions_are_refused_with_vigils_error_shape(vigil_server) -> None:
    base = vigil_server.url
    async with aiohttp.ClientSession() as http:
        st, started = await post(http, base + "/start-session", {"candidate_id": "cand-7", "name": "ignored"})
        assert st == 200
        sid = started["session_id"]
        st, error = await post(http, base + "/analyze-frame", {"session_id": sid, "frame": "bm90IGFuIGltYWdl"})
        assert st == 400 and error["error"] == "invalid image"
        st, error = await post(http, base + "/analyze-frame", {"session_id": "0" * 32, "frame": "x"})
        assert st == 404 and error["error"] == "unknown session"
        st, error = await post(http, base + "/analyze-frame", {"session_id": sid})
        assert st == 400 and error["error"] == "invalid image"
        # a WebRTC session's frames and end are not this API's business
        st, webrtc = await post(http, base + "/api/sessions", {"candidate_id": "cand-8"})
        assert st == 201
        for route in ("/analyze-frame", "/end-session"):
            st, error = await post(http, base + route, {"session_id": webrtc["session_id"], "frame": "x"})
            assert st == 409, error


async def test_docs_answer_where_the_original_served_them(vigil_server) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(vigil_server.url + "/docs") as resp:
            assert resp.status == 200 and resp.url.path == "/api/docs"
            assert 'data-spec="/api/openapi.json"' in await resp.text()  # Swagger UI renders the description
        async with http.get(vigil_server.url + "/api/openapi.json") as resp:
            assert "/analyze-frame" in (await resp.json())["paths"]
        async with http.get(vigil_server.url + "/health") as resp:
            assert resp.status == 200


async def test_off_in_production_unless_named_and_then_for_a_proctor(vigil_server_factory) -> None:
    server = await vigil_server_factory(env="production", jwt_secret="x" * 32)
    async with aiohttp.ClientSession() as http:
        st, error = await post(http, server.url + "/start-session")
        assert st == 404 and "VIGIL_LEGACY_APIS" in error["context"]["hint"]
    server = await vigil_server_factory(env="production", jwt_secret="x" * 32, legacy_apis=("interview",))
    _, owner = await logged_in(server, "proctor")
    _, other = await logged_in(server, "proctor")
    async with aiohttp.ClientSession() as http:
        st, error = await post(http, server.url + "/start-session")
        assert st == 401, error
        exam = await new_exam(http, server.url, owner)
        body = {"candidate_id": "c1", "join_code": exam["join_code"]}
        st, _ = await call(http, "POST", server.url + "/start-session", other, json=body)
        assert st == 403
        st, started = await call(http, "POST", server.url + "/start-session", owner, json=body)
        assert st == 200, started
        sid = started["session_id"]
        st, _ = await call(http, "POST", server.url + "/end-session", other, json={"session_id": sid})
        assert st == 403
        st, ended = await call(http, "POST", server.url + "/end-session", owner, json={"session_id": sid})
        assert st == 200 and ended["verdict"] == "REVIEW"  # never observed: never CLEAR


async def test_an_idle_session_leaves_memory_and_its_next_frame_continues_from_the_store(
        vigil_server, shared_data: Path) -> None:
    from server.http.keys import HTTP_SESSIONS
    from server.live.manager import DISCONNECT_GRACE_S

    base, held = vigil_server.url, vigil_server.app[HTTP_SESSIONS]
    two_faces = jpeg_b64(shared_data / "images/multi_face/obama_and_biden.jpg")
    async with aiohttp.ClientSession() as http:
        _, first = await post(http, base + "/start-session", {"candidate_id": "idle"})
        sid = first["session_id"]
        for _ in range(MAX_FRAMES):
            _, result = await post(http, base + "/analyze-frame", {"session_id": sid, "frame": two_faces})
            if "multiple_faces" in result["events"]:
                break
        assert "multiple_faces" in result["events"]
        held.sessions[sid].used_at -= DISCONNECT_GRACE_S + 1  # as if no frame came for the grace period
        _, other = await post(http, base + "/start-session", {"candidate_id": "busy"})
        st, _ = await post(http, base + "/analyze-frame", {"session_id": other["session_id"], "frame": two_faces})
        assert st == 200 and sid not in held.sessions
        # restored from the snapshot: the same frame count, score and open event (as on another worker)
        st, restored = await post(http, base + "/analyze-frame", {"session_id": sid, "frame": two_faces})
        assert st == 200 and restored["frame_id"] == result["frame_id"] + 1
        assert "multiple_faces" in restored["events"] and restored["risk_score"] >= result["risk_score"] * 0.9
        assert not [c for c in restored["changed"] if c["type"] == "multiple_faces"]  # not started again
        st, ended = await post(http, base + "/end-session", {"session_id": sid})
        assert st == 200 and ended["counts"].get("multiple_faces") == 1
