"""Posture: upper-body keypoints, upright / leaning / out of frame, and whether the seat is empty.

Model: mediapipe 0.10.21's legacy `solutions.pose` (BlazePose) with `model_complexity=1`, the "full"
landmark model shipped in the wheel (0 and 2 download their models at run time and fail offline).
One graph serves every session, so it runs with `static_image_mode=True`: in tracking mode the
graph would carry one candidate's body region into another session's frame. At `rate_hz` = 1 the
frames are 1 s apart, too far for tracking to help much anyway; the cost is the person detector
on every run (25-35 ms instead of 12-25 ms). The graph is not thread-safe: calls hold `self.lock`.

**When it runs.** The risk engine reads posture only for `left_seat`, which also needs the faces
stage to see no face (below). So while a face is in view posture runs once every
`WITH_FACE_PERIOD_S` (its label on the message carries its age), and at `rate_hz` while no face is
seen: the first frame without a face finds the last result at least that old and runs it at once.

Classification, from the keypoints that are visible (visibility >= `MIN_VISIBILITY` and inside the
frame), in image pixels so that the frame's aspect does not distort angles:

* no body, or no upper-body point visible: `out_of_frame`, `left_seat` true (no body in view).
* some of the body is seen but the nose or a shoulder is not (a face close to the camera with the
  shoulders below the frame, cut by the frame edge, turned away, bent down): `out_of_frame`,
  `left_seat` false: a nose, an elbow or a wrist in view is somebody at the desk.
* otherwise a lean measure `m = max(tilt / SHOULDER_TILT_LEANING_DEG, offset / HEAD_OFFSET_LEANING)`
  from the shoulder line's tilt and the nose's sideways offset from the shoulder midpoint (in
  shoulder widths): `leaning` when m >= 1, else `upright`.

`left_seat` here says only "the pose model sees no body". BlazePose finds at most one person and
misses people it should see (a group photo, a face filling the frame), so the risk engine raises
`left_seat` only when the faces stage sees no face either (`pipeline/risk/conditions.py`).

`score` is the confidence in the label, 0..1: upright 1 - m/2 (1.0 square to the camera, 0.5 at the
boundary); leaning 0.5 + (m - 1)/2, capped at 1 (1.0 at twice the threshold); out_of_frame 1 minus the
best visibility among the missing points, taken as 0 for a point placed outside the image (1.0 when
no body was found at all).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pipeline.frame import VideoFrame
from pipeline.stages.base import RATE_TOLERANCE, Stage, StageOutput, StageUnavailable
from pipeline.stages.faces import FacesResult

PostureLabel = Literal["upright", "leaning", "out_of_frame"]

#: BlazePose indices of the upper-body points reported (mediapipe's PoseLandmark numbering; "left"
#: is the person's left).
UPPER_BODY: Mapping[str, int] = {
    "nose": 0,
    "left_shoulder": 11, "right_shoulder": 12,
    "left_elbow": 13, "right_elbow": 14,
    "left_wrist": 15, "right_wrist": 16,
    "left_hip": 23, "right_hip": 24,
}

#: mediapipe's own cut-off for drawing a landmark; below it the point is usually guessed (a hip
#: under the desk scores 0.0-0.3, a visible shoulder 0.9-1.0 on the test clips).
MIN_VISIBILITY = 0.5
#: shoulder-line tilt at which a sitter counts as leaning sideways. Sitting upright measures 1-5
#: degrees on the test media (camera roll and slouch included); reaching or leaning to read
#: something beside the screen tilts the shoulders well past 15.
SHOULDER_TILT_LEANING_DEG = 15.0
#: sideways nose offset from the shoulder midpoint, in shoulder widths, at which the head counts as
#: leaning. Upright sitters measure 0.03-0.07 on the test media; a head turned to look aside moves
#: the nose only a little sideways (and is the head-pose stage's business), a head leaning out
#: toward a neighbour or a note moves it a third of a shoulder width or more.
HEAD_OFFSET_LEANING = 0.35
#: BlazePose's person detector threshold (mediapipe's default).
MIN_DETECTION_CONFIDENCE = 0.5
#: seconds between runs while the faces stage sees a face (no risk reading depends on posture then).
WITH_FACE_PERIOD_S = 5.0


@dataclass(frozen=True)
class Keypoint:
    name: str
    x: float  # normalised 0..1 of the frame width
    y: float  # normalised 0..1 of the frame height
    visibility: float


@dataclass(frozen=True)
class PostureResult:
    label: PostureLabel
    score: float
    left_seat: bool
    #: the visible upper-body keypoints only.
    keypoints: tuple[Keypoint, ...] = ()
    shoulder_tilt_deg: float | None = None
    head_offset: float | None = None  # nose offset from the shoulder midpoint, in shoulder widths

    def keypoint(self, name: str) -> Keypoint | None:
        return next((k for k in self.keypoints if k.name == name), None)

    def message_fields(self) -> dict[str, Any]:
        # keypoints stay server-side: the message goes out several times a second
        return {"posture": {"label": self.label, "score": round(self.score, 3), "left_seat": self.left_seat}}


def classify_posture(landmarks: Sequence[tuple[float, float, float]] | None,
                     width: int, height: int) -> PostureResult:
    """Posture from BlazePose's 33 landmarks (x, y normalised, visibility), or None for no body."""
    if landmarks is None:
        return PostureResult("out_of_frame", 1.0, left_seat=True)
    # a point BlazePose places outside the image is not in view, whatever its visibility says
    # (it extrapolates a shoulder past the edge with visibility near 1)
    in_view = {name: (x, y, v if 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 else 0.0)
               for name, (x, y, v) in ((n, landmarks[i]) for n, i in UPPER_BODY.items())}
    visible = tuple(Keypoint(name, x, y, v) for name, (x, y, v) in in_view.items() if v >= MIN_VISIBILITY)
    seen = {k.name: k for k in visible}
    missing = [name for name in ("nose", "left_shoulder", "right_shoulder") if name not in seen]
    if missing:
        left_seat = not visible
        score = 1.0 - max(in_view[name][2] for name in missing)
        return PostureResult("out_of_frame", _unit(score), left_seat, visible)

    ls, rs, nose = seen["left_shoulder"], seen["right_shoulder"], seen["nose"]
    dx, dy = (ls.x - rs.x) * width, (ls.y - rs.y) * height
    shoulder_width = math.hypot(dx, dy)
    if shoulder_width < 1.0:  # both shoulders on one pixel: not a usable body
        return PostureResult("out_of_frame", 0.5, False, visible)
    tilt = math.degrees(math.atan2(abs(dy), abs(dx)))
    mid_x = (ls.x + rs.x) / 2 * width
    offset = abs(nose.x * width - mid_x) / shoulder_width
    m = max(tilt / SHOULDER_TILT_LEANING_DEG, offset / HEAD_OFFSET_LEANING)
    if m >= 1.0:
        return PostureResult("leaning", _unit(0.5 + (m - 1.0) / 2), False, visible, tilt, offset)
    return PostureResult("upright", _unit(1.0 - m / 2), False, visible, tilt, offset)


def _unit(v: float) -> float:
    return min(1.0, max(0.0, v))


class PostureStage(Stage):
    name = "posture"
    rate_hz = 1.0

    def __init__(self, *, min_detection_confidence: float = MIN_DETECTION_CONFIDENCE) -> None:
        super().__init__()
        self.min_detection_confidence = min_detection_confidence
        self._pose: Any = None

    def load(self) -> None:
        try:
            from mediapipe.python.solutions import pose
        except Exception as exc:  # mediapipe absent or broken
            raise StageUnavailable(f"mediapipe pose could not be imported: {exc}") from exc
        self._pose = pose.Pose(static_image_mode=True, model_complexity=1,
                               min_detection_confidence=self.min_detection_confidence)

    def due(self, last: StageOutput, age_s: float, upstream: Mapping[str, StageOutput], state: Any) -> bool:
        faces = upstream.get("faces")
        face_seen = (faces is not None and faces.status == "ok" and isinstance(faces.result, FacesResult)
                     and faces.result.count > 0)
        period = WITH_FACE_PERIOD_S if face_seen else 1.0 / (self.rate_hz or 1.0)
        return age_s >= RATE_TOLERANCE * period

    def process(self, frame: VideoFrame, upstream: Mapping[str, StageOutput], state: Any) -> PostureResult:
        with self.lock:  # the mediapipe graph is not safe to call from two threads at once
            res = self._pose.process(frame.rgb)
        if res.pose_landmarks is None:
            return classify_posture(None, frame.width, frame.height)
        marks = [(lm.x, lm.y, lm.visibility) for lm in res.pose_landmarks.landmark]
        return classify_posture(marks, frame.width, frame.height)
