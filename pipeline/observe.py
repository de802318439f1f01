"""From one frame's analysis fields to the risk engine's `Observation`.

The mapping reads the same fields the data channel carries (`FrameAnalysis.message_fields()`), so
what the candidate and proctor see is exactly what the risk engine judged. A stage that did not
produce a result leaves its field absent, which becomes None: "unable to assess".
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.risk.messages import GAZE_DIRECTIONS, IMAGE_QUALITIES, Observation


def _get(mapping: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def observation_from_fields(fields: Mapping[str, Any], *, t: float, frame_id: int | None) -> Observation:
    faces = fields.get("faces")
    direction = _get(fields, "gaze", "direction")
    quality = _get(fields, "quality", "status")
    objects = fields.get("objects")
    identity = fields.get("identity")
    identity_changed = _flag(_get(identity, "changed")) if isinstance(identity, Mapping) else None
    return Observation(
        t=t,
        frame_id=frame_id,
        faces=faces if isinstance(faces, int) and not isinstance(faces, bool) else None,
        face_confidence=_num(_get(fields, "face", "confidence")),
        head_yaw=_num(_get(fields, "head_pose", "yaw")),
        head_pitch=_num(_get(fields, "head_pose", "pitch")),
        gaze_direction=direction if direction in GAZE_DIRECTIONS else None,
        gaze_on_screen=_flag(_get(fields, "gaze", "on_screen")),
        objects=tuple((str(o["label"]), float(o["confidence"])) for o in objects
                      if isinstance(o, Mapping) and "label" in o and "confidence" in o)
        if isinstance(objects, list) else (),
        persons=fields["persons"] if isinstance(fields.get("persons"), int) else None,
        left_seat=_flag(_get(fields, "posture", "left_seat")),
        image_quality=quality if quality in IMAGE_QUALITIES else None,
        identity_changed=identity_changed,
    )
