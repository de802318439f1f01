"""Typed messages at the edges: HTTP request bodies and data-channel messages (pydantic, frozen)."""
from __future__ import annotations

from typing import Annotated, Literal, Union

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
    # size and the viewing distance; plausibility is judged by server.calibration, which answers
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


ClientMessage = Annotated[Union[ClockMessage, BrowserMessage, CalibrationSample, CalibrationStart,
                                CalibrationRecentre], Field(discriminator="type")]
client_message = TypeAdapter(ClientMessage)

#: largest data-channel message accepted from a client; bigger ones are counted and ignored.
MAX_CLIENT_MESSAGE_BYTES = 4096
