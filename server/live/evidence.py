"""Evidence snapshots: the analysed frame at an event's start, with its detections drawn, on disk.

Flow. The analysis lane (`server/live/analysis_lane.py`) keeps the analysed frames of the last `RING_SECONDS`
(at most `RING_MAX_FRAMES`) in a `FrameRing`: downscaled to `SNAPSHOT_WIDTH` px and JPEG-compressed in the
executor, with their frame ids and `Detections` (the face and object boxes of the frame's `FrameAnalysis`).
Compressed, because the same ring feeds the event clips (`server/live/clips.py`), which need ~6 s of
frames. Measured on the test clips at 5 fps: a 320x240 frame is 9-20 kB as JPEG against 230 kB raw, so
the ring's 41 frames hold 0.37-0.69 MB per session (`FrameRing.bytes`) where raw frames would take 9.4 MB;
scaling and compressing a frame takes ~0.5 ms in the executor. At 10 fps the 80-frame cap doubles that.
When an event starts, `EvidenceWriter.event_started` picks the ring frame whose id is the event's
`evidence_frame_id` (the frame where its condition began); if that frame has left the ring, the one
nearest to it; for events without a frame (browser and audio signals), the newest. An object event
(phone, book, other person) takes instead the frame its object pass ran on, when the ring holds it.

Boxes and time. Objects (and posture) run in a background lane every 2 s (0.5 s while an event is being
confirmed), and the face path not on every frame: a frame's analysis carries the last result with its age
(`StageOutput.age_s`). A box from a pass 2 s earlier drawn on a newer frame shows what is no longer there
(a person box where the person has gone), so `Detections` keeps each group's age and a box is drawn only
on a frame within `MAX_BOX_AGE_S` of the pass that produced it. The pass's own frame is in the ring too,
remembered before the pass finished, with the older result: when a later frame brings the new result,
`FrameRing.refresh_sources` gives it to the frame it was computed on (found by time: the frame's time
minus the result's age), so that frame shows its own boxes. The choice and
the budget check happen on the event loop; drawing, JPEG encoding and the file write run in the
executor, then an item is appended to the session's event stream through its `EventOutbox` (so it
is ordered and lossless like every other item):

    {"kind": "evidence", "t", "event_id", "type", "file": "<event_id>.jpg", "frame_id", "bytes"}
    {"kind": "evidence_skipped", "t", "event_id", "type",
     "reason": "per_type"|"per_session"|"size"|"no_frame"|"bad_id"}
    {"kind": "evidence_error", "t", "event_id", "type", "error": "<OSError text>"}

Files live at `<VIGIL_DATA_DIR>/evidence/<session_id>/<event_id>.jpg`. Budgets (`EvidenceLimits`)
bound the disk a session can use: snapshots per event type, per session, bytes per file and per
session. A full disk or a read-only directory is counted and reported, never raised: the session goes
on without its snapshot.
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import tempfile
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import cv2
import numpy as np

from pipeline.analysis import FrameAnalysis
from pipeline.risk.events import EVENT_SPECS
from pipeline.stages.faces import FacesResult
from pipeline.stages.objects import ObjectsResult
from server.live.budget import FileLimits, SessionBudget
from server.live.tasks import TaskSet
from server.protocol.stream import EvidenceSkipReason as SkipReason
from server.store.evidence_files import EVIDENCE_NAME, session_dir

log = logging.getLogger(__name__)

#: how far back the ring reaches: a clip's 3 s before an event's start, for an event confirmed up to 3 s
#: (the longest debounce) after its condition began and collected 3 s after that start, plus margin
RING_SECONDS = 8.0
#: and at most this many frames whatever the analysis rate (8 s at 10 fps): the ring's memory bound
RING_MAX_FRAMES = 80
#: snapshot width in px: enough to see a face and a phone, ~15-25 kB as JPEG.
SNAPSHOT_WIDTH = 320
#: quality of the ring's frames: a snapshot or clip frame is decoded from them and encoded once more
RING_JPEG_QUALITY = 85
JPEG_QUALITY = 80
#: second try when a snapshot is over the per-file cap (a very busy scene).
JPEG_QUALITY_FALLBACK = 50
#: how long stopping a session waits for snapshots still being encoded.
DRAIN_TIMEOUT_S = 5.0

#: event ids are `<type>-<n>`; files are named after them. Anything else is refused (no path tricks).

FACE_COLOUR = (0, 255, 0)  # RGB: the candidate's face
OTHER_FACE_COLOUR = (255, 215, 0)  # RGB: every other face seen (multiple_faces)
OBJECT_COLOUR = (255, 64, 0)  # RGB: objects (phone, book, ...)
BANNER_COLOUR = (20, 20, 20)
#: a carried box is drawn on frames at most this long after the pass that produced it: about one analysed
#: frame at 5 fps (0.2 s apart, with jitter), so a face path run every other frame keeps its boxes while an
#: object pass's box (every 0.5-2 s) shows only on its own frame and the next
MAX_BOX_AGE_S = 0.3
#: frames are found by time to this tolerance (a result's source time is the frame's time minus its age)
SAME_TIME_S = 1e-3
#: events raised by the object pass: their snapshot prefers the frame that pass ran on
OBJECT_EVENTS = frozenset({"phone", "book", "other_person"})


@dataclass(frozen=True)
class EvidenceLimits(FileLimits):
    """What one session may keep of snapshots (`FileLimits`); a file's bytes are after the fallback quality."""

    per_type: int = 5
    per_session: int = 50
    max_file_bytes: int = 120_000
    max_session_bytes: int = 4_000_000


Box = tuple[float, float, float, float]  # x, y, w, h normalised to 0..1 of the frame
#: the groups of boxes a frame's analysis gives, each from its own stage and pass (with its own age)
Group = Literal["faces", "objects"]
GROUPS: tuple[Group, ...] = ("faces", "objects")


@dataclass(frozen=True)
class Drawn:
    """One box to draw on a snapshot, with its label and confidence."""

    box: Box
    label: str
    confidence: float | None = None


@dataclass(frozen=True)
class Detections:
    """What a snapshot shows of a frame's analysis: the candidate's face (the largest), every other face
    seen (a `multiple_faces` snapshot boxes them all) and the objects seen, with how old each group's
    result was on this frame (0: computed on it; more: carried from an earlier pass)."""

    face: Drawn | None = None
    objects: tuple[Drawn, ...] = ()
    other_faces: tuple[Drawn, ...] = ()
    faces_age_s: float = 0.0
    objects_age_s: float = 0.0

    @classmethod
    def of(cls, analysis: FrameAnalysis) -> Detections:
        faces = analysis.result("faces", FacesResult)
        primary = faces.primary if faces is not None else None
        objects = analysis.result("objects", ObjectsResult)
        others = () if faces is None else tuple(
            Drawn(f.box, "other face", f.confidence) for f in faces.faces if f is not primary)
        return cls(
            face=None if primary is None else Drawn(primary.box, "face", primary.confidence),
            objects=() if objects is None else tuple(Drawn(d.box, d.label, d.confidence) for d in objects.objects),
            other_faces=others, faces_age_s=_age(analysis, "faces"), objects_age_s=_age(analysis, "objects"))

    def fresh(self, max_age_s: float = MAX_BOX_AGE_S) -> Detections:
        """Only the groups computed within `max_age_s` of this frame: the boxes worth drawing on it."""
        faces_ok, objects_ok = self.faces_age_s <= max_age_s, self.objects_age_s <= max_age_s
        return replace(self, face=self.face if faces_ok else None, other_faces=self.other_faces if faces_ok else (),
                       objects=self.objects if objects_ok else ())

    def as_computed(self, source: Detections, group: Group) -> Detections:
        """These detections with `source`'s `group` (faces or objects, which `source` carries from this
        frame) put back on this frame at age 0, unless this frame already has its own."""
        if group == "faces" and self.faces_age_s > 0:
            return replace(self, face=source.face, other_faces=source.other_faces, faces_age_s=0.0)
        if group == "objects" and self.objects_age_s > 0:
            return replace(self, objects=source.objects, objects_age_s=0.0)
        return self

    def age(self, group: Group) -> float:
        return self.faces_age_s if group == "faces" else self.objects_age_s


def _age(analysis: FrameAnalysis, stage: str) -> float:
    """How old the stage's result is on this frame; without a result (its first pass still running, or
    none), infinitely: a pass that ends later may still give this frame its result (`as_computed`)."""
    out = analysis.outputs.get(stage)
    return out.age_s if out is not None and out.status == "ok" else math.inf


@dataclass(frozen=True)
class RingFrame:
    frame_id: int
    t: float
    jpeg: bytes  # the analysed frame, SNAPSHOT_WIDTH px wide, as JPEG (`compress`)
    detections: Detections = Detections()

    @classmethod
    def of(cls, frame_id: int, t: float, rgb: np.ndarray, detections: Detections = Detections()) -> RingFrame:
        return cls(frame_id, t, compress(rgb), detections)

    def rgb(self) -> np.ndarray:
        """The frame as RGB uint8 HxWx3 (decoded: run it in the executor)."""
        bgr = cv2.imdecode(np.frombuffer(self.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"ring frame {self.frame_id} is not a JPEG")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def compress(rgb: np.ndarray) -> bytes:
    """An RGB frame as the ring keeps it (JPEG). Runs in the executor."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, RING_JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def event_phrase(kind: str) -> str:
    """The event type's readable phrase for a caption ("phone seen"); the type when unknown."""
    spec = EVENT_SPECS.get(kind)  # type: ignore[call-overload]
    return str(spec.phrase) if spec is not None else kind.replace("_", " ")


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """The analysed frame scaled to SNAPSHOT_WIDTH px wide (a copy). Runs in the executor."""
    h, w = rgb.shape[:2]
    if w <= SNAPSHOT_WIDTH:
        return rgb.copy()
    height = max(1, int(round(h * SNAPSHOT_WIDTH / w)))
    return cv2.resize(rgb, (SNAPSHOT_WIDTH, height), interpolation=cv2.INTER_AREA)


class FrameRing:
    """One session's analysed frames of the last `seconds` (by their times), at most `size`, oldest first."""

    def __init__(self, size: int = RING_MAX_FRAMES, seconds: float = RING_SECONDS) -> None:
        self._frames: deque[RingFrame] = deque(maxlen=size)
        self.seconds = seconds

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def bytes(self) -> int:
        """The JPEG bytes held: the ring's memory, give or take the small per-frame objects."""
        return sum(len(f.jpeg) for f in self._frames)

    def add(self, frame: RingFrame) -> None:
        self._frames.append(frame)
        while self._frames[0].t < frame.t - self.seconds:
            self._frames.popleft()

    def window(self, start: float, end: float) -> tuple[RingFrame, ...]:
        """The frames analysed from `start` to `end` (their times), oldest first."""
        return tuple(f for f in self._frames if start <= f.t <= end)

    def pick(self, frame_id: int | None) -> RingFrame | None:
        """The frame with this id; else the one nearest to it; with no id, the newest."""
        if not self._frames:
            return None
        if frame_id is None:
            return self._frames[-1]
        return min(self._frames, key=lambda f: abs(f.frame_id - frame_id))

    def at(self, t: float) -> RingFrame | None:
        """The frame analysed at time `t`, if the ring holds it."""
        return next((f for f in reversed(self._frames) if abs(f.t - t) <= SAME_TIME_S), None)

    def pick_for(self, kind: str, frame_id: int | None) -> RingFrame | None:
        """The snapshot frame of an event of type `kind` (`pick`); for an object event whose frame
        carries an earlier object pass, the frame that pass ran on when the ring holds it."""
        frame = self.pick(frame_id)
        age = frame.detections.objects_age_s if frame is not None else 0.0
        if frame is None or kind not in OBJECT_EVENTS or not 0 < age < math.inf:
            return frame
        return self.at(frame.t - age) or frame

    def refresh_sources(self, newest: RingFrame) -> None:
        """Give each group `newest` carries (age > 0) to the frame it was computed on
        (`Detections.as_computed`), found by time: `newest`'s time minus the group's age."""
        d = newest.detections
        for group in GROUPS:
            age = d.age(group)
            source = self.at(newest.t - age) if 0 < age < math.inf else None
            if source is None:
                continue
            computed = source.detections.as_computed(d, group)
            if computed is not source.detections:  # once per pass: later frames find it done
                self._frames[self._frames.index(source)] = replace(source, detections=computed)


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


def encode_snapshot(frame: RingFrame, caption: str, max_bytes: int) -> bytes | None:
    """The annotated frame as JPEG, or None if it stays over `max_bytes`. Runs in the executor."""
    img = draw_detections(frame.rgb(), frame.detections, caption)
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    for quality in (JPEG_QUALITY, JPEG_QUALITY_FALLBACK):
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok and len(buf) <= max_bytes:
            return buf.tobytes()
    return None


def write_atomically(path: Path, data: bytes) -> None:
    """Write then rename, so a reader never sees half a JPEG. Raises OSError (disk full, permissions)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise




class Outbox(Protocol):
    def put(self, item: Mapping[str, Any]) -> None: ...


class EvidenceWriter:
    """One session's snapshots: budget on the loop, encode and write in the executor, log via the outbox."""

    def __init__(self, *, evidence_root: Path, session_id: str, outbox: Outbox, executor: Executor | None,
                 limits: EvidenceLimits | None = None) -> None:
        self.root = evidence_root
        self.session_id = session_id
        self.outbox = outbox
        self.executor = executor
        self.budget = SessionBudget(limits or EvidenceLimits())
        self.ring = FrameRing()
        self.written = 0
        self.skipped = 0
        self.errors = 0
        self._writes = TaskSet(log, session_id)

    def remember(self, frame_id: int, t: float, small_jpeg: bytes, detections: Detections) -> None:
        frame = RingFrame(frame_id, t, small_jpeg, detections)
        self.ring.refresh_sources(frame)
        self.ring.add(frame)

    def on_changes(self, changed: list[dict[str, Any]]) -> None:
        """Snapshot every event that started in this batch of changes."""
        for change in changed:
            if change.get("state") == "started":
                self.event_started(change)

    def event_started(self, event: Mapping[str, Any]) -> None:
        event_id, kind = str(event.get("id", "")), str(event.get("type", ""))
        t = float(event.get("at") or event.get("start") or 0.0)
        reason = self._budget(event_id, kind)
        frame = None if reason else self.ring.pick_for(kind, event.get("evidence_frame_id"))
        if reason is None and frame is None:
            reason = "no_frame"
        if reason is not None:
            self._skip(t, event_id, kind, reason)
            return
        assert frame is not None
        self.budget.reserve(kind)
        self._writes.spawn(self._write(event_id, kind, frame), f"evidence-{event_id}")

    def _budget(self, event_id: str, kind: str) -> SkipReason | None:
        if not EVIDENCE_NAME.fullmatch(f"{event_id}.jpg") or session_dir(self.root, self.session_id) is None:
            return "bad_id"
        return self.budget.refusal(kind)

    def _skip(self, t: float, event_id: str, kind: str, reason: SkipReason) -> None:
        self.skipped += 1
        self.outbox.put({"kind": "evidence_skipped", "t": t, "event_id": event_id, "type": kind,
                         "reason": reason})

    async def _write(self, event_id: str, kind: str, frame: RingFrame) -> None:
        path = self.root / self.session_id / f"{event_id}.jpg"
        caption = f"{event_phrase(kind)}  {event_id}  frame {frame.frame_id}"
        room = self.budget.room()

        def work() -> int | None:
            data = encode_snapshot(frame, caption, room)
            if data is None:
                return None
            write_atomically(path, data)
            return len(data)

        try:
            size = await asyncio.get_running_loop().run_in_executor(self.executor, work)
        except OSError as exc:
            self.errors += 1
            log.warning("evidence write failed: %s", exc, extra={"session_id": self.session_id})
            self.outbox.put({"kind": "evidence_error", "t": frame.t, "event_id": event_id, "type": kind,
                             "error": f"{type(exc).__name__}: {exc.strerror or exc}"[:200]})
            return
        except Exception as exc:  # an encoder failure must not reach the session either
            self.errors += 1
            log.warning("evidence encode failed", exc_info=True, extra={"session_id": self.session_id})
            self.outbox.put({"kind": "evidence_error", "t": frame.t, "event_id": event_id, "type": kind,
                             "error": f"{type(exc).__name__}"[:200]})
            return
        if size is None:
            self._skip(frame.t, event_id, kind, "size")
            return
        self.written += 1
        self.budget.record(size)
        self.outbox.put({"kind": "evidence", "t": frame.t, "event_id": event_id, "type": kind,
                         "file": path.name, "frame_id": frame.frame_id, "bytes": size})

    async def drain(self, limit_s: float = DRAIN_TIMEOUT_S) -> None:
        """Wait for snapshots in flight (before the session's outbox closes)."""
        await self._writes.wait(limit_s)
