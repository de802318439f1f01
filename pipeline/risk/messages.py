"""Typed, frozen messages into and out of the risk engine.

Inputs: an `Observation` per analysed frame (vision fields set) or per audio update (vision
fields None), and a `BrowserSignal` per event the candidate's page reports. Every field that a
stage did not assess is None; None always means "unable to assess", never "no problem".

Outputs: a `RiskUpdate` after every input, `Event`s inside it, and a `Verdict` at the end.
All timestamps are seconds on the session clock, supplied by the caller.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, get_args

EventType = Literal[
    "no_face",
    "multiple_faces",
    "looking_away",
    "phone",
    "book",
    "other_person",
    "speaking",
    "other_voice",
    "tab_hidden",
    "fullscreen_exit",
    "paste",
    "camera_blocked",
    "identity_changed",
    "left_seat",
    "audio_muted",
    "devtools",
    "video_lost",
    "focus_lost",
    "copy",
    "second_screen",
]
#: Every event type, in reporting order. What each one is lives in its spec in `events.py`.
EVENT_TYPES: Final[tuple[EventType, ...]] = get_args(EventType)

Severity = Literal["low", "medium", "high"]
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)

#: `focus_lost`/`focus_regained`: the exam window lost or got back the focus while the page stayed visible;
#: `second_screen`: the browser says the screen is extended (`screen.isExtended`)
BrowserEvent = Literal["visibility_hidden", "visibility_visible", "fullscreen_exit", "paste", "devtools",
                       "focus_lost", "focus_regained", "copy", "second_screen"]
BROWSER_EVENTS: Final[tuple[BrowserEvent, ...]] = get_args(BrowserEvent)

GazeDirection = Literal["center", "left", "right", "up", "down"]
GAZE_DIRECTIONS: Final[tuple[GazeDirection, ...]] = get_args(GazeDirection)

ImageQuality = Literal["ok", "dark", "overexposed", "blurred", "frozen", "covered"]
IMAGE_QUALITIES: Final[tuple[ImageQuality, ...]] = get_args(ImageQuality)

Decision = Literal["CLEAR", "REVIEW", "CHEATING"]


def _check_time(t: float) -> None:
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise ValueError(f"t must be a finite number of seconds, got {t!r}")


@dataclass(frozen=True)
class Observation:
    """One analysed frame, or one audio update.

    An audio update leaves every vision field None (including `frame_id`) and `objects` empty;
    a frame may carry audio fields too. `head_yaw`/`head_pitch` are raw degrees (the engine
    subtracts the baseline). `objects` is the detector's (COCO label, confidence) list, possibly
    carried forward from its last run; `persons` None means the detector did not run.
    `gaze_h_deg`/`gaze_v_deg` are the uncalibrated gaze angles (head plus eyes, degrees, > 0
    toward the image's right / up): the engine judges them against the candidate's baseline.
    `face_box` is the candidate's (largest) face box, (x, y, w, h) normalised to 0..1 of the frame:
    the baseline tells a posture change (the head moved) from a head that only turned.
    """

    t: float
    frame_id: int | None = None
    faces: int | None = None
    face_confidence: float | None = None
    head_yaw: float | None = None
    head_pitch: float | None = None
    gaze_direction: GazeDirection | None = None
    gaze_on_screen: bool | None = None
    objects: tuple[tuple[str, float], ...] = ()
    persons: int | None = None
    left_seat: bool | None = None
    image_quality: ImageQuality | None = None
    identity_changed: bool | None = None
    speaking: bool | None = None
    other_voice: bool | None = None
    audio_muted: bool | None = None
    gaze_h_deg: float | None = None
    gaze_v_deg: float | None = None
    face_box: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        _check_time(self.t)
        if self.gaze_direction is not None and self.gaze_direction not in GAZE_DIRECTIONS:
            raise ValueError(f"gaze_direction must be one of {GAZE_DIRECTIONS}, got {self.gaze_direction!r}")
        if self.image_quality is not None and self.image_quality not in IMAGE_QUALITIES:
            raise ValueError(f"image_quality must be one of {IMAGE_QUALITIES}, got {self.image_quality!r}")

    @property
    def has_vision(self) -> bool:
        """True when this observation carries any vision result (so it is a frame, not audio)."""
        return (
            self.frame_id is not None
            or self.faces is not None
            or self.image_quality is not None
            or self.persons is not None
            or bool(self.objects)
            or self.head_yaw is not None
            or self.gaze_direction is not None
            or self.gaze_on_screen is not None
            or self.gaze_h_deg is not None
            or self.left_seat is not None
            or self.identity_changed is not None
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Observation:
        """Build from a JSON-like mapping; missing keys mean "not assessed"."""
        fields = dict(data)
        fields["objects"] = tuple((str(label), float(conf)) for label, conf in fields.get("objects", ()))
        if fields.get("face_box") is not None:
            x, y, w, h = fields["face_box"]
            fields["face_box"] = (float(x), float(y), float(w), float(h))
        return cls(**fields)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["objects"] = [[label, conf] for label, conf in self.objects]
        return out


@dataclass(frozen=True)
class BrowserSignal:
    """An event reported by the candidate's page, e.g. `paste` or `visibility_hidden`."""

    t: float
    event: BrowserEvent

    def __post_init__(self) -> None:
        _check_time(self.t)
        if self.event not in BROWSER_EVENTS:
            raise ValueError(f"browser event must be one of {BROWSER_EVENTS}, got {self.event!r}")


@dataclass(frozen=True)
class Event:
    """A debounced violation. `end` is None while it is open; `start` is when the condition
    began holding (not when it was confirmed); `evidence_frame_id` is the frame at `start` (for
    audio and browser events, the newest frame at that time). `confidence` is the best detector
    confidence seen up to confirmation (1.0 for yes/no signals). Instant events have end == start.
    `id` is `"{type}-{n}"`, n counting from 1 per type, so it is deterministic."""

    id: str
    type: EventType
    severity: Severity
    start: float
    end: float | None
    confidence: float
    evidence_frame_id: int | None

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def closed(self, end: float) -> Event:
        return replace(self, end=end)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "severity": self.severity,
            "start": self.start,
            "end": self.end,
            "confidence": self.confidence,
            "evidence_frame_id": self.evidence_frame_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        return cls(
            id=data["id"],
            type=data["type"],
            severity=data["severity"],
            start=data["start"],
            end=data["end"],
            confidence=data["confidence"],
            evidence_frame_id=data["evidence_frame_id"],
        )


@dataclass(frozen=True)
class RiskUpdate:
    """The engine's state after one input: score, attention, and event transitions."""

    t: float
    risk_score: float
    attention: float | None
    started: tuple[Event, ...] = ()
    ended: tuple[Event, ...] = ()
    active: tuple[Event, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "risk_score": self.risk_score,
            "attention": self.attention,
            "started": [e.to_dict() for e in self.started],
            "ended": [e.to_dict() for e in self.ended],
            "active": [e.to_dict() for e in self.active],
        }


@dataclass(frozen=True)
class Verdict:
    """The session's outcome. `counts` covers every event type (zeros included)."""

    verdict: Decision
    reasons: tuple[str, ...]
    final_risk_score: float
    peak_risk: float
    mean_risk: float
    total_violations: int
    duration_seconds: float
    counts: dict[str, int] = field(hash=False)
    severity_counts: dict[str, int] = field(hash=False)
    events: tuple[Event, ...] = ()
    #: seconds with usable analysed video, and its share of the session (None: no time passed)
    observed_seconds: float = 0.0
    coverage: float | None = None
    #: unobserved seconds by reason (`coverage.ObservationState`), and the spans [start, end, reason]
    unobserved: dict[str, float] = field(default_factory=dict, hash=False)
    unobserved_spans: tuple[tuple[float, float, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "final_risk_score": self.final_risk_score,
            "peak_risk": self.peak_risk,
            "mean_risk": self.mean_risk,
            "total_violations": self.total_violations,
            "duration_seconds": self.duration_seconds,
            "counts": dict(self.counts),
            "severity_counts": dict(self.severity_counts),
            "events": [e.to_dict() for e in self.events],
            "observed_seconds": self.observed_seconds,
            "coverage": self.coverage,
            "unobserved": dict(self.unobserved),
            "unobserved_spans": [list(s) for s in self.unobserved_spans],
        }
