"""The seed's WebSocket face-detection API, kept as a baseline to measure WebRTC against.

`GET /ws/face-detection/{client_id}` upgrades to a WebSocket. The client sends JPEG frames as
base64 data URLs; the server answers each analysed frame with a `detection_result`:

    -> {"type": "frame", "image": "data:image/jpeg;base64,...", "timestamp": 1732370000101.0}
    <- {"type": "detection_result", "timestamp": 1732370000101.0,   # echoed as sent
        "faces": [{"box": [x, y, w, h], "confidence": 0.97,         # every face, boxes 0..1
                   "eyes": [[x, y, w, h], [x, y, w, h]]}],          # each face's eyes [A, B], or []
        "face_count": 1, "frame_id": 7, "received_ms": ..., "analysed_ms": ..., "pipeline_ms": ...,
        "head_pose": {...}, "gaze": {...}, "objects": [...], "stages": {...}, ...,
        "counters": {"frames_received": ..., "frames_analysed": ..., "frames_dropped": ..., "errors": ...}}
    -> {"type": "stats"}
    <- {"type": "stats", "counters": {...}}
    <- {"type": "error", "error": "invalid image", "detail": ..., "timestamp": <echo or null>}

It runs the same pipeline as the WebRTC path (`app[PIPELINE]`, one `SessionPipeline` per socket)
on the app's analysis executor, with the same flow control (`server.rtc.frames`): a frame goes into a
one-frame `NewestFrame` slot as it arrives, `AnalysisLoop` takes the newest one at most
`VIGIL_ANALYSIS_FPS` times a second, and base64 decoding, `cv2.imdecode` and the stages run in the
executor, one frame in flight per socket. A burst therefore gets fewer answers than frames, and
the last frame of the burst is the one answered. There is no risk engine, audio or session store
behind this endpoint: it is a transport baseline, not a product surface.

Malformed messages and images that do not decode are answered with an `error` and counted; they
never close the socket. Frames larger than aiohttp's message limit (MAX_MESSAGE_BYTES) do close it,
as aiohttp must.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from aiohttp import WSMsgType, web
from prometheus_client import Counter

from pipeline.frame import VideoFrame
from pipeline.runner import Pipeline, SessionPipeline
from pipeline.stages.faces import FaceBox, FacesResult
from pipeline.stages.landmarks import LandmarksResult, Mesh
from server.core.metrics import REGISTRY, REJECTED
from server.core.strict_json import dumps
from server.http.access import require_role
from server.http.keys import ANALYSIS_EXECUTOR, AUTH, BASELINE_SOCKETS, PIPELINE, SETTINGS
from server.live.session import MAX_ANALYSIS_WIDTH
from server.protocol.errors import ApiError
from server.rtc.frames import AnalysisLoop, NewestFrame, Received

log = logging.getLogger(__name__)

#: a 640x480 JPEG at quality 80 is ~60 kB as base64; 4 MB leaves room for 1080p stills.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
#: a box: x, y, w, h normalised to 0..1 of the frame
Box = tuple[float, float, float, float]
#: an eye box guessed from a detector keypoint: this width and height, as fractions of the face box's
#: (what the mesh's eye boxes measure on the test photos: 0.14-0.17 of the face wide, 0.05-0.07 high)
KEYPOINT_EYE_SIZE = (0.15, 0.06)
#: client ids in the path: what the seed's pages sent (uuid-ish), bounded.
MAX_CLIENT_ID_CHARS = 128

WS_FRAMES = Counter("vigil_ws_frames_received", "WebSocket baseline: frames received", registry=REGISTRY)
WS_ANALYSED = Counter("vigil_ws_frames_analysed", "WebSocket baseline: frames analysed", registry=REGISTRY)
WS_ERRORS = Counter("vigil_ws_errors", "WebSocket baseline: invalid messages or images", registry=REGISTRY)

routes = web.RouteTableDef()


class InvalidImage(ValueError):
    """The frame's image is not a decodable JPEG/PNG."""


@dataclass(frozen=True)
class PendingFrame:
    """A frame as received: the still-encoded image and the client's timestamp to echo."""

    image_b64: str
    timestamp: Any


def decode_image(image_b64: str) -> np.ndarray:
    """base64 (no data-URL prefix) -> RGB array scaled to MAX_ANALYSIS_WIDTH. Runs in the executor."""
    try:
        raw = base64.b64decode(image_b64, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise InvalidImage(f"not base64: {exc}") from None
    bgr = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_COLOR) if raw else None
    if bgr is None:
        raise InvalidImage("image does not decode")
    h, w = bgr.shape[:2]
    if w > MAX_ANALYSIS_WIDTH:
        bgr = cv2.resize(bgr, (MAX_ANALYSIS_WIDTH, int(round(h * MAX_ANALYSIS_WIDTH / w / 2) * 2)),
                         interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def strip_data_url(image: Any) -> str:
    """The base64 of an image given bare or as a data URL (`data:image/jpeg;base64,...`); ValueError otherwise."""
    if not isinstance(image, str) or not image:
        raise ValueError("frame without an image")
    if image.startswith("data:"):
        head, sep, image = image.partition(",")
        if not sep or not head.endswith(";base64") or not head.startswith("data:image/"):
            raise ValueError("image must be a base64 data URL (data:image/jpeg;base64,...)")
    return image


def eye_boxes(landmarks: np.ndarray) -> tuple[Box, Box]:
    """A meshed face's eyes [A, B] as boxes (x, y, w, h, 0..1 of the frame), as the seed's Haar eye
    detector gave them: around the eye's corners, lids and iris rim, the iris's width and height at
    least, so a half-closed eye still gets a box that holds its iris."""
    out = []
    for outline, iris in ((Mesh.A_EAR, Mesh.A_IRIS), (Mesh.B_EAR, Mesh.B_IRIS)):
        xy = landmarks[[*outline, *range(iris + 1, iris + 5)], :2].astype(np.float64)
        (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
        out.append((float(x0), float(y0), float(x1 - x0), float(y1 - y0)))
    return out[0], out[1]


def keypoint_eye_boxes(face: FaceBox) -> tuple[Box, Box] | None:
    """A face's eyes [A, B] from the detector's eye keypoints, for a face the landmarker did not mesh
    (its full-frame detector misses small faces that BlazeFace's full-range model finds): boxes of
    `KEYPOINT_EYE_SIZE` of the face box around each keypoint, kept inside the face box."""
    if face.eyes is None:
        return None
    x, y, w, h = face.box
    ew, eh = KEYPOINT_EYE_SIZE[0] * w, KEYPOINT_EYE_SIZE[1] * h
    boxes = []
    for cx, cy in face.eyes:
        x0, y0 = min(max(cx - ew / 2, x), x + w - ew), min(max(cy - eh / 2, y), y + h - eh)
        boxes.append((x0, y0, ew, eh))
    return boxes[0], boxes[1]


def face_entries(faces: FacesResult, mesh: LandmarksResult | None) -> list[dict[str, Any]]:
    """Each face's box and confidence, with `eyes`: the two eye boxes of the mesh whose eyes' centres
    both lie in the face's box (the landmarker meshes up to `landmarks.MAX_FACES` faces; a mesh goes to
    the first such face still without eyes), else from the detector's eye keypoints
    (`keypoint_eye_boxes`), `[]` when the face has neither."""
    eyes_of: dict[int, tuple[Box, Box]] = {}
    meshes = () if mesh is None else (mesh.landmarks, *mesh.other_meshes)
    for eyes in map(eye_boxes, meshes):
        owner = next((i for i, f in enumerate(faces.faces)
                      if i not in eyes_of and all(_inside(_centre(e), f.box) for e in eyes)), None)
        if owner is not None:
            eyes_of[owner] = eyes
    entries = []
    for i, f in enumerate(faces.faces):
        boxes = eyes_of.get(i) or keypoint_eye_boxes(f)
        entries.append({"box": [round(v, 4) for v in f.box], "confidence": round(f.confidence, 3),
                        "eyes": [[round(v, 4) for v in e] for e in boxes or ()]})
    return entries


def _centre(box: Box) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def _inside(point: tuple[float, float], box: Box) -> bool:
    return box[0] <= point[0] <= box[0] + box[2] and box[1] <= point[1] <= box[1] + box[3]


def parse_frame(msg: Any) -> PendingFrame:
    """A `frame` message's image (data-URL prefix stripped) and timestamp; ValueError otherwise."""
    if not isinstance(msg, dict) or msg.get("type") != "frame":
        raise ValueError("expected {\"type\": \"frame\", ...} or {\"type\": \"stats\"}")
    image = strip_data_url(msg.get("image"))
    timestamp = msg.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float, str, type(None))):
        timestamp = None
    return PendingFrame(image, timestamp)


class BaselineConnection:
    """One socket: its slot, its analysis loop, its counters."""

    def __init__(self, ws: web.WebSocketResponse, pipeline: Pipeline, executor: Executor, fps: float) -> None:
        self.ws = ws
        self.session_pipeline: SessionPipeline = pipeline.new_session()
        self.executor = executor
        self.slot: NewestFrame[PendingFrame] = NewestFrame()
        self.loop = AnalysisLoop(self.slot, fps, self._analyse)
        self.frames_received = 0
        self.frames_analysed = 0
        self.errors = 0
        self._frame_id = 0

    def counters(self) -> dict[str, int]:
        return {"frames_received": self.frames_received, "frames_analysed": self.frames_analysed,
                "frames_dropped": self.loop.dropped, "errors": self.errors}

    async def on_text(self, text: str) -> None:
        try:
            msg = json.loads(text)
            if isinstance(msg, dict) and msg.get("type") == "stats":
                await self._send({"type": "stats", "counters": self.counters()})
                return
            frame = parse_frame(msg)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            await self._error("invalid message", str(exc)[:200], None)
            return
        self.frames_received += 1
        WS_FRAMES.inc()
        self.slot.put(frame, time.time() * 1000.0)

    async def _analyse(self, item: Received[PendingFrame]) -> None:
        self._frame_id += 1
        frame_id, received_ms, sp = self._frame_id, item.received_ms, self.session_pipeline
        pending = item.frame

        def work() -> Any:
            rgb = decode_image(pending.image_b64)
            return sp.analyse(VideoFrame(rgb, t=received_ms / 1000.0, frame_id=frame_id, received_ms=received_ms))

        try:
            analysis = await asyncio.get_running_loop().run_in_executor(self.executor, work)
        except InvalidImage as exc:
            await self._error("invalid image", str(exc), pending.timestamp)
            return
        except Exception as exc:  # a stage bug must not close the socket
            log.warning("baseline analysis failed on frame %s", frame_id, exc_info=True)
            await self._error("analysis failed", type(exc).__name__, pending.timestamp)
            return
        self.frames_analysed += 1
        WS_ANALYSED.inc()
        fields = analysis.message_fields()
        fields.pop("face", None)
        fields.pop("faces", None)
        faces = analysis.result("faces", FacesResult)
        boxes = [] if faces is None else face_entries(faces, analysis.result("landmarks", LandmarksResult))
        await self._send({
            "type": "detection_result", "timestamp": pending.timestamp, "faces": boxes,
            "face_count": None if faces is None else len(boxes), "frame_id": frame_id,
            "received_ms": round(received_ms, 1), "analysed_ms": round(time.time() * 1000.0, 1),
            "pipeline_ms": round(analysis.total_ms, 2), **fields, "counters": self.counters(),
        })

    async def _error(self, error: str, detail: Any, timestamp: Any) -> None:
        self.errors += 1
        WS_ERRORS.inc()
        await self._send({"type": "error", "error": error, "detail": detail, "timestamp": timestamp})

    async def _send(self, message: dict[str, Any]) -> None:
        if self.ws.closed:
            return
        try:
            await self.ws.send_str(dumps(message))
        except (ConnectionError, RuntimeError):  # the peer went away mid-send
            pass


async def _admit(request: web.Request) -> None:
    """Off in production unless VIGIL_WS_BASELINE=on, and then only for a proctor or admin: the seed
    protocol has no credentials of its own, so anyone could otherwise run the models for free."""
    settings = request.app[SETTINGS]
    if not settings.ws_baseline_enabled:
        raise ApiError(404, "the seed WebSocket is off", {"hint": "VIGIL_WS_BASELINE=on enables it"}, code="feature_off")
    if settings.env == "production":
        query_token = request.query.get("token")
        if query_token and "Authorization" not in request.headers:  # browsers cannot set headers on a WebSocket
            user = await request.app[AUTH].user_for_token(query_token)
            if user is None or user.role not in ("proctor", "admin"):
                raise ApiError(403, "the seed WebSocket needs a proctor or admin token", code="forbidden")
            return
        await require_role(request, "proctor", "admin")


@routes.get("/ws/face-detection/{client_id}")
async def face_detection(request: web.Request) -> web.StreamResponse:
    """One baseline socket, on the app's pipeline and analysis executor."""
    await _admit(request)
    client_id = request.match_info["client_id"]
    if not 0 < len(client_id) <= MAX_CLIENT_ID_CHARS:
        raise ApiError(400, "bad client id", code="invalid_parameter")
    app, open_sockets = request.app, request.app[BASELINE_SOCKETS]
    # the seed protocol has no credentials: cap its sockets like sessions, so it cannot eat the CPU
    if len(open_sockets) >= app[SETTINGS].max_sessions:
        REJECTED.labels("ws_baseline").inc()
        raise ApiError(429, "too many WebSocket clients on this worker", {"max": app[SETTINGS].max_sessions},
                       code="too_many_clients")
    ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES)
    await ws.prepare(request)
    conn = BaselineConnection(ws, app[PIPELINE], app[ANALYSIS_EXECUTOR], app[SETTINGS].analysis_fps)
    analysis = asyncio.get_running_loop().create_task(conn.loop.run(), name=f"ws-analysis-{client_id}")
    open_sockets.add(ws)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await conn.on_text(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await conn._error("invalid message", "binary messages are not accepted", None)
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        open_sockets.discard(ws)
        conn.slot.close()
        analysis.cancel()
        await asyncio.gather(analysis, return_exceptions=True)
    return ws
