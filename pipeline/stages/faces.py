"""Faces: count, boxes and confidence from mediapipe's BlazeFace (short range, in the wheel)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from pipeline.frame import VideoFrame
from pipeline.stages.base import Stage, StageOutput, StageUnavailable

#: BlazeFace scores below this are not faces; 0.5 is mediapipe's default and rejects the cat.
MIN_FACE_CONFIDENCE = 0.5


@dataclass(frozen=True)
class FaceBox:
    box: tuple[float, float, float, float]  # x, y, w, h normalised to 0..1 of the frame
    confidence: float


@dataclass(frozen=True)
class FacesResult:
    faces: tuple[FaceBox, ...]

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


class FaceDetectionStage(Stage):
    name = "faces"

    def __init__(self, *, full_range: bool = False, min_confidence: float = MIN_FACE_CONFIDENCE) -> None:
        super().__init__()
        self.full_range = full_range
        self.min_confidence = min_confidence
        self._detector: Any = None

    def load(self) -> None:
        try:
            from mediapipe.python.solutions import face_detection
        except Exception as exc:  # mediapipe absent or broken
            raise StageUnavailable(f"mediapipe face_detection could not be imported: {exc}") from exc
        self._detector = face_detection.FaceDetection(
            model_selection=1 if self.full_range else 0, min_detection_confidence=self.min_confidence)

    def process(self, frame: VideoFrame, upstream: Mapping[str, StageOutput], state: Any) -> FacesResult:
        with self.lock:  # the mediapipe graph is not safe to call from two threads at once
            res = self._detector.process(frame.rgb)
        faces = []
        for det in res.detections or ():
            bb = det.location_data.relative_bounding_box
            x, y = max(0.0, bb.xmin), max(0.0, bb.ymin)
            w, h = min(1.0, bb.xmin + bb.width) - x, min(1.0, bb.ymin + bb.height) - y
            if w > 0 and h > 0:
                faces.append(FaceBox((x, y, w, h), float(det.score[0])))
        return FacesResult(tuple(faces))
