"""YOLOX-Nano on onnxruntime: the default COCO object detector behind the "objects" stage.

The model (`pipeline/models/yolox_nano.onnx`, Megvii's YOLOX-Nano COCO weights exported to ONNX;
source and licence in `pipeline/models/README.md`) takes one 1x3x416x416 image: **BGR, 0-255,
not normalised**, the frame resized to fit with its aspect ratio kept and padded with grey (114)
on the right and bottom (YOLOX's own `preproc`, since release 0.1.1rc0). It has one output,
1x3549x85: for each anchor point of the three heads (strides 8, 16 and 32: 52x52, 26x26 and
13x13 points, row major, concatenated), the box centre offset and log size in units of the
stride, the objectness, and 80 class probabilities (sigmoids already applied in the graph).

Decoding (YOLOX's `demo_postprocess`): centre = (offset + grid cell) * stride, size =
exp(log size) * stride; a class's score is objectness * class probability. Every (point, class)
pair at or above `SCORE_FLOOR` goes into class-wise NMS at IoU 0.45 (YOLOX's demo value); boxes
are scaled back by the resize ratio and normalised to the original frame.

Against NanoDet-g on the same photos (bench/README.md) it is about three times faster (18-20 ms
vs 50 ms per inference, one thread, on this machine), scores people higher (0.89-0.96) and
throws up far fewer low-score phones on hands and faces.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipeline.stages.detection import Detection
from pipeline.stages.detection_nms import class_wise_nms

INPUT_SIZE = 416
STRIDES = (8, 16, 32)
PAD_VALUE = 114
#: candidates below this never reach NMS; the stage's per-class thresholds are all above it.
SCORE_FLOOR = 0.15
#: YOLOX's demo NMS IoU.
NMS_IOU = 0.45
#: at most this many candidates into NMS: bounds the cost on a cluttered frame.
MAX_CANDIDATES = 300
NUM_CLASSES = 80


def _grid() -> tuple[np.ndarray, np.ndarray]:
    cells, strides = [], []
    for stride in STRIDES:
        n = INPUT_SIZE // stride
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        strides.append(np.full((n * n, 1), stride))
    return np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)


class YoloxDetector:
    """`Detector` backed by the YOLOX-Nano ONNX model. Thread-safe: onnxruntime's `run` is."""

    def __init__(self, model_path: Path, *, intra_op_num_threads: int = 1, score_floor: float = SCORE_FLOOR) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_op_num_threads
        opts.inter_op_num_threads = 1
        # the exported graph lists its weights among the inputs too; onnxruntime warns once per
        # weight at load and runs it correctly
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(model_path), sess_options=opts, providers=["CPUExecutionProvider"])
        self._input = self.session.get_inputs()[0].name
        shape = self.session.get_outputs()[0].shape
        self._cells, self._strides = _grid()
        if list(shape[1:]) != [len(self._cells), 5 + NUM_CLASSES]:
            raise ValueError(f"{model_path} is not a 416x416 COCO YOLOX model: output shape {shape}")
        self.score_floor = score_floor

    @staticmethod
    def preprocess(bgr: np.ndarray) -> tuple[np.ndarray, float]:
        """The padded 1x3x416x416 float input and the resize ratio."""
        h, w = bgr.shape[:2]
        ratio = min(INPUT_SIZE / h, INPUT_SIZE / w)
        nh, nw = int(h * ratio), int(w * ratio)
        padded = np.full((INPUT_SIZE, INPUT_SIZE, 3), PAD_VALUE, dtype=np.uint8)
        padded[:nh, :nw] = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32), ratio

    def detect(self, bgr: np.ndarray) -> list[Detection]:
        x, ratio = self.preprocess(bgr)
        out = self.session.run(None, {self._input: x})[0][0]
        scores = out[:, 4:5] * out[:, 5:]
        point, label = np.nonzero(scores >= self.score_floor)
        if point.size > MAX_CANDIDATES:
            top = np.argsort(scores[point, label])[::-1][:MAX_CANDIDATES]
            point, label = point[top], label[top]
        if point.size == 0:
            return []
        centre = (out[point, :2] + self._cells[point]) * self._strides[point]
        size = np.exp(out[point, 2:4]) * self._strides[point]
        xyxy = np.concatenate([centre - size / 2, centre + size / 2], axis=1) / ratio
        h, w = bgr.shape[:2]
        xyxy = np.clip(xyxy, 0, [w, h, w, h])
        return class_wise_nms(xyxy, scores[point, label], label, width=w, height=h, iou=NMS_IOU,
                              score_floor=self.score_floor)
