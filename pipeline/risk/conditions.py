"""Per-frame readings: does each condition hold in this observation, is it absent, or unknown?

`read_conditions(obs, policy, baseline)` returns a `Reading` (holding + confidence) or None per
sampled condition. None means "unable to assess" and leaves that condition's filter untouched, so
an audio-only update never disturbs a vision filter and a frame never disturbs an audio filter.
The choice per condition:

- camera_blocked: holds when image quality is in `blocked_image_qualities` (dark, covered,
  frozen); absent for any other reported quality; unknown when quality is not reported.
- Every other vision condition is unknown on frames whose quality is in
  `unassessable_image_qualities`: a covered camera is camera_blocked, not no_face.
- no_face / multiple_faces: from `faces` (0 / 2+); unknown when faces is None.
- looking_away: unknown when faces is None or 0 (no face, so no gaze: not cleared either).
  Gaze: `gaze_on_screen` when present (calibrated), else `gaze_direction != "center"`.
  Head: |yaw - baseline yaw| > max yaw or |pitch - baseline pitch| > max pitch, unknown until a
  baseline exists. Holds if either holds; absent if every known part is absent; unknown if both
  are unknown.
- phone / book: holds when a label in `phone_labels` / `book_labels` is seen at or above
  `object_min_confidence`. The detector counts as having run when `persons` is not None or
  `objects` is non-empty; otherwise unknown (it runs at a lower rate than frames).
- other_person: `persons >= 2`; unknown when persons is None.
- left_seat, identity_changed, speaking, other_voice, audio_muted: the field itself; unknown when
  None. `speaking` and `audio_muted` are only read when the policy enables them.
- tab_hidden is browser state and fullscreen_exit / paste / devtools are instant: not read here.

`attentive(obs, policy, baseline)` is the attention sample: True with a face not looking away,
False with no face or looking away, None when unassessable or the looking state is unknown.
"""
from __future__ import annotations

from collections.abc import Callable

from pipeline.risk.debounce import Reading
from pipeline.risk.messages import EventType, Observation
from pipeline.risk.policy import Policy

Baseline = tuple[float, float] | None
_Reader = Callable[[Observation, Policy, Baseline], "Reading | None"]


def assessable(obs: Observation, policy: Policy) -> bool:
    """False when the image quality makes vision results meaningless."""
    return obs.image_quality is None or obs.image_quality not in policy.unassessable_image_qualities


def _flag(value: bool | None) -> Reading | None:
    return None if value is None else Reading(value)


def _camera_blocked(obs: Observation, policy: Policy, _: Baseline) -> Reading | None:
    if obs.image_quality is None:
        return None
    return Reading(obs.image_quality in policy.blocked_image_qualities)


def _no_face(obs: Observation, policy: Policy, _: Baseline) -> Reading | None:
    if obs.faces is None or not assessable(obs, policy):
        return None
    return Reading(obs.faces == 0)


def _multiple_faces(obs: Observation, policy: Policy, _: Baseline) -> Reading | None:
    if obs.faces is None or not assessable(obs, policy):
        return None
    return Reading(obs.faces >= 2, obs.face_confidence if obs.face_confidence is not None else 1.0)


def _gaze_off(obs: Observation) -> bool | None:
    if obs.gaze_on_screen is not None:
        return not obs.gaze_on_screen
    if obs.gaze_direction is not None:
        return obs.gaze_direction != "center"
    return None


def _head_turned(obs: Observation, policy: Policy, baseline: Baseline) -> bool | None:
    if baseline is None or obs.head_yaw is None or obs.head_pitch is None:
        return None
    yaw = abs(obs.head_yaw - baseline[0])
    pitch = abs(obs.head_pitch - baseline[1])
    return yaw > policy.max_head_yaw_degrees or pitch > policy.max_head_pitch_degrees


def _looking_away(obs: Observation, policy: Policy, baseline: Baseline) -> Reading | None:
    if not obs.faces or not assessable(obs, policy):
        return None
    parts = [p for p in (_gaze_off(obs), _head_turned(obs, policy, baseline)) if p is not None]
    if not parts:
        return None
    return Reading(any(parts), obs.face_confidence if obs.face_confidence is not None else 1.0)


def _detector_ran(obs: Observation) -> bool:
    return obs.persons is not None or bool(obs.objects)


def _object(labels_key: str) -> _Reader:
    def read(obs: Observation, policy: Policy, _: Baseline) -> Reading | None:
        if not _detector_ran(obs) or not assessable(obs, policy):
            return None
        labels = getattr(policy, labels_key)
        seen = [c for label, c in obs.objects if label in labels and c >= policy.object_min_confidence]
        return Reading(True, max(seen)) if seen else Reading(False)

    return read


def _other_person(obs: Observation, policy: Policy, _: Baseline) -> Reading | None:
    if obs.persons is None or not assessable(obs, policy):
        return None
    confs = sorted((c for label, c in obs.objects if label == policy.person_label), reverse=True)
    # The second-best person box is the "other" person; without boxes the count is all we have.
    return Reading(obs.persons >= 2, confs[1] if len(confs) >= 2 else 1.0)


def _vision_flag(name: str) -> _Reader:
    def read(obs: Observation, policy: Policy, _: Baseline) -> Reading | None:
        return _flag(getattr(obs, name)) if assessable(obs, policy) else None

    return read


def _audio_flag(name: str) -> _Reader:
    def read(obs: Observation, _policy: Policy, _baseline: Baseline) -> Reading | None:
        return _flag(getattr(obs, name))

    return read


#: Sampled conditions in a fixed order, so events that start together are reported in this order.
READERS: dict[EventType, _Reader] = {
    "camera_blocked": _camera_blocked,
    "no_face": _no_face,
    "multiple_faces": _multiple_faces,
    "looking_away": _looking_away,
    "phone": _object("phone_labels"),
    "book": _object("book_labels"),
    "other_person": _other_person,
    "left_seat": _vision_flag("left_seat"),
    "identity_changed": _vision_flag("identity_changed"),
    "speaking": _audio_flag("speaking"),
    "other_voice": _audio_flag("other_voice"),
    "audio_muted": _audio_flag("audio_muted"),
}


def read_conditions(obs: Observation, policy: Policy, baseline: Baseline) -> dict[EventType, Reading | None]:
    """Readings for every enabled sampled condition (see the module docstring)."""
    return {kind: read(obs, policy, baseline) for kind, read in READERS.items() if policy.is_enabled(kind)}


def attentive(obs: Observation, policy: Policy, baseline: Baseline) -> bool | None:
    """The attention sample for one frame; see the module docstring."""
    if obs.faces is None or not assessable(obs, policy):
        return None
    if obs.faces == 0:
        return False
    away = _looking_away(obs, policy, baseline)
    return None if away is None else not away.holding
