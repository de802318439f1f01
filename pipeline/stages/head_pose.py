"""Head pose: yaw, pitch and roll in degrees from the FaceLandmarker's facial transformation matrix.

The landmarker fits its canonical 3-D face to the whole 478-point mesh and returns the pose as a 4x4
matrix in its metric camera space (x right, y up, the camera at the origin looking along -z; the
canonical face looks along +z, i.e. at the camera). Fitting all points is steadier than
`cv2.solvePnP` on six of them and costs nothing extra. The rotation is decomposed as
R = Rz(roll) Ry(yaw) Rx(pitch).

Sign conventions (checked on mirrored and rotated copies of the test photographs):
* **yaw** > 0: the face turns toward the image's right (the nose moves right in the picture). In an
  unmirrored camera image that is the candidate's own left.
* **pitch** > 0: the nose turns up (head tilted back); < 0: looking down at the desk.
* **roll** > 0: the head tilts counter-clockwise as seen in the image.

These are *raw* angles relative to the camera's axis: a webcam above or below the screen, or a
phone held low, gives a constant offset (the test clip sits at pitch ~ +11). The risk engine
subtracts the candidate's own baseline (calibration / the first minute) before judging a turn.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.frame import VideoFrame
from pipeline.stages.base import Stage, StageOutput
from pipeline.stages.landmarks import LandmarksResult


@dataclass(frozen=True)
class HeadPoseResult:
    yaw: float
    pitch: float
    roll: float

    def message_fields(self) -> dict[str, Any]:
        return {"head_pose": {
            "yaw": round(self.yaw, 1), "pitch": round(self.pitch, 1), "roll": round(self.roll, 1)}}


def pose_from_matrix(matrix: np.ndarray) -> HeadPoseResult:
    """Yaw, pitch, roll (degrees, conventions above) from a FaceLandmarker transformation matrix."""
    r = np.asarray(matrix, dtype=np.float64)[:3, :3]
    norms = np.linalg.norm(r, axis=0)
    r = r / np.where(norms > 1e-9, norms, 1.0)  # the fit may carry a scale
    yaw = math.degrees(math.asin(float(np.clip(-r[2, 0], -1.0, 1.0))))
    pitch = -math.degrees(math.atan2(r[2, 1], r[2, 2]))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return HeadPoseResult(yaw, pitch, roll)


class HeadPoseStage(Stage):
    name = "head_pose"
    requires = ("landmarks",)

    def process(
        self, frame: VideoFrame, upstream: Mapping[str, StageOutput], state: Any
    ) -> HeadPoseResult | None:
        lm = upstream["landmarks"].result
        if not isinstance(lm, LandmarksResult) or lm.transform is None:
            return None
        return pose_from_matrix(lm.transform)
