"""A scripted client of the WebSocket baseline (`server/http/routes/face_ws.py`), as the seed's page was.

It sends the same looped clip at the same size and rate as the WebRTC candidates, each frame a
quality-80 JPEG as a base64 data URL in a `frame` message whose `timestamp` is the send time in
ms; the server echoes it, so latency = receipt of the `detection_result` minus that timestamp.
The JPEGs are encoded once per process and shared by every client (encoding 640x480 costs ~3 ms,
which a browser spends too, but which here would make the load generator the bottleneck), so the
send time stands in for the capture time: the WebSocket latency leaves out the client's encode,
whereas the WebRTC latency includes VP8 encoding. Bytes sent are the text messages' lengths
(payload, before WebSocket framing and TCP), the counterpart of RTP payload bytes.
"""
from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from pathlib import Path

import aiohttp
import cv2

from server.tools.candidate.media_files import load_video_frames
from server.tools.loadtest.progress import ClientProgress
from server.tools.loadtest.stats import ClientResult
from server.tools.loadtest.webrtc_client import SETUP_TIMEOUT_S, sleep_until

#: how long the client waits for the server's `stats` answer at the end
STATS_TIMEOUT_S = 5.0

_jpeg_cache: dict[tuple[str, int, int, float, int], list[str]] = {}
_jpeg_lock = threading.Lock()


def jpeg_frames(video: Path | str, width: int, height: int, fps: float, quality: int) -> list[str]:
    """The clip as base64 JPEG data URLs, at the size and rate the WebRTC clients send."""
    key = (str(video), width, height, fps, quality)
    with _jpeg_lock:
        if key not in _jpeg_cache:
            urls = []
            for yuv in load_video_frames(video, width, height, fps):
                bgr = cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)
                ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
                if not ok:
                    raise ValueError("JPEG encoding failed")
                urls.append("data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii"))
            _jpeg_cache[key] = urls
        return _jpeg_cache[key]


def ws_url(base_url: str, client_id: str) -> str:
    return base_url.replace("https://", "wss://").replace("http://", "ws://") + f"/ws/face-detection/{client_id}"


class _Replies:
    """The server's messages to one client: analyses counted and timed, errors counted, the final stats."""

    def __init__(self, result: ClientResult, progress: ClientProgress) -> None:
        self.result = result
        self.progress = progress
        self.latencies: list[float] = []
        self.first_at: float | None = None
        self.stats: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()

    def on_text(self, text: str) -> None:
        now_ms = time.time() * 1000.0
        msg = json.loads(text)
        kind = msg.get("type")
        if kind == "detection_result":
            self.result.analyses += 1
            self.first_at = self.first_at or now_ms / 1000.0
            self.progress.first_analysis_at = self.first_at
            self.progress.analyses = self.result.analyses
            latency = now_ms - msg["timestamp"] if isinstance(msg.get("timestamp"), (int, float)) else None
            self.result.timeline.append((now_ms / 1000.0, latency))
            if latency is not None:
                self.latencies.append(latency)
                self.progress.add_latency(latency)
        elif kind == "error":
            self.result.errors_received += 1
            self.progress.errors = self.result.errors_received
        elif kind == "stats" and not self.stats.done():
            self.stats.set_result(msg.get("counters") or {})

    async def receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.on_text(msg.data)
            elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                break


async def run_ws_client(*, name: str, process: int, url: str, video: str, fps: float, width: int,
                        height: int, quality: int, start_at: float, end_at: float,
                        progress: ClientProgress) -> ClientResult:
    result = ClientResult(name=name, transport="ws", process=process)
    images = jpeg_frames(video, width, height, fps, quality)
    replies = _Replies(result, progress)
    async with aiohttp.ClientSession() as http:
        receiver: asyncio.Task[None] | None = None
        try:
            await sleep_until(start_at)
            progress.state = "connecting"
            t0 = time.monotonic()
            ws = await asyncio.wait_for(http.ws_connect(ws_url(url, name), max_msg_size=0), SETUP_TIMEOUT_S)
            result.setup_s = time.monotonic() - t0
            receiver = asyncio.get_running_loop().create_task(replies.receive(ws))
            progress.state = "streaming"
            streaming_from = time.time()
            frames, sent_bytes = await _send_frames(ws, receiver, images, fps, end_at)
            progress.state = "finishing"
            await _finish(ws, replies, streaming_from=streaming_from, frames=frames, sent_bytes=sent_bytes)
        except Exception as exc:  # a failed client is a result, not a crash of the run
            result.error = f"{type(exc).__name__}: {exc}"[:300]
            result.latencies_ms = replies.latencies
        finally:
            if receiver is not None:
                receiver.cancel()
                await asyncio.gather(receiver, return_exceptions=True)
            progress.state = "done" if result.ok else "failed"
            progress.detail = result.error or ""
    return result


async def _send_frames(ws: aiohttp.ClientWebSocketResponse, receiver: asyncio.Task[None], images: list[str],
                       fps: float, end_at: float) -> tuple[int, int]:
    """The looped clip at `fps` until `end_at`, each frame stamped with its send time; (frames, bytes) sent."""
    start = time.monotonic()
    sent_bytes = 0
    index = 0
    while time.time() < end_at:
        due = start + index / fps
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if receiver.done():
            raise ConnectionError("the server closed the socket")
        image = images[index % len(images)]
        text = f'{{"type":"frame","timestamp":{time.time() * 1000.0:.1f},"image":"{image}"}}'
        await ws.send_str(text)
        sent_bytes += len(text)
        index += 1
    return index, sent_bytes


async def _finish(ws: aiohttp.ClientWebSocketResponse, replies: _Replies, *, streaming_from: float, frames: int,
                  sent_bytes: int) -> None:
    """Records what was sent, asks the server for its counters and closes; ok when any latency was taken."""
    result = replies.result
    stopped_at = time.time()
    analyses_by_stop = result.analyses
    result.streaming_s = stopped_at - streaming_from
    result.frames_sent = frames
    result.bytes_sent = {"video": sent_bytes, "total": sent_bytes}
    await asyncio.sleep(0.5)  # the analysis of the last frame
    await ws.send_str(json.dumps({"type": "stats"}))
    result.server_counters = dict(await asyncio.wait_for(replies.stats, STATS_TIMEOUT_S))
    if replies.first_at is not None and stopped_at - replies.first_at > 0:
        result.analysed_fps = analyses_by_stop / (stopped_at - replies.first_at)
    result.latencies_ms = replies.latencies
    await ws.close()
    result.ok = bool(replies.latencies)
    if not result.ok:
        result.error = "no detection_result arrived"
