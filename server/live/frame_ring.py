"""The session's analysed frames of the last few seconds, for evidence snapshots (`server/live/evidence.py`)
and event clips (`server/live/clips.py`).

The analysis lane (`server/live/analysis_lane.py`) keeps the analysed frames of the last `RING_SECONDS`
(at most `RING_MAX_FRAMES`) in a `FrameRing`: downscaled to `SNAPSHOT_WIDTH` px and JPEG-compressed in the
executor, with their frame ids and `Detections` (the face and object boxes of the frame's `FrameAnalysis`).
Compressed, because the same ring feeds the event clips, which need ~6 s of
frames. Measured on the test clips at 5 fps: a 320x240 frame is 9-20 kB as JPEG against 230 kB raw, so
the ring's 41 frames hold 0.37-0.69 MB per session (`FrameRing.bytes`) where raw frames would take 9.4 MB;
scaling and compressing a frame takes ~0.5 ms in the executor. At 10 fps the 80-frame cap doubles that.

A pass's own frame is in the ring too, remembered before the pass finished, with the older result: when a
later frame brings the new result, `FrameRing.refresh_sources` gives it to the frame it was computed on
(found by time: the frame's time minus the result's age), so that frame shows its own boxes.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace

import cv2
import numpy as np

from server.live.detections import GROUPS, Detections

#: how far back the ring reaches: a clip's 3 s before an event's start, for an event confirmed up to 3 s
#: (the longest debounce) after its condition began and collected 3 s after that start, plus margin
RING_SECONDS = 8.0
#: and at most this many frames whatever the analysis rate (8 s at 10 fps): the ring's memory bound
RING_MAX_FRAMES = 80
#: snapshot width in px: enough to see a face and a phone, ~15-25 kB as JPEG.
SNAPSHOT_WIDTH = 320
#: quality of the ring's frames: a snapshot or clip frame is decoded from them and encoded once more
RING_JPEG_QUALITY = 85
#: frames are found by time to this tolerance (a result's source time is the frame's time minus its age)
SAME_TIME_S = 1e-3
#: events raised by the object pass: their snapshot prefers the frame that pass ran on
OBJECT_EVENTS = frozenset({"phone", "book", "other_person"})


@dataclass(frozen=True)
class RingFrame:
    frame_id: int
    t: float
    jpeg: bytes  # the analysed frame, SNAPSHOT_WIDTH px wide, as JPEG (`compress`)
    detections: Detections = Detections()

    @classmethod
    def of(cls, frame_id: int, t: float, rgb: np.ndarray,
           detections: Detections = Detections()) -> RingFrame:  # noqa: B008 (frozen: safe to share)
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
