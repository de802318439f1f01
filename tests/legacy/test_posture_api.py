"""The original posture API's contract, from its description: a WebSocket taking `{"image": base64}` and
answering keypoints and a posture score, and a logged-in user's saved analyses; on real images, against
a real server."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp

from tests.legacy.images import clip_frame_b64, jpeg_b64
from tests.test_accounts import call, logged_in


async def answer(ws: aiohttp.ClientWebSocketResponse, message: Any) -> dict[str, Any]:
    await ws.send_str(json.dumps(message))
    msg = await ws.receive(timeout=60)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def test_a_seated_candidate_has_shoulders_and_a_score_and_an_empty_room_has_none(
        vigil_server, shared_data: Path) -> None:
    url = vigil_server.url.replace("http://", "ws://") + "/ws/posture"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        seated = await answer(ws, {"image": clip_frame_b64(20)})
        assert set(seated) >= {"keypoints", "posture_score"}, seated
        names = {k["name"] for k in seated["keypoints"]}
        assert {"nose", "left_shoulder", "right_shoulder"} <= names, seated
        assert all(0 <= k["x"] <= 1 and 0 <= k["y"] <= 1 and k["visibility"] > 0 for k in seated["keypoints"])
        assert seated["label"] == "upright" and 0.5 <= seated["posture_score"] <= 1 and seated["left_seat"] is False

        # a data URL is the same image; another image is judged on its own, nothing carried over
        empty = await answer(ws, {"image": "data:image/jpeg;base64," + jpeg_b64(
            shared_data / "images/no_face/skimage_coffee.png")})
        assert empty["keypoints"] == [] and empty["label"] == "out_of_frame" and empty["left_seat"] is True

        error = await answer(ws, {"image": "bm90IGFuIGltYWdl"})
        assert error["error"] == "invalid image"
        error = await answer(ws, {"frame": "no image field"})
        assert error["error"] == "invalid message"
        again = await answer(ws, {"image": clip_frame_b64(20)})
        assert again["keypoints"] == seated["keypoints"]


async def test_saved_analyses_belong_to_the_user_who_saved_them(vigil_server) -> None:
    base = vigil_server.url
    _, alice = await logged_in(vigil_server, "candidate")
    _, bob = await logged_in(vigil_server, "proctor")
    saved = {"keypoints": [{"name": "nose", "x": 0.5, "y": 0.3, "visibility": 0.99}], "posture_score": 0.93,
             "note": "after lunch"}
    async with aiohttp.ClientSession() as http:
        st, _ = await call(http, "POST", base + "/api/analysis/save", json=saved)
        assert st == 401
        st, first = await call(http, "POST", base + "/api/analysis/save", alice, json=saved)
        assert st == 201 and set(first) == {"id", "saved_at"}
        st, second = await call(http, "POST", base + "/api/analysis/save", alice, json={"posture_score": 0.4})
        assert st == 201

        st, listed = await call(http, "GET", base + "/api/analysis/list", alice)
        assert st == 200 and [a["id"] for a in listed["analyses"]] == [second["id"], first["id"]]
        st, one = await call(http, "GET", f"{base}/api/analysis/{first['id']}", alice)
        assert st == 200 and one == {**saved, "id": first["id"], "saved_at": first["saved_at"]}

        # bob sees none of alice's, and cannot delete them
        st, listed = await call(http, "GET", base + "/api/analysis/list", bob)
        assert st == 200 and listed["analyses"] == []
        st, _ = await call(http, "GET", f"{base}/api/analysis/{first['id']}", bob)
        assert st == 404
        st, _ = await call(http, "DELETE", f"{base}/api/analysis/{first['id']}", bob)
        assert st == 404

        st, deleted = await call(http, "DELETE", f"{base}/api/analysis/{first['id']}", alice)
        assert st == 200 and deleted == {"deleted": first["id"]}
        st, _ = await call(http, "GET", f"{base}/api/analysis/{first['id']}", alice)
        assert st == 404
        st, listed = await call(http, "GET", base + "/api/analysis/list", alice)
        assert [a["id"] for a in listed["analyses"]] == [second["id"]]
        st, _ = await call(http, "POST", base + "/api/analysis/save", alice, json=[1, 2])
        assert st == 400
