"""The data channel's `analysis` message, as a model: one per analysed frame, server to client.

The JSON is built by `server.protocol.analysis.analysis_message` from the pipeline's
`FrameAnalysis.message_fields()` (each stage's own `message_fields()`), the calibrated gaze of
`server.live.calibration` and the risk engine; this model describes it key by key. A stage's keys
are absent (not null) when the stage has no result for the frame: its model is missing, it failed,
it found no face, or it has not run yet; `stages` says which and why.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from pipeline.risk.messages import GazeDirection, ImageQuality
from pipeline.stages.base import StageStatus
from pipeline.stages.posture import PostureLabel
from server.protocol.base import Absent, Outbound
from server.protocol.events import EventChange
from server.protocol.versions import Version

#: x, y, width, height, normalised to 0..1 of the frame
Box = Annotated[list[float], Field(min_length=4, max_length=4)]


class Face(Outbound):
    box: Box
    confidence: float


class Landmarks(Outbound):
    faces: int
    eye_openness: Annotated[list[float], Field(min_length=2, max_length=2)]
    blink: bool
    mouth_open: float


class HeadPose(Outbound):
    """Degrees: yaw > 0 toward the image's right, pitch > 0 up."""

    yaw: float
    pitch: float
    roll: float


class ScreenPoint(Outbound):
    x: int  # CSS px of the calibrated area
    y: int


class Gaze(Outbound):
    direction: GazeDirection
    h: float  # degrees, head pose included
    v: float
    #: where on the screen, only once a calibration is accepted (this session's or a stored one)
    screen: Absent[ScreenPoint] = None
    on_screen: Absent[bool] = None


class Expression(Outbound):
    smile: float
    jaw_open: float
    brows_up: float
    eyes_closed: float


class Identity(Outbound):
    enrolled: bool
    similarity: float | None
    identity_changed: bool


class DetectedObject(Outbound):
    label: str  # COCO label, e.g. "cell phone", "book", "person"
    confidence: float
    box: Box


class Posture(Outbound):
    label: PostureLabel
    score: float
    left_seat: bool


class Quality(Outbound):
    status: ImageQuality
    luma: float
    sharpness: float


class StageReport(Outbound):
    status: StageStatus
    ms: float
    #: seconds since the result was computed, for a rate-limited stage carried forward
    age_s: Absent[float] = None
    reason: Absent[str] = None


class AnalysisMessage(Outbound):
    type: Literal["analysis"]
    v: Version
    frame_id: int
    #: the frame's RTP timestamp (90 kHz)
    frame_pts: int
    #: sender's capture time, when its `clock` messages made it known (scripted clients), else null
    captured_ms: float | None
    received_ms: float
    analysed_ms: float
    faces: int | None
    face: Face | None
    landmarks: Absent[Landmarks] = None
    head_pose: Absent[HeadPose] = None
    gaze: Absent[Gaze] = None
    expression: Absent[Expression] = None
    identity: Absent[Identity] = None
    objects: Absent[list[DetectedObject]] = None
    persons: Absent[int] = None
    posture: Absent[Posture] = None
    quality: Absent[Quality] = None
    stages: dict[str, StageReport]
    #: null while the session has no audio track analysed yet
    speaking: bool | None
    risk_score: float | None
    attention: int | None
    #: events that started or ended since the previous analysis (browser and audio ones included)
    events: list[EventChange]
    pipeline_ms: float
