"""The risk policy: every number and switch the engine uses, in one frozen object.

`Policy` holds the global knobs (decay, windows, thresholds, switches), a `VerdictPolicy`, and
one `ConditionPolicy` per event type. Defaults are the values below, and each event type's
default `ConditionPolicy` is in its spec in `events.py`; `policy_io` loads partial overrides from
TOML/JSON/dicts and `policy.example.toml` documents each key.

A condition's lifecycle (see `debounce.py`): it must hold for `debounce_seconds` before it is an
event, and the event ends once the condition has been observed absent for `release_seconds`.
When it starts it adds `weight` to the risk score; while it keeps holding it adds
`weight_per_second`; one event never adds more than `max_weight` in total. Instant events
(`fullscreen_exit`, `paste`, `devtools`, `copy`, `second_screen`) ignore debounce/release and add `weight` once.

Construction validates every value and raises `PolicyError` naming the dotted key.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType

from pipeline.risk.condition_policy import ConditionPolicy, PolicyError, check_number, validate_condition
from pipeline.risk.events import EVENT_SPECS
from pipeline.risk.messages import EVENT_TYPES, IMAGE_QUALITIES, EventType

__all__ = ["CALIBRATION_MODES", "DEFAULT_CONDITIONS", "SYSTEM_CHECK_MODES", "CandidatePolicy", "ConditionPolicy",
           "Policy", "PolicyError", "VerdictPolicy", "validate"]

#: `candidate.system_check`: "optional" lets the candidate skip the check.
SYSTEM_CHECK_MODES = ("required", "optional")
#: `candidate.calibration`: "required" keeps the exam behind one calibration attempt, "optional" offers
#: it (the candidate may skip it), "off" does not offer it.
CALIBRATION_MODES = ("required", "optional", "off")


@dataclass(frozen=True)
class CandidatePolicy:
    """The steps the candidate's page takes before the exam (static/vigil-proctor.js). Not used by the
    engine: it travels with the exam's policy so one document says how an exam is proctored."""

    #: the system check (camera, face found, microphone, network); "required": the exam starts only
    #: once the camera works and the face is found.
    system_check: str = "required"
    calibration: str = "optional"


@dataclass(frozen=True)
class VerdictPolicy:
    """Rules for the end-of-session verdict. A count rule set to 0 is disabled.

    CHEATING if any cheating rule holds, else REVIEW if any review rule holds, else CLEAR.
    """

    review_peak_risk: float = 50.0
    review_mean_risk: float = 10.0
    review_high_events: int = 1
    review_medium_events: int = 3
    review_low_events: int = 10
    cheating_peak_risk: float = 90.0
    cheating_mean_risk: float = 30.0
    cheating_high_events: int = 3
    #: e.g. a phone and another person in one session.
    cheating_distinct_high_types: int = 2
    #: a session observed for less than this share of its time is never CLEAR (REVIEW, with the
    #: unobserved seconds and why as the reason) once it has at least `min_unobserved_seconds`
    #: unobserved; a session never observed at all is REVIEW whatever its length.
    min_coverage: float = 0.8
    min_unobserved_seconds: float = 30.0


#: each event type's default, from its record in the event registry (`events.py`).
DEFAULT_CONDITIONS: Mapping[EventType, ConditionPolicy] = MappingProxyType(
    {kind: EVENT_SPECS[kind].default for kind in EVENT_TYPES}
)


@dataclass(frozen=True)
class Policy:
    """Everything the risk engine is allowed to decide with. See `policy.example.toml`."""

    #: points per second the risk score falls when nothing adds to it.
    decay_per_second: float = 2.0
    #: attention is the attentive share of this trailing window.
    attention_window_seconds: float = 30.0
    #: a frame's attention state holds at most this long when the next frame is late.
    attention_max_gap_seconds: float = 2.0
    #: the candidate's baseline (`baseline.py`: neutral head pose, the gaze seen while working) is
    #: learned from the first this-many seconds of confident single-face frames (then fixed) ...
    baseline_seconds: float = 60.0
    #: ... and used, provisional, from this many seconds on; looking away is not judged before.
    baseline_min_seconds: float = 3.0
    baseline_min_face_confidence: float = 0.6
    #: the gaze may go this far (degrees) each way from the candidate's neutral gaze and still be
    #: on the screen, whatever the first minute showed (a 15-inch laptop at 60 cm: about 16
    #: across, 10 up and down) ...
    gaze_min_extent_degrees: float = 15.0
    #: ... and never further: beyond this the gaze is off the screen however wide it was learned.
    gaze_max_extent_degrees: float = 22.0
    #: head turn beyond these (pose minus baseline, degrees) counts as looking away.
    max_head_yaw_degrees: float = 25.0
    max_head_pitch_degrees: float = 20.0
    #: a pending condition unseen for longer than max(this, release) restarts its debounce.
    max_sample_gap_seconds: float = 2.0
    #: an analysed frame stands for this long; past it without one the time is unobserved, and a
    #: connected peer with no decoded video for this long raises `video_lost` (after its debounce).
    observation_gap_seconds: float = 1.0
    #: an extra floor on phone/book confidence. The per-class thresholds live in the objects stage,
    #: per detector backend (a score means something only against the model that gave it), and
    #: the stage confirms an object over several passes; 0 trusts the stage. The old 0.5 silenced
    #: every phone the detectors find in hand (0.32-0.49).
    object_min_confidence: float = 0.0
    phone_labels: tuple[str, ...] = ("cell phone",)
    book_labels: tuple[str, ...] = ("book",)
    person_label: str = "person"
    #: qualities that raise camera_blocked.
    blocked_image_qualities: tuple[str, ...] = ("dark", "covered", "frozen")
    #: qualities under which vision conditions are "unable to assess".
    unassessable_image_qualities: tuple[str, ...] = ("dark", "overexposed", "blurred", "frozen", "covered")
    #: `speaking` is raised only when this is true (exams), never in interviews.
    speaking_forbidden: bool = False
    #: `audio_muted` is raised only when this is true.
    audio_required: bool = True
    #: days an ended session's events, evidence and reports are kept before they expire.
    retention_days: float = 30.0
    verdict: VerdictPolicy = field(default_factory=VerdictPolicy)
    candidate: CandidatePolicy = field(default_factory=CandidatePolicy)
    #: per event type; a partial mapping is completed from DEFAULT_CONDITIONS.
    conditions: Mapping[EventType, ConditionPolicy] = field(
        default_factory=lambda: DEFAULT_CONDITIONS, hash=False
    )

    def __post_init__(self) -> None:
        merged = {**DEFAULT_CONDITIONS, **self.conditions}
        object.__setattr__(self, "conditions", MappingProxyType(merged))
        validate(self)

    def condition(self, kind: EventType) -> ConditionPolicy:
        return self.conditions[kind]

    def is_enabled(self, kind: EventType) -> bool:
        """Whether the engine raises `kind` at all (includes the two exam switches)."""
        if kind == "speaking" and not self.speaking_forbidden:
            return False
        if kind == "audio_muted" and not self.audio_required:
            return False
        return self.conditions[kind].enabled


def validate(policy: Policy) -> None:
    """Check every value's range; raise `PolicyError` naming the first bad key."""
    check_number("decay_per_second", policy.decay_per_second)
    check_number("attention_window_seconds", policy.attention_window_seconds, open_low=True)
    check_number("attention_max_gap_seconds", policy.attention_max_gap_seconds, open_low=True)
    check_number("baseline_seconds", policy.baseline_seconds)
    check_number("baseline_min_seconds", policy.baseline_min_seconds, high=policy.baseline_seconds)
    check_number("gaze_min_extent_degrees", policy.gaze_min_extent_degrees, high=90.0, open_low=True)
    check_number("gaze_max_extent_degrees", policy.gaze_max_extent_degrees, low=policy.gaze_min_extent_degrees,
                 high=90.0)
    check_number("baseline_min_face_confidence", policy.baseline_min_face_confidence, high=1.0)
    check_number("max_head_yaw_degrees", policy.max_head_yaw_degrees, high=180.0, open_low=True)
    check_number("max_head_pitch_degrees", policy.max_head_pitch_degrees, high=180.0, open_low=True)
    check_number("max_sample_gap_seconds", policy.max_sample_gap_seconds)
    check_number("observation_gap_seconds", policy.observation_gap_seconds, open_low=True)
    check_number("object_min_confidence", policy.object_min_confidence, high=1.0)
    check_number("retention_days", policy.retention_days, high=3650.0, open_low=True)
    for key in ("blocked_image_qualities", "unassessable_image_qualities"):
        for quality in getattr(policy, key):
            if quality not in IMAGE_QUALITIES or quality == "ok":
                raise PolicyError(key, f"{quality!r} is not an image quality problem {IMAGE_QUALITIES[1:]}")
    for key, value, modes in (("candidate.system_check", policy.candidate.system_check, SYSTEM_CHECK_MODES),
                              ("candidate.calibration", policy.candidate.calibration, CALIBRATION_MODES)):
        if value not in modes:
            raise PolicyError(key, f"must be one of {', '.join(modes)}, got {value!r}")
    v = policy.verdict
    for f in fields(v):
        value = getattr(v, f.name)
        high = 100.0 if f.name.endswith("_risk") else 1.0 if f.name == "min_coverage" else math.inf
        check_number(f"verdict.{f.name}", value, high=high)
    for kind in ("peak", "mean"):
        if getattr(v, f"review_{kind}_risk") > getattr(v, f"cheating_{kind}_risk"):
            raise PolicyError(f"verdict.review_{kind}_risk", f"must not exceed verdict.cheating_{kind}_risk")
    for name, cond in policy.conditions.items():
        if name not in EVENT_TYPES:
            raise PolicyError(f"conditions.{name}", f"unknown event type (known: {', '.join(EVENT_TYPES)})")
        validate_condition(f"conditions.{name}", cond)
