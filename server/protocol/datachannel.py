"""The `vigil` data channel, both ways (docs/data-channel.md).

Client to server: `ClientMessage`, validated by `client_message`; unknown keys are ignored, unknown
types and malformed or oversized messages are counted and ignored (never fatal). Server to client:
`ServerMessage`, built as dicts by the session (`server.live`) and described here; a proctor's
watcher channel carries the same messages as the candidate's, less the `welcome` and `error` that
answer the candidate's own `hello`. Every message carries `v` both ways (`server.protocol.versions`);
a client's `v` is optional, so pages older than the hello keep working.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from pipeline.risk.messages import BrowserEvent
from server.protocol.analysis_model import AnalysisMessage
from server.protocol.base import Lenient, Outbound
from server.protocol.calibration_model import CalibrationResult, CalibrationTarget
from server.protocol.versions import Version

#: largest data-channel message accepted from a client; bigger ones are counted and ignored.
MAX_CLIENT_MESSAGE_BYTES = 4096
#: the message families this server sends and reads on the channel, listed in its `welcome`
FEATURES = ("analysis", "warning", "clock", "browser", "calibration")


# -- client to server --------------------------------------------------------------------------
class ClientBase(Lenient):
    """What every client message may carry: the protocol version it is written in (absent: an older
    client, taken as the current version)."""

    v: Annotated[int, Field(ge=1, le=1000)] | None = None


class HelloMessage(ClientBase):
    """The first message on the channel's open: what the client speaks. Answered by `welcome` (or by
    `error` when no version is shared); sent again on every new channel (a resume)."""

    type: Literal["hello"]
    #: the major versions the client speaks (absent: only its `v`)
    versions: Annotated[list[Annotated[int, Field(ge=1, le=1000)]], Field(max_length=16)] = []
    #: the optional features it understands, e.g. `calibration` (free names, for logs and future use)
    features: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=32)] = []
    #: its name and version, e.g. `vigil-client.js/1`, for logs
    client: Annotated[str, Field(max_length=128)] | None = None

    def offered(self) -> list[int]:
        return self.versions or [self.v or 1]


class ClockMessage(ClientBase):
    """Maps an RTP timestamp the client sent to its capture time (end-to-end latency)."""

    type: Literal["clock"]
    pts: Annotated[int, Field(ge=0, le=2**32 - 1)]
    captured_ms: Annotated[float, Field(gt=0)]


class BrowserMessage(ClientBase):
    type: Literal["browser"]
    event: BrowserEvent


class CalibrationSample(ClientBase):
    """The page's own note (e.g. when it drew a dot); timing is server-side, so it changes nothing."""

    type: Literal["calibration.sample"]
    target: int | None = None
    x: float | None = None
    y: float | None = None
    t_ms: float | None = None


class CalibrationStart(ClientBase):
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


class CalibrationRecentre(ClientBase):
    """One dot at the centre: corrects the calibrated map's offset (drift) without a refit."""

    type: Literal["calibration.recentre"]


ClientMessage = Annotated[
    HelloMessage | ClockMessage | BrowserMessage | CalibrationSample | CalibrationStart | CalibrationRecentre,
    Field(discriminator="type")]
client_message: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


# -- server to client --------------------------------------------------------------------------
#: what a `warning` is about, stable across languages: a page translates by it, `message` is English
WarningCode = Literal["microphone_missing", "video_lost", "message_flood"]


class WelcomeMessage(Outbound):
    """The answer to a `hello`: the version chosen, whose session this is, and what the server offers."""

    type: Literal["welcome"]
    v: Version
    session_id: str
    #: Vigil's release, e.g. `0.1.0`
    server_version: str
    #: every major version this server speaks
    versions: list[int]
    #: the message families this server sends and reads on this channel
    features: list[str]


class ErrorMessage(Outbound):
    """A `hello` the server cannot answer: it speaks none of the client's versions (`versions` are the
    ones it does). The session goes on in the server's version; a client that cannot read it should
    stop and say so."""

    type: Literal["error"]
    v: Version
    code: Literal["unsupported_version"]
    message: str
    versions: list[int]


class WarningMessage(Outbound):
    """Plain words for the candidate, e.g. no microphone audio reaching the server."""

    type: Literal["warning"]
    v: Version
    code: WarningCode
    message: str


class EndedMessage(Outbound):
    """The session ended (by the candidate, a proctor or an admin); the peer closes next."""

    type: Literal["ended"]
    v: Version
    session_id: str


class ProctorMessage(Outbound):
    """A proctor's words for the candidate (`POST /api/sessions/{id}/message`), shown on the exam page as
    they are: plain text, never markup. `at`: when the proctor sent it (UNIX seconds)."""

    type: Literal["proctor.message"]
    v: Version
    text: Annotated[str, Field(min_length=1, max_length=500)]
    at: float


ServerMessage = Annotated[
    AnalysisMessage | WarningMessage | EndedMessage | ProctorMessage | CalibrationTarget | CalibrationResult
    | WelcomeMessage | ErrorMessage,
    Field(discriminator="type")]
server_message: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)
