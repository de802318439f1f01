"""What an object-detection backend gives the "objects" stage: `Detection`s over `COCO_LABELS`.

Apart from the stage (`objects.py`) and its default backend (`nanodet.py`) so both import these
types from here and neither imports the other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

#: COCO's 80 classes in the detector's output order.
COCO_LABELS: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)


@dataclass(frozen=True)
class Detection:
    label: str
    class_id: int
    confidence: float
    box: tuple[float, float, float, float]  # x, y, w, h normalised to 0..1 of the frame

    def message_fields(self) -> dict[str, Any]:
        return {"label": self.label, "confidence": round(self.confidence, 3),
                "box": [round(v, 4) for v in self.box]}


class Detector(Protocol):
    """A detector backend: every candidate it finds in a BGR uint8 HxWx3 image, best first.

    Candidates may go below the stage's thresholds (the stage filters); boxes are normalised to
    the image. Must be safe to call from several threads at once, or lock internally.
    """

    def detect(self, bgr: np.ndarray) -> list[Detection]: ...
