"""Evidence snapshots: the analysed frame at an event's start, with its detections drawn, on disk.

Flow. The analysis lane keeps the session's analysed frames and their `Detections` in a `FrameRing`
(`server/live/frame_ring.py`, `server/live/detections.py`).
When an event starts, `EvidenceWriter.event_started` picks the ring frame whose id is the event's
`evidence_frame_id` (the frame where its condition began); if that frame has left the ring, the one
nearest to it; for events without a frame (browser and audio signals), the newest. An object event
(phone, book, other person) takes instead the frame its object pass ran on, when the ring holds it.
The choice and the budget check happen on the event loop; drawing (`server/live/frame_drawing.py`), JPEG
encoding and the file write run in the executor, then an item is appended to the session's event stream
through its `EventOutbox` (so it is ordered and lossless like every other item):

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
import os
import tempfile
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2

from server.live.budget import FileLimits, SessionBudget
from server.live.detections import Detections
from server.live.frame_drawing import draw_detections, event_phrase
from server.live.frame_ring import FrameRing, RingFrame
from server.live.tasks import TaskSet
from server.protocol.stream import EvidenceSkipReason as SkipReason
from server.store.evidence_files import EVIDENCE_NAME, session_dir

log = logging.getLogger(__name__)

JPEG_QUALITY = 80
#: second try when a snapshot is over the per-file cap (a very busy scene).
JPEG_QUALITY_FALLBACK = 50
#: how long stopping a session waits for snapshots still being encoded.
DRAIN_TIMEOUT_S = 5.0

#: event ids are `<type>-<n>`; files are named after them. Anything else is refused (no path tricks).


@dataclass(frozen=True)
class EvidenceLimits(FileLimits):
    """What one session may keep of snapshots (`FileLimits`); a file's bytes are after the fallback quality."""

    per_type: int = 5
    per_session: int = 50
    max_file_bytes: int = 120_000
    max_session_bytes: int = 4_000_000


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
