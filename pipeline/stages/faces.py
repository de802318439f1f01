"""Faces: count, boxes and confidence from mediapipe's BlazeFace (both models ship in the wheel).

Two detectors, one schedule:

* the **short-range** model (3-4 ms at 640x480) runs on every frame: it is made for a face within
  about 2 m of a laptop or phone camera, which is the candidate;
* the **full-range** model (6-9 ms) runs when the short-range model finds nothing (a face far from
  the camera, or small in a large photograph: the short-range model finds neither face in
  `obama_and_biden.jpg`), and besides once every `FULL_RANGE_EVERY_S` of session time, so that a
  second person standing further back in the room is counted even while the candidate is seen.
  Its boxes are added when they do not overlap a short-range box (`SAME_FACE_IOU`).

Boxes are normalised to 0..1 of the frame and clipped to it.

**The face path's schedule.** While a face is seen, this stage and the landmarks stage (and the
stages that read the mesh, carried with it) run on every other analysed frame at 5 fps: a result
younger than `TRACK_REFRESH_S` is carried forward with its age (the candidate's face moves little
in 0.2 s, and every condition that reads it is debounced over a second or more). With no face in
the last result the detector runs on every frame, so a face coming back is found at once; the
landmarks stage also runs again at once when its last run found no mesh (tracking lost). This
halves the pipeline's largest cost (the mesh, 10-12 ms a run); `bench/README.md` has the figures.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pipeline.frame import VideoFrame
from pipeline.stages.base import Stage, StageOutput, StageUnavailable

#: BlazeFace scores below this are not faces; 0.5 is mediapipe's default and rejects the cat
#: (`no_face/skimage_chelsea_cat.png`) with both models.
MIN_FACE_CONFIDENCE = 0.5
#: how often (session seconds) the full-range model also runs while the short-range one sees a
#: face: a person walking in behind the candidate is counted within about a second, at +6 ms/s.
FULL_RANGE_EVERY_S = 1.0
#: a full-range box overlapping a short-range box by this IoU or more is the same face.
SAME_FACE_IOU = 0.3
#: while a face is seen, the face path's results are recomputed once they are this old (seconds of
#: session time): every other frame at 5 fps (0.4 s), every frame below 3.3 fps (under load).
TRACK_REFRESH_S = 0.3

Detector = Literal["short", "full", "both"]


#: a point x, y normalised to 0..1 of the frame
Point = tuple[float, float]


@dataclass(frozen=True)
class FaceBox:
    box: tuple[float, float, float, float]  # x, y, w, h normalised to 0..1 of the frame
    confidence: float
    #: the eyes' centres [A, B] from BlazeFace's keypoints (A: the person's right eye, on the image's
    #: left, as `landmarks.Mesh`'s eye A); a coarse guess where a face has no mesh
    eyes: tuple[Point, Point] | None = None


@dataclass(frozen=True)
class FacesResult:
    faces: tuple[FaceBox, ...]
    #: which model(s) produced the boxes on this frame
    detector: Detector = "short"

    @property
    def count(self) -> int:
        return len(self.faces)

    @property
    def primary(self) -> FaceBox | None:
        """The largest face: the candidate, when several are seen."""
        return max(self.faces, key=lambda f: f.box[2] * f.box[3], default=None)

    def message_fields(self) -> dict[str, Any]:
        primary = self.primary
        return {
            "faces": self.count,
            "face": None if primary is None else {
                "box": [round(v, 4) for v in primary.box], "confidence": round(primary.confidence, 3)},
        }


@dataclass
class _FacesSession:
    last_full_t: float | None = None


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _boxes(res: Any) -> list[FaceBox]:
    faces = []
    for det in res.detections or ():
        bb = det.location_data.relative_bounding_box
        x, y = max(0.0, bb.xmin), max(0.0, bb.ymin)
        w, h = min(1.0, bb.xmin + bb.width) - x, min(1.0, bb.ymin + bb.height) - y
        if w > 0 and h > 0:
            kp = det.location_data.relative_keypoints  # right eye, left eye, nose, mouth, ears
            eyes = ((kp[0].x, kp[0].y), (kp[1].x, kp[1].y)) if len(kp) >= 2 else None
            faces.append(FaceBox((x, y, w, h), float(det.score[0]), eyes))
    return faces


class FaceDetectionStage(Stage):
    name = "faces"

    def __init__(self, *, full_range: bool | None = None, min_confidence: float = MIN_FACE_CONFIDENCE,
                 full_range_every_s: float | None = FULL_RANGE_EVERY_S) -> None:
        """`full_range`: None (default) short range with the full-range fallback and periodic
        check described above; True/False: only that one model. `full_range_every_s=None`
        turns the periodic check off (the fallback on no face stays)."""
        super().__init__()
        self.full_range = full_range
        self.min_confidence = min_confidence
        self.full_range_every_s = full_range_every_s
        self._short: Any = None
        self._full: Any = None
        self._full_lock = threading.Lock()

    def load(self) -> None:
        os.environ.setdefault("GLOG_minloglevel", "2")
        try:
            from mediapipe.python.solutions import face_detection
        except Exception as exc:  # mediapipe absent or broken
            raise StageUnavailable(f"mediapipe face_detection could not be imported: {exc}") from exc
        if self.full_range is not True:
            self._short = face_detection.FaceDetection(
                model_selection=0, min_detection_confidence=self.min_confidence)
        if self.full_range is not False:
            self._full = face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=self.min_confidence)

    def new_state(self) -> _FacesSession:
        return _FacesSession()

    def due(self, last: StageOutput, age_s: float, upstream: Mapping[str, StageOutput], state: Any) -> bool:
        """Every frame while no face is seen; else once the last boxes are `TRACK_REFRESH_S` old."""
        if last.status != "ok" or not isinstance(last.result, FacesResult) or last.result.count == 0:
            return True
        return age_s >= TRACK_REFRESH_S

    def _run_full(self, frame: VideoFrame) -> list[FaceBox]:
        with self._full_lock:  # each mediapipe graph is not safe to call from two threads at once
            return _boxes(self._full.process(frame.rgb))

    def process(self, frame: VideoFrame, upstream: Mapping[str, StageOutput], state: Any) -> FacesResult:
        session: _FacesSession = state if state is not None else _FacesSession()
        if self._short is None:
            session.last_full_t = frame.t
            return FacesResult(tuple(self._run_full(frame)), "full")
        with self.lock:
            faces = _boxes(self._short.process(frame.rgb))
        if self._full is None:
            return FacesResult(tuple(faces), "short")
        if not faces:
            session.last_full_t = frame.t
            return FacesResult(tuple(self._run_full(frame)), "full")
        due = self.full_range_every_s is not None and (
            session.last_full_t is None or frame.t - session.last_full_t >= self.full_range_every_s)
        if not due:
            return FacesResult(tuple(faces), "short")
        session.last_full_t = frame.t
        extra = [f for f in self._run_full(frame) if all(iou(f.box, s.box) < SAME_FACE_IOU for s in faces)]
        return FacesResult(tuple(faces + extra), "both")
