"""What the original APIs' adapters share: their on/off switch and caller check, base64 frames in.

Callers. The originals had no credentials. In `dev` an adapter answers anyone, as they did; in
`production` (where each is off unless `VIGIL_LEGACY_APIS` names it) `integrator` admits an exam
platform's backend: an integrator's API key (`vk_<id>.<secret>`), or a proctor or admin account's
bearer token, in `Authorization: Bearer` or `?token=` on a WebSocket (browsers cannot set headers
there). A user sees only the sessions of exams they may see; a key only those of the exams in its
scope, and the sessions it starts belong to one of them (`key_exam`).

Frames. A frame is a JPEG or PNG as bare base64 or a data URL; it is decoded and analysed on the app's
analysis executor (never on the event loop), scaled like every other frame (`face_ws.decode_image`).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from pipeline.analysis import FrameAnalysis
from pipeline.frame import VideoFrame
from pipeline.runner import SessionPipeline
from server.accounts.apikeys import IDENTITY_SCHEME, ApiKey, is_api_key
from server.accounts.auth import User
from server.http.access import api_key_caller, is_session_id, require_role, require_visible
from server.http.keys import ANALYSIS_EXECUTOR, APIKEYS, AUTH, SETTINGS, STORE
from server.http.routes.face_ws import InvalidImage, decode_image, strip_data_url
from server.protocol.errors import ApiError


@dataclass(frozen=True)
class Integrator:
    """Who drives an original API in production: an account (proctor or admin) or an API key, one of them."""

    user: User | None = None
    key: ApiKey | None = None

    @property
    def owner(self) -> str:
        """Whose the documents this caller makes are (calibration runs, saved screens)."""
        if self.key is not None:
            return f"{IDENTITY_SCHEME}{self.key.key_id}"
        assert self.user is not None
        return self.user.user_id

    @property
    def sees_everything(self) -> bool:
        return self.user is not None and self.user.role == "admin"


async def admit(request: web.Request, api: str) -> Integrator | None:
    """404 while `api` is switched off; else the caller (`integrator`)."""
    require_on(request, api)
    return await integrator(request)


async def admitted(request: web.Request, api: str) -> tuple[bool, Integrator | None]:
    """`admit` without its refusals: whether `api` is on and takes this caller, and who the caller is.
    For a path an original API shares with Vigil's own routes, which decide the refusal."""
    try:
        return True, await admit(request, api)
    except ApiError:
        return False, None


def require_on(request: web.Request, api: str) -> None:
    """404 while `api` is switched off (VIGIL_LEGACY_APIS)."""
    if not request.app[SETTINGS].legacy_api_enabled(api):
        raise ApiError(404, f"the original {api} API is off", {"hint": f"VIGIL_LEGACY_APIS={api} enables it"})


async def integrator(request: web.Request) -> Integrator | None:
    """Who drives an original API. Production: an API key (401 when wrong or revoked), else a proctor or
    admin token; dev: anyone, None (credentials given are not looked at: the originals had none, and a
    token must not narrow them)."""
    if request.app[SETTINGS].env != "production":
        return None
    query_token = request.query.get("token")
    if query_token and "Authorization" not in request.headers:  # a browser's WebSocket
        if is_api_key(query_token):
            return Integrator(key=await request.app[APIKEYS].authenticate(query_token))
        user = await request.app[AUTH].user_for_token(query_token)
        if user is None or user.role not in ("proctor", "admin"):
            raise ApiError(403, "this API needs an API key or a proctor or admin token")
        return Integrator(user=user)
    key = await api_key_caller(request)
    if key is not None:
        return Integrator(key=key)
    return Integrator(user=await require_role(request, "proctor", "admin"))


def key_exam(key: ApiKey, exam_id: str | None) -> str:
    """The exam a session an API key starts belongs to: `exam_id` when the body names one (in the key's
    scope, else 403), else the key's only exam (400 when it has several: the caller must choose)."""
    if exam_id is None:
        if len(key.exams) != 1:
            raise ApiError(400, "this API key has several exams: name one (exam_id)", {"exams": list(key.exams)})
        return key.exams[0]
    key.require_exam(exam_id)
    return exam_id


async def visible_session(request: web.Request, sid: Any, caller: Integrator | None) -> dict[str, str]:
    """The hash of session `sid`, which `caller` (when there is one) may see; 404 for an unknown id."""
    data = await request.app[STORE].session(sid) if isinstance(sid, str) and is_session_id(sid) else None
    if data is None:
        raise ApiError(404, "unknown session", {"session_id": str(sid)[:64]})
    if caller is not None and caller.key is not None:
        if not caller.key.allows(data.get("exam_id", "")):
            raise ApiError(403, "this session belongs to an exam outside this API key's scope", code="forbidden")
    elif caller is not None:
        await require_visible(request, caller.user, data)
    return data


def frame_payload(image: Any) -> str:
    """The bare base64 of a frame given bare or as a data URL; 400 otherwise."""
    try:
        return strip_data_url(image)
    except ValueError as exc:
        raise ApiError(400, "invalid image", str(exc)) from None


async def analyse_frame(request: web.Request, image_b64: str, sp: SessionPipeline, *, t: float, frame_id: int,
                        only: tuple[str, ...] | None = None) -> FrameAnalysis:
    """Decode and analyse one frame on the analysis executor; 400 for an image that does not decode.

    A posted frame stands alone (a client's frames may be seconds or scenes apart, and the original
    backends analysed each one whole), so every stage asked for runs on it: a result carried by a live
    video's schedule would, e.g., miss a second face that entered between two posts."""
    def work() -> FrameAnalysis:
        rgb = decode_image(image_b64)
        return sp.analyse(VideoFrame(rgb, t=t, frame_id=frame_id, received_ms=t * 1000.0), only,
                          refresh=[stage.name for stage in sp.pipeline.stages])

    try:
        return await asyncio.get_running_loop().run_in_executor(request.app[ANALYSIS_EXECUTOR], work)
    except InvalidImage as exc:
        raise ApiError(400, "invalid image", str(exc)) from None
