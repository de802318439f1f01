"""Boxes, labels and a caption drawn on an analysed frame, for evidence snapshots and event clips. Runs in
the executor."""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.risk.events import EVENT_SPECS
from server.live.detections import Box, Detections, Drawn

FACE_COLOUR = (0, 255, 0)  # RGB: the candidate's face
OTHER_FACE_COLOUR = (255, 215, 0)  # RGB: every other face seen (multiple_faces)
OBJECT_COLOUR = (255, 64, 0)  # RGB: objects (phone, book, ...)
BANNER_COLOUR = (20, 20, 20)


def event_phrase(kind: str) -> str:
    """The event type's readable phrase for a caption ("phone seen"); the type when unknown."""
    spec = EVENT_SPECS.get(kind)  # type: ignore[call-overload]
    return str(spec.phrase) if spec is not None else kind.replace("_", " ")


def _box_px(box: Box, w: int, h: int) -> tuple[int, int, int, int] | None:
    x, y, bw, bh = box
    x0, y0 = int(round(max(0.0, x) * w)), int(round(max(0.0, y) * h))
    x1, y1 = int(round(min(1.0, x + bw) * w)), int(round(min(1.0, y + bh) * h))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, min(x1, w - 1), min(y1, h - 1)


def _label(img: np.ndarray, text: str, x: int, y: int, colour: tuple[int, int, int]) -> None:
    """Text on a filled box in `colour`, above (x, y) if there is room, else inside."""
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.38, 1
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    top = y - th - base - 2 if y - th - base - 2 >= 0 else y
    cv2.rectangle(img, (x, top), (min(img.shape[1] - 1, x + tw + 4), top + th + base + 2), colour, -1)
    cv2.putText(img, text, (x + 2, top + th + 1), font, scale, (0, 0, 0), thick, cv2.LINE_AA)


def _draw(img: np.ndarray, drawn: Drawn, colour: tuple[int, int, int]) -> None:
    h, w = img.shape[:2]
    px = _box_px(drawn.box, w, h)
    if px is None:
        return
    cv2.rectangle(img, px[:2], px[2:], colour, 2)
    text = drawn.label[:24] if drawn.confidence is None else f"{drawn.label[:24]} {drawn.confidence:.2f}"
    _label(img, text, px[0], px[1], colour)


def draw_detections(rgb: np.ndarray, detections: Detections, caption: str = "") -> np.ndarray:
    """A copy of the frame with every face's box, the object boxes and their labels, and a caption banner;
    only the boxes fresh on this frame (`Detections.fresh`): an older box may show what has gone."""
    img = np.ascontiguousarray(rgb).copy()
    h, w = img.shape[:2]
    detections = detections.fresh()
    # objects first, faces on top: a person's large box must not cut through a face's box or label
    for obj in detections.objects:
        _draw(img, obj, OBJECT_COLOUR)
    for other in detections.other_faces:
        _draw(img, other, OTHER_FACE_COLOUR)
    if detections.face is not None:
        _draw(img, detections.face, FACE_COLOUR)
    if caption:
        cv2.rectangle(img, (0, h - 16), (w - 1, h - 1), BANNER_COLOUR, -1)
        cv2.putText(img, caption[:60], (4, h - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return img
