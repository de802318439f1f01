"""Per-frame readings: does each condition hold in this observation, is it absent, or unknown?

Each sampled event type has a reader (its `EventSpec.reader` in `events.py`) that returns a
`Reading` (holding + confidence) or None. None means "unable to assess" and leaves that
condition's filter untouched, so an audio-only update never disturbs a vision filter and a frame
never disturbs an audio filter. The choice per condition:

- camera_blocked: holds when image quality is in `blocked_image_qualities` (dark, covered,
  frozen); absent for any other reported quality; unknown when quality is not reported. A frame
  where a face is detected is never blocked for being dark or covered: the camera shows the
  candidate, it is only dim (the quality stays unassessable, so the other vision conditions wait).
- Every other vision condition is unknown on frames whose quality is in
  `unassessable_image_qualities`: a covered camera is camera_blocked, not no_face.
- no_face / multiple_faces: from `faces` (0 / 2+); unknown when faces is None.
- looking_away: unknown when faces is None or 0 (no face, so no gaze: not cleared either).
  Gaze and head pose combined, both against the candidate's own baseline (`baseline.py`):
  gaze off the screen is `not gaze_on_screen` when the frame carries it (a calibration), else the
  gaze angles outside the baseline's `GazeBox` (the neutral gaze and the extent seen while
  working: reading the screen's edges stays inside), unknown while no gaze box exists; only a
  frame without gaze angles falls back to the stage's raw label (`gaze_direction != "center"`).
  Head turned is |yaw - neutral yaw| > max yaw or |pitch - neutral pitch| > max pitch (a head
  turned that far is away even if the eyes are not read well), unknown until a baseline exists.
  Holds if either holds; absent if every known part is absent; unknown if both are unknown.
  Postures (`baseline.py`): once the candidate was seen reading from a second posture, a frame is
  judged against the current posture and the first one (`CandidateBaseline.judged`): absent if
  either says absent, holds if both hold, else unknown; and while the baseline is `settling` (the
  head moved and the new posture is still being judged) it is absent or unknown, never holds. The
  debounce (`debounce.py`) then runs on this combined per-frame signal.
- phone / book: holds when a label in `phone_labels` / `book_labels` is seen at or above
  `object_min_confidence`. The detector counts as having run when `persons` is not None or
  `objects` is non-empty; otherwise unknown (it runs at a lower rate than frames).
- other_person: `persons >= 2`; unknown when persons is None.
- left_seat: only when nobody is in view: posture saw no body (`left_seat`) *and* the faces stage
  counts no face; absent when either sees the candidate (a face in view means the seat is not
  empty, whatever the pose model made of the frame); unknown when either is not reported.
- identity_changed, speaking, other_voice, audio_muted: the field itself; unknown when
  None. `speaking` and `audio_muted` are only read when the policy enables them.
- tab_hidden and focus_lost are browser state and fullscreen_exit / paste / devtools / copy /
  second_screen are instant: not read here.

`attentive(obs, policy, baseline)` is the attention sample: True with a face not looking away,
False with no face or looking away, None when unassessable or the looking state is unknown.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from pipeline.risk.baseline import CandidateBaseline
from pipeline.risk.debounce import Reading
from pipeline.risk.messages import Observation


class Policy(Protocol):
    """The policy values the readers use. `policy.Policy` satisfies it; the readers name only what
    they read, so this module does not import `policy` (whose defaults come from the event registry,
    which holds these readers: policy -> events -> conditions must not loop back)."""

    @property
    def unassessable_image_qualities(self) -> tuple[str, ...]: ...
    @property
    def blocked_image_qualities(self) -> tuple[str, ...]: ...
    @property
    def max_head_yaw_degrees(self) -> float: ...
    @property
    def max_head_pitch_degrees(self) -> float: ...
    @property
    def object_min_confidence(self) -> float: ...
    @property
    def phone_labels(self) -> tuple[str, ...]: ...
    @property
    def book_labels(self) -> tuple[str, ...]: ...
    @property
    def person_label(self) -> str: ...


Baseline = CandidateBaseline | None
#: What one observation says about one condition: holds, absent, or None (unable to assess).
ConditionReader = Callable[[Observation, Policy, Baseline], "Reading | None"]


def assessable(obs: Observation, policy: Policy) -> bool:
    """False when the image quality makes vision results meaningless."""
    return obs.image_quality is None or obs.image_quality not in policy.unassessable_image_qualities


def _flag(value: bool | None) -> Reading | None:
    return None if value is None else Reading(value)


#: qualities that a detected face overrules: the picture is dim, not blocked.
_DIM_QUALITIES = ("dark", "covered")


def read_camera_blocked(obs: Observation, policy: Policy, _: Baseline) -> Reading | None:
    if obs.image_quality is None:
        return None
    if obs.faces and obs.image_quality in _DIM_QUALITIES:
        return Reading(False)
    return Reading(obs.image_quality in policy.blocked_image_qualities)


def read_no_face(obs: Observation, policy: Policy, _: Baseline) -> Reading | None:
    if obs.faces is None or not assessable(obs, policy):
        return None
    return Reading(obs.faces == 0)


def read_multiple_faces(obs: Observation, policy: Policy, _: Baseline) -> Reading | None:
    if obs.faces is None or not assessable(obs, policy):
        return None
    return Reading(obs.faces >= 2, obs.face_confidence if obs.face_confidence is not None else 1.0)


def _gaze_off(obs: Observation, baseline: Baseline) -> bool | None:
    if obs.gaze_on_screen is not None:
        return not obs.gaze_on_screen
    if obs.gaze_h_deg is not None and obs.gaze_v_deg is not None:
        if baseline is None or baseline.gaze is None:
            return None  # raw angles are relative to the camera, not the screen: wait for the baseline
        return baseline.gaze.excess(obs.gaze_h_deg, obs.gaze_v_deg) > 1.0
    if obs.gaze_direction is not None:
        return obs.gaze_direction != "center"
    return None


def _head_turned(obs: Observation, policy: Policy, baseline: Baseline) -> bool | None:
    if baseline is None or obs.head_yaw is None or obs.head_pitch is None:
        return None
    yaw = abs(obs.head_yaw - baseline.head[0])
    pitch = abs(obs.head_pitch - baseline.head[1])
    return yaw > policy.max_head_yaw_degrees or pitch > policy.max_head_pitch_degrees


def _away_from(obs: Observation, policy: Policy, baseline: Baseline) -> bool | None:
    parts = [p for p in (_gaze_off(obs, baseline), _head_turned(obs, policy, baseline)) if p is not None]
    return any(parts) if parts else None


def read_looking_away(obs: Observation, policy: Policy, baseline: Baseline) -> Reading | None:
    if not obs.faces or not assessable(obs, policy):
        return None
    confidence = obs.face_confidence if obs.face_confidence is not None else 1.0
    if baseline is None:
        away = _away_from(obs, policy, None)
        return None if away is None else Reading(away, confidence)
    verdicts = [_away_from(obs, policy, posture) for posture in baseline.judged()]
    if False in verdicts:
        return Reading(False, confidence)  # on the screen as seen from a posture this candidate holds
    if baseline.settling or None in verdicts:
        return None  # the head moved to a new posture, not yet judged: its angles mean nothing yet
    return Reading(True, confidence)


def _detector_ran(obs: Observation) -> bool:
    return obs.persons is not None or bool(obs.objects)


def read_objects(labels_key: str) -> ConditionReader:
    def read(obs: Observation, policy: Policy, _: Baseline) -> Reading | None:
        if not _detector_ran(obs) or not assessable(obs, policy):
            return None
        labels = getattr(policy, labels_key)
        seen = [c for label, c in obs.objects if label in labels and c >= policy.object_min_confidence]
        return Reading(True, max(seen)) if seen else Reading(False)

    return read


def read_other_person(obs: Observation, policy: Policy, _: Baseline) -> Reading | None:
    if obs.persons is None or not assessable(obs, policy):
        return None
    confs = sorted((c for label, c in obs.objects if label == policy.person_label), reverse=True)
    # The second-best person box is the "other" person; without boxes the count is all we have.
    return Reading(obs.persons >= 2, confs[1] if len(confs) >= 2 else 1.0)


def read_left_seat(obs: Observation, policy: Policy, _: Baseline) -> Reading | None:
    if obs.left_seat is None or obs.faces is None or not assessable(obs, policy):
        return None
    return Reading(obs.left_seat and obs.faces == 0)


def read_vision_flag(name: str) -> ConditionReader:
    def read(obs: Observation, policy: Policy, _: Baseline) -> Reading | None:
        return _flag(getattr(obs, name)) if assessable(obs, policy) else None

    return read


def read_audio_flag(name: str) -> ConditionReader:
    def read(obs: Observation, _policy: Policy, _baseline: Baseline) -> Reading | None:
        return _flag(getattr(obs, name))

    return read


def attentive(obs: Observation, policy: Policy, baseline: Baseline) -> bool | None:
    """The attention sample for one frame; see the module docstring."""
    if obs.faces is None or not assessable(obs, policy):
        return None
    if obs.faces == 0:
        return False
    away = read_looking_away(obs, policy, baseline)
    return None if away is None else not away.holding
