"""Typed messages at the edges: HTTP request bodies and data-channel messages (pydantic, frozen)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

ID_PATTERN = r"^[A-Za-z0-9_.@:-]{1,128}$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CreateSession(_Frozen):
    candidate_id: Annotated[str, Field(pattern=ID_PATTERN)]
    exam_id: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    join_code: Annotated[str, Field(min_length=4, max_length=32)] | None = None


class SessionDescription(_Frozen):
    sdp: Annotated[str, Field(min_length=10, max_length=64 * 1024)]
    type: Literal["offer"]


# -- HTTP bodies: accounts, exams, screen geometry ---------------------------------------------
class LoginBody(_Frozen):
    email: Annotated[str, Field(min_length=3, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class RegisterBody(LoginBody):
    role: Literal["admin", "proctor", "candidate"] | None = None


class WindowPlacement(_Frozen):
    x: float = 0.0  # window.screenX
    y: float = 0.0  # window.screenY
    width: Annotated[float, Field(gt=0)]  # window.outerWidth (or innerWidth)
    height: Annotated[float, Field(gt=0)]


class ScreenInfo(_Frozen):
    candidate_id: Annotated[str, Field(pattern=ID_PATTERN)]
    screen_w: float  # screen.width, CSS px
    screen_h: float
    dpr: float = 1.0  # devicePixelRatio
    window: WindowPlacement | None = None
    #: physical size of the screen's visible area, e.g. measured against a card-sized ruler (85.6 mm)
    width_mm: float | None = None
    height_mm: float | None = None
    viewing_distance_mm: float | None = None


class CreateExam(_Frozen):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    policy: dict[str, Any] | None = None


# -- data channel, client to server -------------------------------------------------------------
class _Lenient(BaseModel):
    # clients may add fields (e.g. their own ids); unknown ones are ignored, not fatal
    model_config = ConfigDict(frozen=True, extra="ignore")


class ClockMessage(_Lenient):
    type: Literal["clock"]
    pts: Annotated[int, Field(ge=0, le=2**32 - 1)]
    captured_ms: Annotated[float, Field(gt=0)]


BrowserEventName = Literal["visibility_hidden", "visibility_visible", "fullscreen_exit", "paste", "devtools"]


class BrowserMessage(_Lenient):
    type: Literal["browser"]
    event: BrowserEventName


class CalibrationSample(_Lenient):
    type: Literal["calibration.sample"]
    target: int | None = None
    x: float | None = None
    y: float | None = None
    t_ms: float | None = None


class CalibrationStart(_Lenient):
    type: Literal["calibration.start"]
    points: Literal[5, 9, 13, 16] = 9
    # the calibrated area (the page's full-screen viewport) in CSS px, and optionally its physical
    # size and the viewing distance; plausibility is judged by server.live.calibration, which answers
    # an implausible screen with a calibration.result saying why (not a silently dropped message)
    screen_w: float | None = None
    screen_h: float | None = None
    dpr: float | None = None
    screen_mm_w: float | None = None
    screen_mm_h: float | None = None
    viewing_distance_mm: float | None = None


class CalibrationRecentre(_Lenient):
    """One dot at the centre: corrects the calibrated map's offset (drift) without a refit."""

    type: Literal["calibration.recentre"]


ClientMessage = Annotated[ClockMessage | BrowserMessage | CalibrationSample | CalibrationStart | CalibrationRecentre, Field(discriminator="type")]
client_message = TypeAdapter(ClientMessage)

#: largest data-channel message accepted from a client; bigger ones are counted and ignored.
MAX_CLIENT_MESSAGE_BYTES = 4096
