"""The numbers `vigil eval` reports, as pure functions of labels and predictions.

Nothing here reads files or runs models: the runners (`video`, `objects`, `gaze`) turn media into
the plain inputs below, so each metric can be checked on inputs whose answer is known.

* **Frame level** (`FrameCounts`): per analysed frame, truth (inside a labelled span) against the
  product's prediction; precision, recall, specificity and balanced accuracy (the mean of recall
  and specificity, which a detector cannot game by saying "no" to a rare label).
* **Event level**: a labelled span is *detected* when an event of the label's types overlaps it
  (`span_detected`); an event that overlaps no span of its label is a *false event*, counted per
  minute of honest time (the footage's scored time outside the label's spans).
* **Boxes** (`match_boxes`): per class, predictions matched greedily, best confidence first, to the
  unmatched true box of highest IoU at or above `IOU_MATCH` (0.5, PASCAL VOC's rule); unmatched
  predictions are false positives and unmatched true boxes misses.
* **Gaze** (`gaze_summary`): errors in px, mm when the screen's size is known and degrees when
  the viewing distance is known too; mean, median and 90th percentile.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.stages.faces import iou

Span = tuple[float, float]
#: x, y, w, h in pixels (or any one unit for both boxes).
Box = tuple[float, float, float, float]
#: PASCAL VOC's match rule: a prediction counts when IoU >= 0.5.
IOU_MATCH = 0.5


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


@dataclass(frozen=True)
class FrameCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @classmethod
    def of(cls, pairs: Iterable[tuple[bool, bool]]) -> FrameCounts:
        """From (truth, predicted) pairs."""
        tp = fp = fn = tn = 0
        for truth, pred in pairs:
            if truth and pred:
                tp += 1
            elif pred:
                fp += 1
            elif truth:
                fn += 1
            else:
                tn += 1
        return cls(tp, fp, fn, tn)

    @property
    def positives(self) -> int:
        return self.tp + self.fn

    @property
    def negatives(self) -> int:
        return self.fp + self.tn

    @property
    def precision(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        return _ratio(self.tp, self.positives)

    @property
    def specificity(self) -> float | None:
        return _ratio(self.tn, self.negatives)

    @property
    def balanced_accuracy(self) -> float | None:
        """Mean of recall and specificity; with only one class present, that class's rate."""
        parts = [v for v in (self.recall, self.specificity) if v is not None]
        return sum(parts) / len(parts) if parts else None


def in_spans(t: float, spans: Sequence[Span]) -> bool:
    return any(a <= t <= b for a, b in spans)


def overlaps(a: Span, b: Span) -> bool:
    """True when the closed intervals share a point (an instant event at a span's edge counts)."""
    return a[0] <= b[1] and b[0] <= a[1]


def span_detected(span: Span, events: Sequence[Span]) -> bool:
    return any(overlaps(span, e) for e in events)


def false_events(events: Sequence[Span], spans: Sequence[Span]) -> int:
    """Events that overlap none of the spans."""
    return sum(1 for e in events if not any(overlaps(e, s) for s in spans))


def covered_seconds(spans: Sequence[Span], within: Span) -> float:
    """Length of the union of `spans` clipped to `within`."""
    clipped = sorted((max(a, within[0]), min(b, within[1])) for a, b in spans if b > within[0] and a < within[1])
    total, end = 0.0, -math.inf
    for a, b in clipped:
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def per_minute(count: int, seconds: float) -> float | None:
    return count * 60.0 / seconds if seconds > 0 else None




@dataclass(frozen=True)
class BoxCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: BoxCounts) -> BoxCounts:
        return BoxCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fn)


def match_boxes(truth: Sequence[Box], predicted: Sequence[tuple[float, Box]], *,
                min_iou: float = IOU_MATCH) -> BoxCounts:
    """One class on one image: `predicted` is (confidence, box); see the module docstring."""
    free = list(range(len(truth)))
    tp = 0
    for _conf, box in sorted(predicted, key=lambda p: p[0], reverse=True):
        best = max(free, key=lambda i: iou(truth[i], box), default=None)
        if best is not None and iou(truth[best], box) >= min_iou:
            free.remove(best)
            tp += 1
    return BoxCounts(tp, len(predicted) - tp, len(free))


def angle_deg(error_mm: float, distance_mm: float) -> float:
    """Visual angle of an on-screen error seen from `distance_mm` (small-offset form: the error is
    taken as centred on the line of sight, the usual way eye trackers state accuracy)."""
    return math.degrees(2.0 * math.atan2(error_mm / 2.0, distance_mm))


@dataclass(frozen=True)
class GazeError:
    px: float
    mm: float | None
    deg: float | None


def gaze_error(target: tuple[float, float], predicted: tuple[float, float], *,
               mm_per_px: float | None, distance_mm: float | None) -> GazeError:
    px = math.hypot(predicted[0] - target[0], predicted[1] - target[1])
    mm = px * mm_per_px if mm_per_px else None
    deg = angle_deg(mm, distance_mm) if mm is not None and distance_mm else None
    return GazeError(px, mm, deg)


def _percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summary(values: Sequence[float]) -> dict[str, float] | None:
    """mean, median, p90 and n of a list of errors; None when empty."""
    if not values:
        return None
    return {"mean": statistics.fmean(values), "median": statistics.median(values),
            "p90": _percentile(values, 0.9), "n": len(values)}


def gaze_summary(errors: Sequence[GazeError]) -> dict[str, dict[str, float] | None]:
    return {"px": summary([e.px for e in errors]),
            "mm": summary([e.mm for e in errors if e.mm is not None]),
            "deg": summary([e.deg for e in errors if e.deg is not None])}
