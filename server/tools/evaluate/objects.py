"""Labelled object boxes on still images, through the product's own objects stage and risk engine.

**Boxes.** Each image goes once through the objects stage (the configured detector, then the
stage's per-class thresholds); per class, its boxes are matched to the true ones
(`metrics.match_boxes`, IoU >= 0.5). Classes are those the CSV names (`phone` is accepted for
COCO's `cell phone`); a detection of a scored class on an image without that class is a false
positive, which is why images with no object of interest are listed with an empty label.

**Events.** The image is then held in front of a fresh session for `hold_s` seconds at the
analysis rate: the objects stage runs at its own rate with its temporal confirmation, and the risk
engine sees the carried results frame by frame, exactly as a live session would. An image whose
true classes include one with an event type (`cell phone` -> `phone`, `book` -> `book`) should
raise that event; any such event on an image without the class is a false event.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.tools.evaluate.formats import BoxRow
from server.tools.evaluate.metrics import Box, BoxCounts, match_boxes

#: CSV label -> COCO label.
ALIASES: Mapping[str, str] = {"phone": "cell phone", "mobile phone": "cell phone", "tv monitor": "tv"}
#: COCO label -> the risk event it should raise.
EVENT_OF: Mapping[str, str] = {"cell phone": "phone", "book": "book"}


def coco_label(label: str) -> str:
    return ALIASES.get(label, label)


@dataclass(frozen=True)
class ImageTruth:
    file: Path
    group: str | None
    boxes: Mapping[str, tuple[Box, ...]]  # COCO label -> true boxes (px)


@dataclass(frozen=True)
class ImageRecord:
    truth: ImageTruth
    detections: tuple[tuple[str, float, Box], ...]  # label, confidence, box (px), at the thresholds
    events: frozenset[str]  # event types raised while held
    ms: float  # detector time of the first pass


def images_from_rows(rows: Sequence[BoxRow]) -> list[ImageTruth]:
    boxes: dict[Path, dict[str, list[Box]]] = defaultdict(dict)
    groups: dict[Path, str | None] = {}
    for r in rows:
        per = boxes[r.file]
        groups.setdefault(r.file, r.group)
        if r.label is not None and r.box is not None:
            per.setdefault(coco_label(r.label), []).append(r.box)
    return [ImageTruth(f, groups[f], {k: tuple(v) for k, v in per.items()}) for f, per in boxes.items()]


def scored_classes(images: Sequence[ImageTruth]) -> list[str]:
    return sorted({label for im in images for label in im.boxes})


def score_boxes(records: Sequence[ImageRecord], classes: Sequence[str]) -> dict[str, BoxCounts]:
    """Per class, summed over images (pure)."""
    out = {c: BoxCounts() for c in classes}
    for rec in records:
        for c in classes:
            predicted = [(conf, box) for label, conf, box in rec.detections if label == c]
            out[c] = out[c] + match_boxes(rec.truth.boxes.get(c, ()), predicted)
    return out


@dataclass(frozen=True)
class EventCounts:
    images_with: int = 0
    raised: int = 0
    images_without: int = 0
    false_events: int = 0

    def __add__(self, other: EventCounts) -> EventCounts:
        return EventCounts(self.images_with + other.images_with, self.raised + other.raised,
                           self.images_without + other.images_without, self.false_events + other.false_events)

    @property
    def recall(self) -> float | None:
        return self.raised / self.images_with if self.images_with else None


def score_events(records: Sequence[ImageRecord], classes: Sequence[str]) -> dict[str, EventCounts]:
    """Per event-raising class: images with it that raised the event; false events on the others."""
    out: dict[str, EventCounts] = {}
    for c in classes:
        kind = EVENT_OF.get(c)
        if kind is None:
            continue
        counts = EventCounts()
        for rec in records:
            has = bool(rec.truth.boxes.get(c))
            raised = kind in rec.events
            counts = counts + EventCounts(int(has), int(has and raised), int(not has), int(raised and not has))
        out[kind] = counts
    return out


def run_images(images: Sequence[ImageTruth], *, pipeline: Any, policy: Any, hold_s: float,
               fps: float) -> list[ImageRecord]:
    """Detections and held-image events for every image (module docstring). `pipeline` is a loaded
    `Pipeline` holding the objects stage."""
    import time

    import cv2
    import numpy as np

    from pipeline.frame import VideoFrame
    from pipeline.observe import observation_from_analysis
    from pipeline.risk import RiskEngine
    from pipeline.stages.objects import ObjectsResult

    records = []
    for im in images:
        bgr = cv2.imread(str(im.file), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"cannot read image {im.file}")
        h, w = bgr.shape[:2]
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        session = pipeline.new_session()
        engine = RiskEngine(policy)
        first: ObjectsResult | None = None
        ms = 0.0
        steps = max(1, int(round(hold_s * fps)))
        for i in range(steps):
            t = i / fps
            t0 = time.perf_counter()
            analysis = session.analyse(VideoFrame(rgb, t=t, frame_id=i + 1), only=("objects",))
            if first is None:
                ms = (time.perf_counter() - t0) * 1000.0
                first = analysis.result("objects", ObjectsResult)
            engine.observe(observation_from_analysis(analysis))
        verdict = engine.finish(steps / fps)
        seen = first.seen if first is not None else ()
        dets = tuple((d.label, d.confidence, (d.box[0] * w, d.box[1] * h, d.box[2] * w, d.box[3] * h)) for d in seen)
        records.append(ImageRecord(im, dets, frozenset(e.type for e in verdict.events), ms))
    return records
