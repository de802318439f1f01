"""`POST /api/sessions/{session_id}/check-frame`: the system check's "face found" test.

Before the exam starts, the candidate's page sends a small still from its camera preview every
second or two; the answer says whether the server sees one face in a usable picture, or why not
(`CheckFrameResult`, a stable `code`). It lets the check say "Face found" without a live session:
the session stays `created` (no peer, no proctor sees it), nothing is written to its event log, and
each frame is analysed by a fresh `SessionPipeline` that is then dropped (no state carries over,
so a still frame is never `frozen`).

Only the quality and faces stages run, on the analysis executor, through the same decoding as the
original APIs' base64 frames (`server.http.legacy.common`). A frame is small (the page sends 480 px
wide JPEGs, ~40 kB as base64): the body is capped at `MAX_FRAME_BYTES`, and each session may send
`FRAMES_PER_S` frames a second on average (`KeyedBuckets`, per worker: the route runs on the
session's worker, so the limit is the session's).
"""
from __future__ import annotations

import time

from aiohttp import web

from pipeline.analysis import FrameAnalysis
from pipeline.risk.messages import ImageQuality
from pipeline.stages.faces import FacesResult
from pipeline.stages.quality import QualityResult
from server.core.rate_limit import KeyedBuckets
from server.http.access import require_session_token, session_id
from server.http.affinity import on_session_worker
from server.http.errors import json_response, read_json
from server.http.keys import CHECK_FRAME_LIMITS, PIPELINE, SESSIONS, SETTINGS
from server.http.legacy.common import analyse_frame, frame_payload
from server.protocol.errors import ApiError
from server.protocol.http import CheckFrame, CheckFrameCode, CheckFrameResult

#: the stages a check frame needs: can the picture be judged, and is there a face
CHECK_STAGES = ("quality", "faces")
#: a 480 px JPEG is ~40 kB as base64; 128 kB leaves room for a 640 px one
MAX_FRAME_BYTES = 128 * 1024
#: frames a second per session on average (the page sends one every 1.5 s), and the burst allowed
FRAMES_PER_S, FRAMES_BURST = 1.0, 3.0
#: pictures in which a missing face says nothing: said as such (never `frozen`: each frame is analysed alone)
UNJUDGEABLE: dict[ImageQuality, CheckFrameCode] = {
    "covered": "covered", "dark": "dark", "overexposed": "overexposed", "blurred": "blurred"}
#: seconds a refused client is told to wait
RETRY_AFTER_S = 2.0

routes = web.RouteTableDef()


def new_limits() -> KeyedBuckets:
    """The per-session frame budget, one per worker (`CHECK_FRAME_LIMITS`)."""
    return KeyedBuckets(FRAMES_PER_S, FRAMES_BURST)


def verdict(analysis: FrameAnalysis) -> CheckFrameResult:
    """What the check tells the candidate about one analysed frame (`CheckFrameCode`, first match wins)."""
    quality = analysis.result("quality", QualityResult)
    faces = analysis.result("faces", FacesResult)
    count = None if faces is None else faces.count
    code: CheckFrameCode
    if quality is not None and quality.status in UNJUDGEABLE:
        code = UNJUDGEABLE[quality.status]
    elif count is None:
        code = "unavailable"
    else:
        code = "ok" if count == 1 else "no_face" if count == 0 else "several_faces"
    return CheckFrameResult(code=code, faces=count, quality=None if quality is None else quality.status)


@routes.post("/api/sessions/{session_id}/check-frame")
@on_session_worker  # not for the peer (there is none yet): the per-session rate limit lives on one worker
async def check_frame(request: web.Request) -> web.Response:
    sid = session_id(request)
    require_session_token(request, sid)
    status = (await request.app[SESSIONS].require(sid)).get("status")
    if status == "ended":
        raise ApiError(409, "session has ended", code="session_ended")
    if status != "created":
        raise ApiError(409, f"the system check is over: session is {status}", {"status": status}, code="check_closed")
    if not request.app[CHECK_FRAME_LIMITS].allow(sid, time.monotonic()):
        raise ApiError(429, "too many check frames; send one every 1.5 s", {"retry_after_s": RETRY_AFTER_S},
                       code="too_many_check_frames", retry_after_s=RETRY_AFTER_S)
    body = CheckFrame.model_validate(await read_json(request, min(MAX_FRAME_BYTES, request.app[SETTINGS].max_body_bytes)))
    t = time.time()
    analysis = await analyse_frame(request, frame_payload(body.image), request.app[PIPELINE].new_session(),
                                   t=t, frame_id=1, only=CHECK_STAGES)
    return json_response(verdict(analysis).model_dump(mode="json"))
