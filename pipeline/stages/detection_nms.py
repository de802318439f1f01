"""Class-wise non-maximum suppression, shared by the detector backends.

Every backend ends the same way: candidate boxes (pixels of some image of `width` x `height`),
their scores and COCO class ids go through NMS per class (a box may be both "cell phone" and
"remote", and NMS must not let one class suppress the other), and the survivors become
`Detection`s with boxes normalised to that image, best first.
"""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.stages.detection import COCO_LABELS, Detection


def class_wise_nms(xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, *, width: float, height: float,
                   iou: float, score_floor: float) -> list[Detection]:
    """`xyxy` (n, 4) pixel corners; returns the kept boxes as `Detection`s, best first."""
    if len(scores) == 0:
        return []
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    kept = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.astype(np.float32).tolist(), class_ids.tolist(),
                                   score_floor, iou)
    out = []
    for i in np.asarray(kept, dtype=int).reshape(-1):
        x, y, w, h = (float(v) for v in xywh[i])
        out.append(Detection(label=COCO_LABELS[int(class_ids[i])], class_id=int(class_ids[i]),
                             confidence=float(scores[i]), box=(x / width, y / height, w / width, h / height)))
    out.sort(key=lambda d: d.confidence, reverse=True)
    return out
