"""The original posture API on Vigil's posture stage, and a user's saved analyses in the store.

    GET /ws/posture                 WebSocket
      -> {"image": "<base64 JPEG or data URL>"}
      <- {"keypoints": [{"name", "x", "y", "visibility"}], "posture_score", "label", "left_seat"}
      <- {"error": "invalid image" | "invalid message", "detail"}       (the socket stays open)
    POST   /api/analysis/save       {"keypoints"?, "posture_score"?, ...any JSON}  -> 201 {"id", "saved_at"}
    GET    /api/analysis/list       -> {"analyses": [{"id", "saved_at", ...as saved}]}, newest first
    GET    /api/analysis/{id}       -> the saved analysis
    DELETE /api/analysis/{id}       -> {"deleted": id}

Each image is judged on its own, as the original did: the posture stage (`pipeline/stages/posture.py`,
BlazePose) runs on every answered frame with a fresh per-frame state, never a result carried from an
earlier image. Flow control is the face-detection socket's: a one-frame slot, the newest frame wins, at
most `VIGIL_ANALYSIS_FPS` analyses a second, decoding and the model on the analysis executor.

`keypoints` are the visible upper-body points (0..1 of the frame); `posture_score` is the stage's
confidence in its `label` (`upright`, `leaning`, `out_of_frame`, ...), 0..1. Saved analyses belong to
the logged-in account that saved them (any role) and are seen by it alone.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from pipeline.runner import Pipeline
from pipeline.stages.posture import PostureResult
from server.core.strict_json import dumps, loads
from server.http.access import require_role
from server.http.errors import json_response, read_json
from server.http.keys import PIPELINE, SETTINGS, STORE
from server.http.legacy.common import admit, analyse_frame, frame_payload, require_on
from server.http.routes.face_ws import MAX_MESSAGE_BYTES
from server.protocol.answers import Deleted
from server.protocol.base import Outbound
from server.protocol.errors import ApiError
from server.rtc.frames import AnalysisLoop, NewestFrame, Received

API = "posture"
#: saved analyses listed at most
MAX_LISTED = 200
ANALYSIS_ID = re.compile(r"^[0-9a-f]{32}$")

routes = web.RouteTableDef()


class AnalysisSaved(Outbound):
    """`POST /api/analysis/save`'s answer: the id to read or delete it by."""

    id: str
    saved_at: float


def posture_answer(result: PostureResult | None) -> dict[str, Any]:
    """The original's answer from the stage's result (None: the stage could not run)."""
    if result is None:
        return {"keypoints": [], "posture_score": None, "label": None, "left_seat": None}
    return {"keypoints": [{"name": k.name, "x": round(k.x, 4), "y": round(k.y, 4),
                           "visibility": round(k.visibility, 3)} for k in result.keypoints],
            "posture_score": round(result.score, 3), "label": result.label, "left_seat": result.left_seat}


class PostureSocket:
    """One socket: its newest-frame slot and the loop answering it."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        self.request = request
        self.ws = ws
        self.pipeline: Pipeline = request.app[PIPELINE]
        self.slot: NewestFrame[str] = NewestFrame()
        self.loop = AnalysisLoop(self.slot, request.app[SETTINGS].analysis_fps, self._analyse)
        self.frames = 0

    async def on_text(self, text: str) -> None:
        try:
            msg = json.loads(text)
            image = frame_payload(msg.get("image") if isinstance(msg, dict) else None)
        except ValueError as exc:
            await self._send({"error": "invalid message", "detail": str(exc)[:200]})
            return
        except ApiError as exc:
            await self._send({"error": "invalid message", "detail": exc.detail})
            return
        self.slot.put(image, time.time() * 1000.0)

    async def _analyse(self, item: Received[str]) -> None:
        self.frames += 1
        try:
            analysis = await analyse_frame(self.request, item.frame, self.pipeline.new_session(),
                                           t=item.received_ms / 1000.0, frame_id=self.frames, only=("posture",))
        except ApiError as exc:
            await self._send({"error": exc.error, "detail": exc.detail})
            return
        await self._send(posture_answer(analysis.result("posture", PostureResult)))

    async def _send(self, message: dict[str, Any]) -> None:
        if not self.ws.closed:
            try:
                await self.ws.send_str(dumps(message))
            except (ConnectionError, RuntimeError):  # the peer went away mid-send
                pass


@routes.get("/ws/posture")
async def posture_socket(request: web.Request) -> web.StreamResponse:
    await admit(request, API)
    ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES)
    await ws.prepare(request)
    conn = PostureSocket(request, ws)
    analysis = asyncio.get_running_loop().create_task(conn.loop.run(), name="ws-posture")
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await conn.on_text(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await conn._send({"error": "invalid message", "detail": "binary messages are not accepted"})
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        conn.slot.close()
        analysis.cancel()
        await asyncio.gather(analysis, return_exceptions=True)
    return ws


# -- saved analyses ------------------------------------------------------------------------------
async def _owner(request: web.Request) -> str:
    """The logged-in account whose analyses these are (any role)."""
    require_on(request, API)
    return (await require_role(request, "candidate", "proctor", "admin")).user_id


def _analysis_id(request: web.Request) -> str:
    analysis_id = request.match_info["analysis_id"]
    if not ANALYSIS_ID.match(analysis_id):
        raise ApiError(404, "unknown analysis", {"id": analysis_id[:64]})
    return analysis_id


@routes.post("/api/analysis/save")
async def save_analysis(request: web.Request) -> web.Response:
    user_id = await _owner(request)
    body = await read_json(request, request.app[SETTINGS].max_body_bytes)
    if not isinstance(body, dict):
        raise ApiError(400, "an analysis is a JSON object")
    analysis_id, now = uuid.uuid4().hex, time.time()
    doc = {**body, "id": analysis_id, "saved_at": now}
    await request.app[STORE].saved_analyses.save(user_id, analysis_id, dumps(doc), now)
    return json_response(AnalysisSaved(id=analysis_id, saved_at=now), status=201)


@routes.get("/api/analysis/list")
async def list_analyses(request: web.Request) -> web.Response:
    user_id = await _owner(request)
    docs = await request.app[STORE].saved_analyses.newest(user_id, MAX_LISTED)
    return json_response({"analyses": [loads(d) for d in docs]})


@routes.get("/api/analysis/{analysis_id}")
async def get_analysis(request: web.Request) -> web.Response:
    user_id = await _owner(request)
    analysis_id = _analysis_id(request)
    doc = await request.app[STORE].saved_analyses.get(user_id, analysis_id)
    if doc is None:
        raise ApiError(404, "unknown analysis", {"id": analysis_id})
    return json_response(loads(doc))


@routes.delete("/api/analysis/{analysis_id}")
async def delete_analysis(request: web.Request) -> web.Response:
    user_id = await _owner(request)
    analysis_id = _analysis_id(request)
    if not await request.app[STORE].saved_analyses.delete(user_id, analysis_id):
        raise ApiError(404, "unknown analysis", {"id": analysis_id})
    return json_response(Deleted(deleted=analysis_id))
