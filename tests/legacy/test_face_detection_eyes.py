"""The face-detection WebSocket's contract (the seed's API): each face carries its `eyes` boxes."""
from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from tests.legacy.images import clip_frame_b64, jpeg_b64


async def detect(url: str, image_b64: str) -> dict:  # type: ignore[type-arg]
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.send_str(json.dumps({"type": "frame", "image": "data:image/jpeg;base64," + image_b64,
                                      "timestamp": 1.0}))
        msg = await ws.receive(timeout=30)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        return json.loads(msg.data)


def inside(inner: list[float], outer: list[float]) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and \
        inner[0] + inner[2] <= outer[0] + outer[2] and inner[1] + inner[3] <= outer[1] + outer[3]


async def test_a_face_has_two_eye_boxes_inside_its_box_left_of_image_first(vigil_server, shared_data: Path) -> None:
    url = vigil_server.url.replace("http://", "ws://") + "/ws/face-detection/eyes"
    for image in (jpeg_b64(shared_data / "images/faces/obama.jpg"), clip_frame_b64(20)):
        result = await detect(url, image)
        assert result["type"] == "detection_result" and result["face_count"] == 1, result
        face = result["faces"][0]
        assert len(face["eyes"]) == 2, face
        (a, b) = face["eyes"]
        for eye in (a, b):
            assert inside(eye, face["box"]), (eye, face["box"])
            assert 0.02 < eye[2] < face["box"][2] / 2 and 0 < eye[3] < face["box"][3] / 3
        # eye A (the candidate's right) sits on the image's left, both in the upper half of the face
        assert a[0] + a[2] <= b[0]
        assert abs(a[1] - b[1]) < face["box"][3] / 5
        assert a[1] + a[3] < face["box"][1] + face["box"][3] * 0.6


async def test_every_face_of_a_crowd_gets_its_own_two_eyes(vigil_server, shared_data: Path) -> None:
    """In `two_people.jpg` the landmarker meshes both faces; in `obama_and_biden.jpg` only one (its
    full-frame detector misses both small faces; the retry meshes the largest), and the other face's
    eyes come from the face detector's eye keypoints."""
    url = vigil_server.url.replace("http://", "ws://") + "/ws/face-detection/crowd"
    for name in ("obama_and_biden.jpg", "two_people.jpg"):
        result = await detect(url, jpeg_b64(shared_data / "images/multi_face" / name))
        assert result["face_count"] == 2, (name, result)
        for face in result["faces"]:
            assert len(face["eyes"]) == 2, (name, face)
            a, b = face["eyes"]
            assert all(inside(eye, face["box"]) for eye in (a, b)), (name, face)
            assert a[0] + a[2] <= b[0], (name, face)  # eye A on the image's left
            assert all(eye[2] < face["box"][2] / 2 and eye[3] < face["box"][3] / 3 for eye in (a, b)), (name, face)
