"""The `vigil` data channel, both ways (docs/data-channel.md).

Client to server: `ClientMessage`, validated by `client_message`; unknown keys are ignored, unknown
types and malformed or oversized messages are counted and ignored (never fatal). Server to client:
`ServerMessage`, built as dicts by the session (`server.live`) and described here; a proctor's
watcher channel carries the same messages as the candidate's.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from pipeline.risk.messages import BrowserEvent
from server.protocol.analysis_model import AnalysisMessage
from server.protocol.base import Lenient, Outbound
from server.protocol.calibration_model import CalibrationResult, CalibrationTarget

#: largest data-channel message accepted from a client; bigger ones are counted and ignored.
MAX_CLIENT_MESSAGE_BYTES = 4096


# -- client to server --------------------------------------------------------------------------
class ClockMessage(Lenient):
    """Maps an RTP timestamp the client sent to its capture time (end-to-end latency)."""

    type: Literal["clock"]
    pts: Annotated[int, Field(ge=0, le=2**32 - 1)]
    captured_ms: Annotated[float, Field(gt=0)]


class BrowserMessage(Lenient):
    type: Literal["browser"]
    event: BrowserEvent


class CalibrationSample(Lenient):
    """The page's own note (e.g. when it drew a dot); timing is server-side, so it changes nothing."""

    type: Literal["calibration.sample"]
    target: int | None = None
    x: float | None = None
    y: float | None = None
    t_ms: float | None = None


class CalibrationStart(Lenient):
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


class CalibrationRecentre(Lenient):
    """One dot at the centre: corrects the calibrated map's offset (drift) without a refit."""

    type: Literal["calibration.recentre"]


ClientMessage = Annotated[
    ClockMessage | BrowserMessage | CalibrationSample | CalibrationStart | CalibrationRecentre,
    Field(discriminator="type")]
client_message: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


# -- server to client --------------------------------------------------------------------------
#: what a `warning` is about, stable across languages: a page translates by it, `message` is English
WarningCode = Literal["microphone_missing", "video_lost", "message_flood"]


class WarningMessage(Outbound):
    """Plain words for the candidate, e.g. no microphone audio reaching the server."""

    type: Literal["warning"]
    code: WarningCode
    message: str


class EndedMessage(Outbound):
    """The session ended (by the candidate, a proctor or an admin); the peer closes next."""

    type: Literal["ended"]
    session_id: str


class ProctorMessage(Outbound):
    """A proctor's words for the candidate (`POST /api/sessions/{id}/message`), shown on the exam page as
    they are: plain text, never markup. `at`: when the proctor sent it (UNIX seconds)."""

    type: Literal["proctor.message"]
    text: Annotated[str, Field(min_length=1, max_length=500)]
    at: float


ServerMessage = Annotated[
    AnalysisMessage | WarningMessage | EndedMessage | ProctorMessage | CalibrationTarget | CalibrationResult,
    Field(discriminator="type")]
server_message: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)
