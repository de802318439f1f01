"""Identity: did the person in front of the camera change since the session started?

A *signature* is the shape of the face mesh: the log-distances between `SIGNATURE_POINTS` (eye
corners, nose bridge and base, brows, forehead, mouth corners; 153 pairs) in the landmarker's 3-D
points (x*W, y*H, z*W), minus their mean. Distances in 3-D do not change when the head turns, and
subtracting the mean removes scale (distance to the camera, frame size). The session's reference
is the mean signature of the first `ENROL_FRAMES` confident frames (one face, near-frontal, eyes
open); after that each confident frame is compared with it:
similarity = 1 - RMS(signature difference) / `DISTANCE_SCALE`, clipped to 0..1.
`identity_changed` is raised once the similarity has stayed under `MIN_SIMILARITY` on every
assessed frame for `CHANGE_AFTER_S`, and clears when a frame matches again.

**Limits, honestly.** This is weak biometrics and must never be used to *verify* who someone is:
* the mesh is a regression toward an average face: two different adults are only 2-4x further
  apart than one person photographed at two scales/crops (obama vs biden ~0.06 vs up to ~0.03);
* expressions move the mouth corners and brows (a broad smile shifts the signature), a strong
  turn beyond `MAX_POSE_DEG` is not assessed, and glasses or a beard change the mesh fit;
* look-alike relatives, or a swap during a moment the face is out of view, can pass.
It flags a *likely* change of person for a human reviewer to check on the recording; a proper face
embedding model would replace it if one becomes available offline.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.frame import VideoFrame
from pipeline.stages.base import Stage, StageOutput
from pipeline.stages.head_pose import HeadPoseResult
from pipeline.stages.landmarks import LandmarksResult

#: rigid-ish mesh points: eye corners 33/133/362/263, nose 1/6/168/5/98/327, brows 70/107/336/300,
#: forehead 10/151, mouth corners 61/291. The jaw line, chin and lips are left out: they move with
#: talking, and the face outline is where the mesh is least accurate.
SIGNATURE_POINTS: tuple[int, ...] = (
    33, 133, 362, 263, 1, 6, 168, 5, 98, 327, 70, 107, 336, 300, 10, 151, 61, 291)
_PAIRS = np.array(list(itertools.combinations(range(len(SIGNATURE_POINTS)), 2)))
#: confident frames averaged into the session's reference (2 s at 5 fps).
ENROL_FRAMES = 10
#: frames with |yaw| or |pitch| over this are neither enrolled nor compared: the mesh's depth is a
#: guess and the far side's points are hidden.
MAX_POSE_DEG = 25.0
#: RMS signature difference at which the similarity reaches 0. Measured: one person over the
#: 15 s test clip <= 0.016 from its own reference; obama at 1/2, 1/3 scale and cropped <= 0.03
#: from the full photo; obama vs biden >= 0.059.
DISTANCE_SCALE = 0.09
#: under this similarity (a difference over 0.045) a frame does not match the reference: halfway
#: between the same person re-photographed (>= 0.67) and two different people (<= 0.35).
MIN_SIMILARITY = 0.5
#: mismatching for this long (session seconds, every assessed frame) raises identity_changed:
#: single frames with a poor mesh fit (motion blur, a hand near the face) must not.
CHANGE_AFTER_S = 3.0


def face_signature(lm: LandmarksResult) -> np.ndarray:
    """The scale- and rotation-free shape vector of the primary face (see module docstring)."""
    pts = lm.points_px()[list(SIGNATURE_POINTS)]
    d = np.linalg.norm(pts[_PAIRS[:, 0]] - pts[_PAIRS[:, 1]], axis=1)
    logd = np.log(np.maximum(d, 1e-6))
    return logd - logd.mean()


def signature_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.clip(1.0 - signature_distance(a, b) / DISTANCE_SCALE, 0.0, 1.0))


@dataclass(frozen=True)
class IdentityResult:
    enrolled: bool
    #: confident frames collected toward the reference (ENROL_FRAMES when enrolled)
    enrol_frames: int
    #: this frame against the reference; None before enrolment or when the frame is not assessed
    similarity: float | None
    identity_changed: bool
    #: seconds the similarity has stayed under MIN_SIMILARITY
    mismatch_s: float

    def message_fields(self) -> dict[str, Any]:
        return {"identity": {
            "enrolled": self.enrolled,
            "similarity": None if self.similarity is None else round(self.similarity, 3),
            "identity_changed": self.identity_changed,
        }}


@dataclass
class _IdentitySession:
    collected: list[np.ndarray] = field(default_factory=list)
    reference: np.ndarray | None = None
    mismatch_since: float | None = None
    changed: bool = False


class IdentityStage(Stage):
    name = "identity"
    requires = ("landmarks", "head_pose")

    def new_state(self) -> _IdentitySession:
        return _IdentitySession()

    def process(
        self, frame: VideoFrame, upstream: Mapping[str, StageOutput], state: Any
    ) -> IdentityResult | None:
        lm, pose = upstream["landmarks"].result, upstream["head_pose"].result
        if not isinstance(lm, LandmarksResult) or not isinstance(pose, HeadPoseResult):
            return None
        s: _IdentitySession = state if state is not None else _IdentitySession()
        confident = (lm.faces == 1 and not lm.blink
                     and abs(pose.yaw) <= MAX_POSE_DEG and abs(pose.pitch) <= MAX_POSE_DEG)
        if s.reference is None:
            if confident:
                s.collected.append(face_signature(lm))
                if len(s.collected) >= ENROL_FRAMES:
                    s.reference = np.mean(s.collected, axis=0)
            return IdentityResult(s.reference is not None, len(s.collected), None, False, 0.0)
        sim: float | None = None
        if abs(pose.yaw) <= MAX_POSE_DEG and abs(pose.pitch) <= MAX_POSE_DEG and not lm.blink:
            sim = similarity(face_signature(lm), s.reference)
            if sim < MIN_SIMILARITY:
                if s.mismatch_since is None:
                    s.mismatch_since = frame.t
                s.changed = s.changed or frame.t - s.mismatch_since >= CHANGE_AFTER_S
            else:
                s.mismatch_since, s.changed = None, False
        mismatch = 0.0 if s.mismatch_since is None else frame.t - s.mismatch_since
        return IdentityResult(True, len(s.collected), sim, s.changed, mismatch)
