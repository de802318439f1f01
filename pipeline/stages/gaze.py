"""Gaze: an uncalibrated direction (`center|left|right|up|down`) and the features calibration needs.

Algorithm, per frame:

1. For each eye, take the line through its two corners (mesh 33-133 for eye A, 362-263 for eye B,
   both pointing toward the image's right) as the eye's x axis and its perpendicular, pointing up in
   the image, as the y axis. The iris centre (468 / 473) relative to the corners' midpoint, in that
   rotated frame and divided by the corner distance, gives `h` (> 0: iris toward the image's right)
   and `v` (> 0: up). The frame turns with the head, so roll does not leak into `h`.
2. The two eyes' mean offset becomes an eye-in-head angle: the iris centre moves on a sphere of
   radius about `1 / EYE_WIDTH_PER_ROTATION_RADIUS` eye widths, so angle = asin(offset * k).
   Averaging both eyes cancels each eye's own bias (the iris sits nearer the outer corner).
3. Gaze angle = head pose + eye-in-head angle, horizontally (yaw) and vertically (pitch), with the
   head pose conventions of `head_pose.py`.
4. Direction: `center` while both angles are inside their thresholds; otherwise the axis that is
   further past its threshold decides.

**Directions are in image coordinates, as the proctor sees the video**: "left" means the gaze goes
toward the image's left (pupils move left in the picture). In an unmirrored webcam image that is the
candidate's own right; Vigil never mirrors the analysed frames (browsers mirror only the self-view).

These are raw, uncalibrated directions relative to the camera: a camera beside the screen or a phone
held low shifts them, so they are for display only. The risk engine judges looking away from the
angles (`h_deg`, `v_deg`) against the candidate's own baseline (the neutral gaze and the extent seen
while working, `pipeline/risk/baseline.py`), and uses the label only when a frame has no angles.
The calibration maps `GazeFeatures.vector()` to screen coordinates per candidate; the server then
adds `screen`/`on_screen` to the message. On a frame where both eyes are shut (a blink) the iris
is not visible and the stage returns no result (status `skipped`).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from pipeline.frame import VideoFrame
from pipeline.stages.base import Stage, StageOutput
from pipeline.stages.head_pose import HeadPoseResult
from pipeline.stages.landmarks import LandmarksResult, Mesh

Direction = Literal["center", "left", "right", "up", "down"]

#: eye width (corner to corner, ~30 mm) over the radius on which the iris centre turns (~11 mm,
#: centre of rotation to iris plane in Gullstrand's schematic eye): converts the normalised iris
#: offset to an angle. On the test clip the "left" segment's offset -0.14 becomes about -23 deg.
EYE_WIDTH_PER_ROTATION_RADIUS = 2.8
#: the iris centre sits above the corner-to-corner line when looking straight ahead (0.06-0.08 of
#: the eye width on the test clip and 0.04 on the astronaut photo): subtracted before the vertical
#: angle is formed.
IRIS_V_NEUTRAL = 0.06
#: beyond this horizontal angle the gaze is "left"/"right": half the width of a 15-inch laptop
#: screen seen from 60 cm is about 16 deg. Looking straight ahead measures within +-6 deg on the
#: test clip, the labelled "left" glance about -23 deg.
HORIZONTAL_OFF_DEG = 15.0
#: beyond this vertical angle the gaze is "up"/"down". Wider than horizontal because raw pitch
#: carries the camera's offset (a webcam 10-12 cm above a laptop screen's centre at 60 cm puts the
#: screen ~11 deg below the camera axis; the clip, filmed from a phone held low, reads up to +16 deg
#: while looking at the camera) and the lids hide the iris's vertical travel. Looking down at notes
#: on a desk measures 30 deg or more.
VERTICAL_OFF_DEG = 20.0


@dataclass(frozen=True)
class EyeOffset:
    h: float  # iris centre offset along the eye axis / eye width, > 0 toward the image's right
    v: float  # offset perpendicular to it / eye width, > 0 up (raw, IRIS_V_NEUTRAL not removed)


@dataclass(frozen=True)
class GazeFeatures:
    """Normalised per-frame features for gaze calibration (a per-candidate regression to the screen).

    `vector()` layout (float64, `NAMES` order): eye A h, v, openness; eye B h, v, openness; head yaw,
    pitch, roll (degrees, `head_pose.py` conventions); face x, y (midpoint of the four eye corners,
    0..1 of the frame) and scale (corner-to-corner distance across both eyes / frame width), since
    moving the head changes where the same eye angles land on the screen.
    """

    NAMES: ClassVar[tuple[str, ...]] = (
        "a_h", "a_v", "a_open", "b_h", "b_v", "b_open",
        "yaw", "pitch", "roll", "face_x", "face_y", "face_scale")

    eye_a: EyeOffset
    eye_b: EyeOffset
    openness_a: float
    openness_b: float
    yaw: float
    pitch: float
    roll: float
    face_x: float
    face_y: float
    face_scale: float

    def vector(self) -> np.ndarray:
        return np.array([
            self.eye_a.h, self.eye_a.v, self.openness_a, self.eye_b.h, self.eye_b.v, self.openness_b,
            self.yaw, self.pitch, self.roll, self.face_x, self.face_y, self.face_scale], dtype=np.float64)


@dataclass(frozen=True)
class GazeResult:
    direction: Direction
    #: combined (head + eyes) gaze angles in degrees: > 0 toward the image's right / up
    h_deg: float
    v_deg: float
    features: GazeFeatures

    @property
    def h(self) -> float:
        """sin of the horizontal gaze angle, -1..1 (> 0: toward the image's right)."""
        return math.sin(math.radians(self.h_deg))

    @property
    def v(self) -> float:
        """sin of the vertical gaze angle, -1..1 (> 0: up)."""
        return math.sin(math.radians(self.v_deg))

    def message_fields(self) -> dict[str, Any]:
        return {"gaze": {"direction": self.direction, "h": round(self.h, 3), "v": round(self.v, 3)}}


def eye_offset(pts: np.ndarray, left_corner: int, right_corner: int, iris: int) -> EyeOffset:
    """Iris centre in the eye's own frame (see module docstring); `pts` in pixels."""
    a, b, c = pts[left_corner, :2], pts[right_corner, :2], pts[iris, :2]
    axis = b - a
    width = float(np.linalg.norm(axis))
    if width <= 1e-6:
        return EyeOffset(0.0, 0.0)
    u = axis / width
    up = np.array([u[1], -u[0]])  # image y points down: this perpendicular points up
    rel = c - (a + b) / 2.0
    return EyeOffset(float(rel @ u) / width, float(rel @ up) / width)


def _angle(offset: float) -> float:
    return math.degrees(math.asin(max(-1.0, min(1.0, offset * EYE_WIDTH_PER_ROTATION_RADIUS))))


def classify(h_deg: float, v_deg: float) -> Direction:
    rh, rv = abs(h_deg) / HORIZONTAL_OFF_DEG, abs(v_deg) / VERTICAL_OFF_DEG
    if rh < 1.0 and rv < 1.0:
        return "center"
    if rh >= rv:
        return "right" if h_deg > 0 else "left"
    return "up" if v_deg > 0 else "down"


def estimate(lm: LandmarksResult, pose: HeadPoseResult) -> GazeResult:
    pts = lm.points_px()
    a = eye_offset(pts, Mesh.A_OUTER, Mesh.A_INNER, Mesh.A_IRIS)
    b = eye_offset(pts, Mesh.B_INNER, Mesh.B_OUTER, Mesh.B_IRIS)
    h_deg = pose.yaw + _angle((a.h + b.h) / 2.0)
    v_deg = pose.pitch + _angle((a.v + b.v) / 2.0 - IRIS_V_NEUTRAL)
    corners = lm.landmarks[[Mesh.A_OUTER, Mesh.A_INNER, Mesh.B_INNER, Mesh.B_OUTER], :2]
    span = float(np.linalg.norm(pts[Mesh.B_OUTER, :2] - pts[Mesh.A_OUTER, :2])) / max(lm.width, 1)
    features = GazeFeatures(a, b, lm.eye_openness[0], lm.eye_openness[1], pose.yaw, pose.pitch, pose.roll,
                            float(corners[:, 0].mean()), float(corners[:, 1].mean()), span)
    return GazeResult(classify(h_deg, v_deg), h_deg, v_deg, features)


class GazeStage(Stage):
    name = "gaze"
    requires = ("landmarks", "head_pose")

    def process(
        self, frame: VideoFrame, upstream: Mapping[str, StageOutput], state: Any
    ) -> GazeResult | None:
        lm, pose = upstream["landmarks"].result, upstream["head_pose"].result
        if not isinstance(lm, LandmarksResult) or not isinstance(pose, HeadPoseResult):
            return None
        if lm.blink:
            return None  # eyes shut: no iris to read on this frame
        return estimate(lm, pose)
