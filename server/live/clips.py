"""Event clips: the analysed frames from a few seconds before an event's start to a few after, as a WebM.

Flow. The session's `FrameRing` (`server/live/frame_ring.py`) holds its analysed frames of the last few
seconds, 320 px wide, as JPEG, with their detections. When an event starts, `ClipWriter` checks the
session's clip budget and notes the clip as pending: its window runs from `CLIP_BEFORE_S` before the
event's start (when its condition began) to `CLIP_AFTER_S` after. Each later analysed frame
(`on_frame`) closes the windows it has passed: their frames are taken from the ring (references to
immutable JPEG bytes, no copy) and handed to the worker's `ClipEncoder`. There, off the event loop,
each frame is decoded, its boxes and a caption (the event and the time from its start) are drawn,
and the frames are encoded with PyAV as VP8 in WebM (every Chromium and Firefox plays it; the
wheel's libvpx, no system codec), each at its own time (milliseconds since the first frame), so
the clip plays in real time whatever frames the analysis dropped. The file is written like a
snapshot (write then rename) and an item is appended to the session's event stream through its
`EventOutbox`:

    {"kind": "clip", "t", "event_id", "type", "file": "<event_id>.webm", "start", "end", "frames", "bytes"}
    {"kind": "clip_skipped", "t", "event_id", "type",
     "reason": "per_type"|"per_session"|"size"|"busy"|"no_frame"|"bad_id"|"error", "error"?: "<text>"}

`start` and `end` are the times of the clip's first and last frames (UNIX seconds, like the event's).
Files live next to the snapshots (`server/store/evidence_files.py`), so the exam's retention and a
session's deletion remove them with the rest (`server/store/retention.py`).

Bounds. A clip is at most `CLIP_BEFORE_S + CLIP_AFTER_S` (6 s) of frames at the analysis rate (30 at
5 fps): 6 s of the test clip make 184 kB, encoded in ~0.7 s of one core. A session gets `ClipLimits`: clips per event type and per session, bytes per
file and per session; past them a clip is skipped and the skip logged, so a session raising many
events (an abusive or broken client) spends its own budget, not the worker's. The worker encodes one
clip at a time (one thread) and lets at most `MAX_WAITING` clips wait for it, from all sessions
together; a clip arriving when they are all taken is skipped as `busy` rather than queued, so a
burst of events cannot build an unbounded backlog of frames in memory. A session stopping its media
(ending, disconnecting, or replacing its peer on a resume) closes its pending windows with the frames it
has and waits up to `DRAIN_TIMEOUT_S` for its clips.
"""
from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import av
import cv2
import numpy as np

from server.live.budget import FileLimits, SessionBudget
from server.live.evidence import Outbox, write_atomically
from server.live.frame_drawing import draw_detections, event_phrase
from server.live.frame_ring import FrameRing, RingFrame
from server.live.tasks import TaskSet
from server.protocol.stream import ClipSkipReason
from server.store.evidence_files import EVIDENCE_NAME, session_dir

log = logging.getLogger(__name__)

#: the clip's window around the event's start (when its condition began)
CLIP_BEFORE_S = 3.0
CLIP_AFTER_S = 3.0
#: VP8 in WebM: libvpx is in PyAV's wheel (`av.codecs_available`), and every Chromium plays it
CODEC, CONTAINER, CONTENT_TYPE = "libvpx", "webm", "video/webm"
#: ~25 kB per second of 320x240 at 5 fps: faces and phones stay readable
BIT_RATE = 300_000
#: clips waiting for the worker's encoder, all sessions together; one more is skipped as `busy`
MAX_WAITING = 8
#: how long stopping a session waits for its clips being encoded
DRAIN_TIMEOUT_S = 10.0

R = TypeVar("R")


@dataclass(frozen=True)
class ClipLimits(FileLimits):
    """What one session may keep of clips (`FileLimits`): a clip is up to 6 s of frames, ~200 kB."""

    per_type: int = 3
    per_session: int = 12
    max_file_bytes: int = 1_000_000
    max_session_bytes: int = 6_000_000


class ClipEncoder:
    """The worker's clip encoder: one thread, at most `max_waiting` clips admitted and not yet done.

    The worker makes and closes it (`server/app.py`); sessions share it. `admit` is asked on the
    event loop before a clip's frames are handed over; `run` then encodes in the encoder's thread."""

    def __init__(self, max_waiting: int = MAX_WAITING) -> None:
        self.max_waiting = max_waiting
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-encoder")
        self._admitted = 0

    @property
    def admitted(self) -> int:
        return self._admitted

    def admit(self) -> bool:
        """Take a place for one clip; False when all are taken (the caller skips the clip)."""
        if self._admitted >= self.max_waiting:
            return False
        self._admitted += 1
        return True

    async def run(self, work: Callable[[], R]) -> R:
        """`work` in the encoder's thread, for a clip `admit` took a place for (given back here)."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work)
        finally:
            self._admitted -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _even(n: int) -> int:
    return max(2, n - n % 2)


def encode_clip(frames: Sequence[RingFrame], caption: Callable[[RingFrame], str]) -> bytes:
    """The frames, boxes and caption drawn, as a VP8 WebM with each frame at its own time. Runs in the
    encoder's thread. Frames of another size than the first (the camera changed) are scaled to it."""
    first = frames[0].rgb()
    width, height = _even(first.shape[1]), _even(first.shape[0])
    out = io.BytesIO()
    with av.open(out, "w", format=CONTAINER) as container:
        stream = container.add_stream(CODEC, rate=5)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = BIT_RATE
        # milliseconds in the container and the encoder: with the encoder's default (1 / rate) every frame
        # would be rounded to the 5 fps grid
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        stream.codec_context.options = {"deadline": "realtime", "cpu-used": "8"}
        last_pts = -1
        for frame in frames:
            rgb = first if frame is frames[0] else frame.rgb()
            if rgb.shape[:2] != (height, width):
                rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
            img = draw_detections(rgb, frame.detections, caption(frame))
            video = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            last_pts = max(last_pts + 1, int(round((frame.t - frames[0].t) * 1000)))
            video.pts, video.time_base = last_pts, Fraction(1, 1000)
            for packet in stream.encode(video):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


@dataclass(frozen=True)
class PendingClip:
    event_id: str
    kind: str
    #: when the event's condition began: the clip is [start - CLIP_BEFORE_S, start + CLIP_AFTER_S]
    start: float
    label: str

    @property
    def window(self) -> tuple[float, float]:
        return self.start - CLIP_BEFORE_S, self.start + CLIP_AFTER_S


class ClipWriter:
    """One session's clips: budget and windows on the loop, encoding in the worker's `ClipEncoder`."""

    def __init__(self, *, evidence_root: Path, session_id: str, ring: FrameRing, encoder: ClipEncoder,
                 outbox: Outbox, limits: ClipLimits | None = None) -> None:
        self.root = evidence_root
        self.session_id = session_id
        self.ring = ring
        self.encoder = encoder
        self.outbox = outbox
        self.budget = SessionBudget(limits or ClipLimits())
        self.pending: list[PendingClip] = []
        self.written = 0
        self.skipped = 0
        self._writes = TaskSet(log, session_id)

    def on_frame(self, t: float, changed: Sequence[Mapping[str, Any]]) -> None:
        """After the frame at `t` entered the ring: a clip for every event that started in `changed`,
        then every pending clip whose window this frame has passed goes to the encoder."""
        for change in changed:
            if change.get("state") == "started":
                self.event_started(change)
        due = [p for p in self.pending if t >= p.window[1]]
        if due:
            self.pending = [p for p in self.pending if p not in due]
            for clip in due:
                self._collect(clip)

    def event_started(self, event: Mapping[str, Any]) -> None:
        event_id, kind = str(event.get("id", "")), str(event.get("type", ""))
        start = float(event.get("start") or event.get("at") or 0.0)
        reason = self._budget(event_id, kind)
        if reason is not None:
            self._skip(start, event_id, kind, reason)
            return
        self.budget.reserve(kind)
        self.pending.append(PendingClip(event_id, kind, start, event_phrase(kind)))

    def _budget(self, event_id: str, kind: str) -> ClipSkipReason | None:
        if not EVIDENCE_NAME.fullmatch(f"{event_id}.webm") or session_dir(self.root, self.session_id) is None:
            return "bad_id"
        return self.budget.refusal(kind)

    def _skip(self, t: float, event_id: str, kind: str, reason: ClipSkipReason, error: str | None = None) -> None:
        self.skipped += 1
        item: dict[str, Any] = {"kind": "clip_skipped", "t": t, "event_id": event_id, "type": kind, "reason": reason}
        if error is not None:
            item["error"] = error[:200]
        self.outbox.put(item)

    def _collect(self, clip: PendingClip) -> None:
        frames = self.ring.window(*clip.window)
        if not frames:
            self._skip(clip.start, clip.event_id, clip.kind, "no_frame")
        elif not self.encoder.admit():
            self._skip(clip.start, clip.event_id, clip.kind, "busy")
        else:
            self._writes.spawn(self._write(clip, frames), f"clip-{clip.event_id}")

    async def _write(self, clip: PendingClip, frames: tuple[RingFrame, ...]) -> None:
        path = self.root / self.session_id / f"{clip.event_id}.webm"
        room = self.budget.room()

        def caption(frame: RingFrame) -> str:
            return f"{clip.label}  {frame.t - clip.start:+.1f} s"

        def work() -> int | None:
            data = encode_clip(frames, caption)
            if len(data) > room:
                return None
            write_atomically(path, data)
            return len(data)

        try:
            size = await self.encoder.run(work)
        except Exception as exc:  # a full disk or an encoder failure must not reach the session
            log.warning("clip failed: %s", exc, extra={"session_id": self.session_id})
            text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self._skip(clip.start, clip.event_id, clip.kind, "error", f"{type(exc).__name__}: {text}")
            return
        if size is None:
            self._skip(clip.start, clip.event_id, clip.kind, "size")
            return
        self.written += 1
        self.budget.record(size)
        self.outbox.put({"kind": "clip", "t": clip.start, "event_id": clip.event_id, "type": clip.kind,
                         "file": path.name, "start": frames[0].t, "end": frames[-1].t, "frames": len(frames),
                         "bytes": size})

    async def drain(self, limit_s: float = DRAIN_TIMEOUT_S) -> None:
        """The session is stopping: pending clips take the frames there are, then wait for the encoder."""
        pending, self.pending = self.pending, []
        for clip in pending:
            self._collect(clip)
        await self._writes.wait(limit_s)
