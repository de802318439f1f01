"""Objects: COCO detections a proctoring policy cares about (phones, books, laptops, other people).

The stage is backend-agnostic: anything with `detect(bgr) -> list[Detection]` (`Detector`, in
`pipeline/stages/detection.py`) will do. Two backends ship, each with its model committed in
`pipeline/models/` (`BACKENDS`): **YOLOX-Nano** (`yolox.py`, the default: about 20 ms per
inference and far fewer phones imagined on hands than NanoDet; on the whole frame and, for small
phones, on its 2 x 2 tiles, `detection_tiles.py`: five inferences on a pass that looks at the
tiles, on the first, every 15th while idle (30 s) and every one while a phone is being confirmed;
`yolox-whole` is the whole frame alone) and **NanoDet-g** (`nanodet.py`, the previous default, about 50 ms, whole frame
only). The stage runs in the server's background lane and its last
result is carried forward between runs, so the frame budget stays for the per-frame face stages.

**When it runs** (`due`): every `IDLE_PERIOD_S` (2 s: `rate_hz` = 0.5) while the recent passes
saw nothing to confirm, and every `WATCH_PERIOD_S` (0.5 s) while any of the last `n` passes saw a
reported object other than a person, or the last saw two or more persons. A phone coming into
view is first seen 1 s later on average (0-2 s) and confirmed by the next pass 0.5 s after that:
1.5 s on average, as at the former steady 1 Hz (0.5 s to the first sighting, 1 s to the second),
at half the passes while the room is empty of objects. A phone that stays keeps the passes at
0.5 s, well inside the risk policy's `release_seconds` (2 s), so one phone stays one event.

From the detector's candidates the stage keeps the classes the policy names (`labels`; default
`DEFAULT_LABELS`) whose confidence reaches that class's threshold. Thresholds belong to the
backend (`BACKENDS[...].thresholds`, else `DEFAULT_THRESHOLD`): a score is only meaningful
against the model that produced it, so the stage, which knows the model, holds them; the risk
policy only names which labels are a phone or a book (and keeps a model-independent floor).
The stage also counts persons (at the person threshold) whether or not "person" is among the
reported labels: a second person is the main reason to look at all.

**Temporal confirmation.** A detector pass is one still image, and small detectors imagine a
phone on a hand or a face now and then. An object (any reported class but "person", whose count
has its own event) is reported only once it was seen in `k` of the last `n` passes (`confirm`,
default 2 of 3: the pass after the first sighting, 0.5 s later, see above), per session (`ObjectsState`). The pass's own thresholded
detections stay available as `ObjectsResult.seen` (not sent on the wire) for evaluation.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.frame import VideoFrame
from pipeline.stages.base import RATE_TOLERANCE, Stage, StageOutput, StageUnavailable
from pipeline.stages.detection import COCO_LABELS, Detection, Detector
from pipeline.stages.detection_tiles import TiledDetector, tiles_due
from pipeline.stages.nanodet import NanoDetDetector
from pipeline.stages.yolox import YoloxDetector

__all__ = [
    "BACKENDS",
    "CLASS_THRESHOLDS",
    "COCO_LABELS",
    "DEFAULT_BACKEND",
    "DEFAULT_CONFIRM",
    "DEFAULT_LABELS",
    "DEFAULT_MODEL_PATH",
    "DEFAULT_THRESHOLD",
    "Detection",
    "Detector",
    "ObjectsResult",
    "ObjectsStage",
    "ObjectsState",
]

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"

#: what the stage reports unless a policy names others: people, the usual aids (phone, book, a
#: second computer) and things easily mistaken for a phone in hand (remote) or a second screen.
DEFAULT_LABELS: frozenset[str] = frozenset(
    {"person", "cell phone", "book", "laptop", "remote", "tv", "keyboard", "mouse"})

#: NanoDet-g's per-class minimum confidence. NanoDet is an older, smaller design than YOLOv8 and
#: scores small objects low: the phone held in the test photo, plainly visible, scores 0.45, so
#: phones get 0.3 (shared/MODELS.md). A person at the camera scores 0.73-0.86 on the test media,
#: while the empty window-and-tree clip throws up a false "person" of up to 0.51 (24-30 s in):
#: 0.55 counts the one and not the other. A second person far back in the room may score below
#: it; lower it if that matters more than false alarms.
CLASS_THRESHOLDS: Mapping[str, float] = {
    "person": 0.55,
    "cell phone": 0.3,
    "remote": 0.3,  # a phone seen edge-on often comes out as "remote"
    "book": 0.35,
    "laptop": 0.4,
}

#: YOLOX-Nano's per-class minimum confidence, chosen on the tuning media (bench/data/SOURCES.md):
#: people at the camera score 0.82-0.96 and the empty tree clip gives no person at 0.5; the phone
#: in hand scores 0.43 and the cat nothing. Measured since (bench/README.md): a hand held over a
#: face scores 0.34 as "cell phone"; held still, confirmation cannot reject it.
YOLOX_THRESHOLDS: Mapping[str, float] = {
    "person": 0.5,
    "cell phone": 0.3,
    "remote": 0.35,
    "book": 0.35,
    "laptop": 0.4,
}
#: for any other class a policy names.
DEFAULT_THRESHOLD = 0.4
#: (k, n): an object is reported once seen in k of the last n detector passes.
DEFAULT_CONFIRM = (2, 3)
#: seconds between passes while nothing is to be confirmed, and while something is (see above).
IDLE_PERIOD_S = 2.0
WATCH_PERIOD_S = 0.5


@dataclass(frozen=True)
class Backend:
    """One detector backend: its committed model file, how to build it, and its thresholds."""

    model_file: str
    build: Callable[[Path, int], Detector]
    thresholds: Mapping[str, float]


BACKENDS: Mapping[str, Backend] = {
    # the whole frame, then its 2 x 2 tiles for small phones (`detection_tiles.py`): YOLOX alone
    # found 1 of the 30 small, far phones of bench/data/objects
    "yolox": Backend("yolox_nano.onnx", lambda p, n: TiledDetector(YoloxDetector(p, intra_op_num_threads=n)),
                     YOLOX_THRESHOLDS),
    # the whole frame only: a fifth of the CPU per pass (bench/README.md, "Small phones"), for a
    # deployment that needs it more than the small phones, and to measure the tiles against
    "yolox-whole": Backend("yolox_nano.onnx", lambda p, n: YoloxDetector(p, intra_op_num_threads=n),
                           YOLOX_THRESHOLDS),
    "nanodet": Backend("nanodet.onnx", lambda p, n: NanoDetDetector(p, intra_op_num_threads=n), CLASS_THRESHOLDS),
}
DEFAULT_BACKEND = "yolox"
#: the default backend's committed model.
DEFAULT_MODEL_PATH = MODELS_DIR / BACKENDS[DEFAULT_BACKEND].model_file


@dataclass
class ObjectsState:
    """One session's recent passes: the labels each one saw (at the thresholds), newest last; and
    the session time of the last pass that looked at the tiles (a `TiledDetector`'s)."""

    passes: deque[frozenset[str]] = field(default_factory=deque)
    tiles_t: float | None = None


@dataclass(frozen=True)
class ObjectsResult:
    objects: tuple[Detection, ...]
    persons: int
    #: this pass's detections at the thresholds, before temporal confirmation (not on the wire)
    seen: tuple[Detection, ...] = ()

    def labels(self) -> set[str]:
        return {d.label for d in self.objects}

    def best(self, label: str) -> Detection | None:
        return max((d for d in self.objects if d.label == label), key=lambda d: d.confidence, default=None)

    def message_fields(self) -> dict[str, Any]:
        return {"objects": [d.message_fields() for d in self.objects], "persons": self.persons}


class ObjectsStage(Stage):
    name = "objects"
    rate_hz = 1.0 / IDLE_PERIOD_S

    def __init__(
        self,
        *,
        backend: str = DEFAULT_BACKEND,
        model_path: Path | str | None = None,
        models_dir: Path | str | None = None,
        intra_op_num_threads: int = 1,
        labels: Collection[str] = DEFAULT_LABELS,
        thresholds: Mapping[str, float] | None = None,
        confirm: tuple[int, int] = DEFAULT_CONFIRM,
        detector: Detector | None = None,
    ) -> None:
        """`backend` names one of `BACKENDS`; its model is `model_path`, else its file in
        `models_dir`, else the committed one. `thresholds` override the backend's per class.
        `intra_op_num_threads` defaults to 1: the server runs many sessions' stages in parallel,
        and one thread per inference uses the cores better than several fighting for them.
        `detector` replaces the backend's detector (then no model is loaded)."""
        super().__init__()
        unknown = set(labels) - set(COCO_LABELS)
        if unknown:
            raise ValueError(f"not COCO labels: {sorted(unknown)}")
        if backend not in BACKENDS:
            raise ValueError(f"unknown object detector {backend!r} (known: {', '.join(BACKENDS)})")
        k, n = confirm
        if not 1 <= k <= n:
            raise ValueError(f"confirm must be (k, n) with 1 <= k <= n, got {confirm}")
        self.backend = backend
        spec = BACKENDS[backend]
        folder = Path(models_dir) if models_dir is not None else MODELS_DIR
        self.model_path = Path(model_path) if model_path is not None else folder / spec.model_file
        self.intra_op_num_threads = intra_op_num_threads
        self.labels = frozenset(labels)
        self.thresholds = {**spec.thresholds, **(thresholds or {})}
        self.confirm = (k, n)
        self._detector = detector

    def threshold(self, label: str) -> float:
        return self.thresholds.get(label, DEFAULT_THRESHOLD)

    def new_state(self) -> ObjectsState:
        return ObjectsState(deque(maxlen=self.confirm[1]))

    def load(self) -> None:
        if self._detector is not None:
            return
        if not self.model_path.is_file():
            raise StageUnavailable(
                f"{self.backend} model not found at {self.model_path} (it is committed: see pipeline/models/README.md)")
        try:
            # the backends import onnxruntime when constructed
            self._detector = BACKENDS[self.backend].build(self.model_path, self.intra_op_num_threads)
        except ImportError as exc:
            raise StageUnavailable(f"onnxruntime could not be imported: {exc}") from exc

    def due(self, last: StageOutput, age_s: float, upstream: Mapping[str, StageOutput], state: Any) -> bool:
        return age_s >= RATE_TOLERANCE * (WATCH_PERIOD_S if self.watching(last, state) else IDLE_PERIOD_S)

    @staticmethod
    def watching(last: StageOutput, state: Any) -> bool:
        """Something to confirm or to follow: an object (not a person) in one of the recent passes,
        or two or more persons in the last."""
        if isinstance(state, ObjectsState) and any(seen - {"person"} for seen in state.passes):
            return True
        return isinstance(last.result, ObjectsResult) and last.result.persons >= 2

    @property
    def detector(self) -> Detector | None:
        """The backend's detector (None before `load()`)."""
        return self._detector

    def process(self, frame: VideoFrame, upstream: Mapping[str, StageOutput], state: Any) -> ObjectsResult:
        detector = self._detector
        if detector is None:
            raise RuntimeError("objects stage used before load()")
        session = state if isinstance(state, ObjectsState) else self.new_state()
        if isinstance(detector, TiledDetector):
            confirming = any(seen & detector.labels for seen in session.passes)
            looks = tiles_due(frame.t, session.tiles_t, confirming, detector.idle_period_s)
            if looks:
                session.tiles_t = frame.t
            candidates = detector.detect(frame.bgr, tiles=looks)
        else:
            candidates = detector.detect(frame.bgr)
        return self.confirmed(self.select(candidates), session)

    def select(self, candidates: Sequence[Detection]) -> ObjectsResult:
        """Keep the reported classes at their thresholds; count persons (one pass, unconfirmed)."""
        passed = [d for d in candidates if d.confidence >= self.threshold(d.label)]
        persons = sum(1 for d in passed if d.label == "person")
        objects = tuple(sorted((d for d in passed if d.label in self.labels),
                               key=lambda d: d.confidence, reverse=True))
        return ObjectsResult(objects, persons, objects)

    def confirmed(self, passed: ObjectsResult, state: ObjectsState) -> ObjectsResult:
        """Record this pass in `state`; report persons, and objects seen in k of the last n passes."""
        state.passes.append(frozenset(passed.labels()))
        k = self.confirm[0]
        kept = tuple(d for d in passed.objects
                     if d.label == "person" or sum(d.label in seen for seen in state.passes) >= k)
        return ObjectsResult(kept, passed.persons, passed.seen)
