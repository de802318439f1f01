"""The seed's WebSocket API (the benchmark baseline): real JPEG frames in, detection results out."""
from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
import cv2
import pytest

from server.tools.candidate.media_files import load_video_frames
from tests.conftest import FACE_CLIP


def jpeg_data_url(index: int) -> str:
    """Frame `index` of the face clip as a quality-80 JPEG data URL (what the seed's page sent)."""
    yuv = load_video_frames(FACE_CLIP, 640, 480, 15.0)[index]
    bgr = cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii")


def frame(index: int, timestamp: float) -> str:
    return json.dumps({"type": "frame", "image": jpeg_data_url(index), "timestamp": timestamp})


async def receive(ws: aiohttp.ClientWebSocketResponse, timeout: float = 15.0) -> dict[str, Any]:
    msg = await ws.receive(timeout=timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


@pytest.fixture
async def ws_url(vigil_server) -> str:
    return vigil_server.url.replace("http://", "ws://") + "/ws/face-detection/"


async def test_a_real_jpeg_gets_a_detection_result_with_one_face(ws_url: str) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url + "alice") as ws:
        await ws.send_str(frame(20, 1234.5))
        result = await receive(ws)
        assert result["type"] == "detection_result"
        assert result["timestamp"] == 1234.5
        assert len(result["faces"]) == 1 and result["face_count"] == 1
        x, y, w, h = result["faces"][0]["box"]
        assert 0 <= x <= 1 and 0 <= y <= 1 and 0.05 < w <= 1 and 0.05 < h <= 1
        assert result["faces"][0]["confidence"] > 0.5
        # the same pipeline as the data channel: the other stages' fields come along
        assert "head_pose" in result and result["stages"]["landmarks"]["status"] == "ok"
        assert result["counters"]["frames_analysed"] == 1


async def test_an_invalid_image_gets_an_error_and_the_socket_serves_the_next_frame(ws_url: str) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url + "bob") as ws:
        garbage = base64.b64encode(b"\xff\xd8 this is not a jpeg" * 20).decode()
        await ws.send_str(json.dumps({"type": "frame", "image": "data:image/jpeg;base64," + garbage,
                                      "timestamp": 1.0}))
        error = await receive(ws)
        assert error["type"] == "error" and error["error"] == "invalid image" and error["timestamp"] == 1.0
        await ws.send_str("not json at all")
        assert (await receive(ws))["type"] == "error"
        await ws.send_str(json.dumps({"type": "frame", "image": "data:text/plain;base64,aGk=", "timestamp": 2}))
        assert (await receive(ws))["error"] == "invalid message"
        assert not ws.closed
        await ws.send_str(frame(30, 3.0))
        result = await receive(ws)
        assert result["type"] == "detection_result" and result["timestamp"] == 3.0
        assert result["face_count"] == 1
        assert result["counters"]["errors"] == 3
        await ws.send_str(json.dumps({"type": "stats"}))
        stats = await receive(ws)
        assert stats == {"type": "stats", "counters": {"frames_received": 2, "frames_analysed": 1,
                                                       "frames_dropped": 0, "errors": 3}}


async def test_under_a_burst_the_newest_frame_wins(ws_url: str) -> None:
    texts = [frame(10 + i, float(i)) for i in range(10)]
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url + "carol") as ws:
        for text in texts:  # all ten at once, faster than 5 analyses a second
            await ws.send_str(text)
        results: list[dict[str, Any]] = []
        while not results or results[-1]["timestamp"] != 9.0:
            results.append(await receive(ws, timeout=10))
        await asyncio.sleep(0.6)  # nothing else is still coming
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive(timeout=0.5)
        assert all(r["type"] == "detection_result" for r in results)
        assert len(results) < len(texts)
        assert results[-1]["timestamp"] == 9.0
        stamps = [r["timestamp"] for r in results]
        assert stamps == sorted(stamps)
        counters = results[-1]["counters"]
        assert counters["frames_received"] == 10
        assert counters["frames_analysed"] + counters["frames_dropped"] == 10
