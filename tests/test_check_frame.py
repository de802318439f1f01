"""The system check's face test (`POST /api/sessions/{id}/check-frame`) on real photos, sent as the exam
page sends its preview: 480 px wide JPEGs as data URLs, with the session's token, before any offer."""
from __future__ import annotations

import base64

import aiohttp
import cv2
import numpy as np
import pytest

from server.http.keys import CHECK_FRAME_LIMITS
from tests.vision_helpers import read_rgb

#: the page's still width (static/client/face-check.js); at 320 px the detector takes the cat photo for a face
WIDTH = 480
FACES = ("faces/skimage_astronaut.png", "faces/obama.jpg", "faces/biden.jpg")
NO_FACES = ("no_face/opencv_home.jpg", "no_face/skimage_chelsea_cat.png", "no_face/skimage_coffee.png",
            "no_face/skimage_rocket.jpg")


def as_page_sends(rgb: np.ndarray, width: int = WIDTH) -> str:
    """What the page's canvas gives: the frame scaled to `width` px, a JPEG data URL."""
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(small[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode()


async def new_session(http: aiohttp.ClientSession, base: str) -> tuple[str, dict[str, str]]:
    async with http.post(base + "/api/sessions", json={"candidate_id": "check"}) as resp:
        assert resp.status == 201
        made = await resp.json()
    return made["session_id"], {"Authorization": "Bearer " + made["token"]}


async def check(http: aiohttp.ClientSession, base: str, sid: str, auth: dict[str, str], image: str,
                expect: int = 200) -> dict:
    async with http.post(f"{base}/api/sessions/{sid}/check-frame", json={"image": image}, headers=auth) as resp:
        body = await resp.json()
        assert resp.status == expect, body
        return body


@pytest.mark.parametrize("name", FACES)
async def test_a_face_is_found(vigil_server, name: str) -> None:
    async with aiohttp.ClientSession() as http:
        sid, auth = await new_session(http, vigil_server.url)
        answer = await check(http, vigil_server.url, sid, auth, as_page_sends(read_rgb(name)))
    assert answer == {"code": "ok", "faces": 1, "quality": "ok"}


@pytest.mark.parametrize("name", NO_FACES)
async def test_no_face_is_said(vigil_server, name: str) -> None:
    async with aiohttp.ClientSession() as http:
        sid, auth = await new_session(http, vigil_server.url)
        answer = await check(http, vigil_server.url, sid, auth, as_page_sends(read_rgb(name)))
    assert answer["faces"] == 0
    assert answer["code"] == ("no_face" if answer["quality"] == "ok" else answer["quality"])


async def test_a_dim_room_and_a_covered_lens_are_told_apart(vigil_server) -> None:
    face = read_rgb("faces/obama.jpg")
    dim = (face.astype(np.float32) * 0.15).astype(np.uint8)  # a dark room: the scene is still there
    black = np.full_like(face, 4)  # a lens cap
    async with aiohttp.ClientSession() as http:
        sid, auth = await new_session(http, vigil_server.url)
        assert (await check(http, vigil_server.url, sid, auth, as_page_sends(dim)))["code"] == "dark"
        covered = await check(http, vigil_server.url, sid, auth, as_page_sends(black))
    assert covered == {"code": "covered", "faces": 0, "quality": "covered"}


async def test_the_check_writes_nothing_and_leaves_the_session_created(vigil_server) -> None:
    async with aiohttp.ClientSession() as http:
        sid, auth = await new_session(http, vigil_server.url)
        await check(http, vigil_server.url, sid, auth, as_page_sends(read_rgb("faces/biden.jpg")))
        await check(http, vigil_server.url, sid, auth, as_page_sends(read_rgb("no_face/skimage_coffee.png")))
    assert await vigil_server.store.events(sid) == []
    assert (await vigil_server.store.session(sid))["status"] == "created"


async def test_only_before_the_offer_and_only_with_the_sessions_token(vigil_server) -> None:
    frame = as_page_sends(read_rgb("faces/obama.jpg"))
    async with aiohttp.ClientSession() as http:
        sid, auth = await new_session(http, vigil_server.url)
        other, other_auth = await new_session(http, vigil_server.url)
        await check(http, vigil_server.url, sid, other_auth, frame, expect=403)  # another session's token
        await vigil_server.store.update_session(sid, {"status": "connecting"})  # as an offer leaves it
        closed = await check(http, vigil_server.url, sid, auth, frame, expect=409)
        assert closed["code"] == "check_closed"
        async with http.post(f"{vigil_server.url}/api/sessions/{other}/end", headers=other_auth) as resp:
            assert resp.status == 200
        ended = await check(http, vigil_server.url, other, other_auth, frame, expect=409)
    assert ended["code"] == "session_ended"


async def test_bad_frames_are_refused_with_a_stable_code(vigil_server) -> None:
    async with aiohttp.ClientSession() as http:
        sid, auth = await new_session(http, vigil_server.url)
        not_an_image = await check(http, vigil_server.url, sid, auth, "data:image/jpeg;base64,aGVsbG8=", expect=400)
        assert not_an_image["error"] == "invalid image"
        too_big = await check(http, vigil_server.url, sid, auth, "A" * 200_000, expect=413)
    assert too_big["code"] == "body_too_large"


async def test_a_session_sending_too_fast_is_told_to_wait(vigil_server) -> None:
    # the budget refills at 1 frame/s; slowed here to nothing so the test does not depend on timing
    vigil_server.app[CHECK_FRAME_LIMITS].rate = 1e-6
    frame = as_page_sends(read_rgb("faces/obama.jpg"))
    async with aiohttp.ClientSession() as http:
        sid, auth = await new_session(http, vigil_server.url)
        for _ in range(int(vigil_server.app[CHECK_FRAME_LIMITS].burst)):
            await check(http, vigil_server.url, sid, auth, frame)
        async with http.post(f"{vigil_server.url}/api/sessions/{sid}/check-frame", json={"image": frame},
                             headers=auth) as resp:
            assert resp.status == 429
            assert resp.headers["Retry-After"]
            assert (await resp.json())["code"] == "too_many_check_frames"
        other, other_auth = await new_session(http, vigil_server.url)  # the budget is per session
        await check(http, vigil_server.url, other, other_auth, frame)
