"""NanoDet-g on onnxruntime: the COCO object detector behind the "objects" stage.

The model (`pipeline/models/nanodet.onnx`, made by `pipeline/models/convert_nanodet.py`) takes one
1x3x416x416 BGR image, plainly resized (no letterbox), normalised per channel with NanoDet's
mean/std. It has three heads at strides 8, 16 and 32 (52x52, 26x26 and 13x13 anchor points, row
major). Per point and head:

* `scores_s{stride}`: 80 class scores, sigmoid already applied in the graph (quality focal loss:
  the score is also the box's expected IoU, so there is no separate objectness).
* `boxes_s{stride}`: 44 = 4 x 11 logits, the distances from the point to the box's left, top, right
  and bottom edges as distributions over 0..10 strides (Generalized Focal Loss). The distance is the
  expectation: softmax over the 11 bins, dot [0..10], times the stride.

Anchor points sit at cell centres, ((i + 0.5) * stride, (j + 0.5) * stride): NanoDet's GFL head
(`get_single_level_center_point`), and what puts the phone in the test photo on its true box.
Boxes in 416x416 model space divided by 416 are already normalised to the original frame, because
the resize is plain. Class-wise NMS at IoU 0.6 as in NanoDet's own post-processing.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipeline.stages.detection import Detection
from pipeline.stages.detection_nms import class_wise_nms

INPUT_SIZE = 416
STRIDES = (8, 16, 32)
#: bins per box side minus one (44 = 4 x 11 logits per point).
REG_MAX = 10
#: NanoDet's training normalisation, BGR order (the RGB/255 input of Human's JS turns the phone in
#: the test photo into "toothbrush").
MEAN_BGR = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], dtype=np.float32)
#: candidates below this never reach NMS; the stage's per-class thresholds are all above it.
SCORE_FLOOR = 0.2
#: NanoDet's own NMS IoU.
NMS_IOU = 0.6
#: per head, at most this many candidates into NMS: bounds the cost on a cluttered frame.
MAX_CANDIDATES_PER_HEAD = 200


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    out: np.ndarray = e / e.sum(axis=axis, keepdims=True)
    return out


def _centres(stride: int) -> np.ndarray:
    n = -(-INPUT_SIZE // stride)
    ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return (np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32) + 0.5) * stride


class NanoDetDetector:
    """`Detector` backed by the NanoDet ONNX model. Thread-safe: onnxruntime's `run` is."""

    def __init__(self, model_path: Path, *, intra_op_num_threads: int = 1,
                 score_floor: float = SCORE_FLOOR) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_op_num_threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path), sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        self.score_floor = score_floor
        self._input = self.session.get_inputs()[0].name
        self._outputs = [o.name for o in self.session.get_outputs()]
        outputs = set(self._outputs)
        self._heads = [(s, f"scores_s{s}", f"boxes_s{s}", _centres(s)) for s in STRIDES]
        expected = {name for _, cls, box, _ in self._heads for name in (cls, box)}
        if not expected <= outputs:
            raise ValueError(f"{model_path} is not the converted NanoDet: outputs {sorted(outputs)}")
        self._bins = np.arange(REG_MAX + 1, dtype=np.float32)

    @staticmethod
    def preprocess(bgr: np.ndarray) -> np.ndarray:
        x = cv2.resize(bgr, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        x = (x - MEAN_BGR) / STD_BGR
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

    def detect(self, bgr: np.ndarray) -> list[Detection]:
        raw = dict(zip(self._outputs, self.session.run(self._outputs, {self._input: self.preprocess(bgr)}),
                       strict=True))
        boxes, scores, classes = [], [], []
        for stride, cls_name, box_name, centres in self._heads:
            cls = raw[cls_name][0]  # N x 80
            # every (point, class) pair above the floor, as NanoDet's multiclass NMS does: a point
            # on a phone in a hand may be both "cell phone" and "person".
            point, label = np.nonzero(cls >= self.score_floor)
            if point.size > MAX_CANDIDATES_PER_HEAD:
                top = np.argsort(cls[point, label])[::-1][:MAX_CANDIDATES_PER_HEAD]
                point, label = point[top], label[top]
            if point.size == 0:
                continue
            dist = _softmax(raw[box_name][0][point].reshape(-1, 4, REG_MAX + 1), axis=2) @ self._bins
            dist *= stride
            c = centres[point]
            xyxy = np.concatenate([c - dist[:, :2], c + dist[:, 2:]], axis=1)
            boxes.append(np.clip(xyxy, 0, INPUT_SIZE))
            scores.append(cls[point, label])
            classes.append(label)
        if not boxes:
            return []
        return class_wise_nms(np.concatenate(boxes), np.concatenate(scores), np.concatenate(classes),
                              width=INPUT_SIZE, height=INPUT_SIZE, iou=NMS_IOU, score_floor=self.score_floor)
