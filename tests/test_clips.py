"""Event clips (server/live/clips.py): the window around an event's start, the budgets, the worker's bound.

The real-peer session whose event yields a clip, and the clip's deletion with its session, are in
`tests/test_evidence_e2e.py`; here the parts run on synthetic frames with a list for an outbox.
"""
from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import av
import numpy as np

from server.live.clips import CLIP_AFTER_S, CLIP_BEFORE_S, ClipEncoder, ClipLimits, ClipWriter, encode_clip
from server.live.detections import Detections, Drawn
from server.live.frame_ring import FrameRing, RingFrame

FPS = 5.0


class ListOutbox:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put(self, item: Mapping[str, Any]) -> None:
        self.items.append(dict(item))


def grey(level: int) -> np.ndarray:
    return np.full((240, 320, 3), level, np.uint8)


def feed(ring: FrameRing, writer: ClipWriter | None, t0: float, seconds: float,
         changes: dict[int, list[dict[str, Any]]] | None = None) -> None:
    """Frames at FPS from t0, each one brighter, through the ring and the writer (events by frame index)."""
    for i in range(int(seconds * FPS)):
        t = t0 + i / FPS + (0.013 if i % 3 == 2 else 0.0)  # a little jitter, as analysis times have
        ring.add(RingFrame.of(i, t, grey(i % 250), Detections(face=Drawn((0.3, 0.2, 0.3, 0.5), "face", 0.9))))
        if writer is not None:
            writer.on_frame(t, (changes or {}).get(i, []))


def started(kind: str, n: int, start: float) -> dict[str, Any]:
    return {"id": f"{kind}-{n}", "type": kind, "severity": "high", "start": start, "at": start + 1.0,
            "state": "started"}


def decode(data: bytes) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(data), "r") as container:
        return list(container.decode(video=0))


def test_a_clip_plays_its_frames_at_their_times() -> None:
    ring = FrameRing()
    feed(ring, None, 100.0, 6.0)
    frames = ring.window(100.0, 106.0)
    data = encode_clip(frames, lambda f: f"test {f.t - 103.0:+.1f} s")
    decoded = decode(data)
    assert len(decoded) == len(frames) == 30
    assert decoded[-1].time is not None and abs(decoded[-1].time - (frames[-1].t - frames[0].t)) < 0.002
    # frame k is the k-th ring frame: grey level 8 * k, read away from the box and the caption
    for k in (0, 10, 29):
        level = decoded[k].to_ndarray(format="rgb24")[20:60, 20:60].mean()
        assert abs(level - k) < 6, (k, level)


async def test_the_window_runs_from_before_the_start_to_after_it(tmp_path: Path) -> None:
    ring, outbox, encoder = FrameRing(), ListOutbox(), ClipEncoder()
    writer = ClipWriter(evidence_root=tmp_path, session_id="abc123", ring=ring, encoder=encoder, outbox=outbox)
    try:
        # confirmed at frame 30 (t = 106 s) for a condition that began at 105 s
        feed(ring, writer, 100.0, 12.0, {30: [started("phone", 1, 105.0)]})
        await writer.drain()
    finally:
        encoder.close()
    [item] = outbox.items
    assert item["kind"] == "clip" and item["file"] == "phone-1.webm"
    assert item["start"] == 105.0 - CLIP_BEFORE_S and item["end"] == 105.0 + CLIP_AFTER_S
    assert item["frames"] == 31
    decoded = decode((tmp_path / "abc123" / "phone-1.webm").read_bytes())
    assert len(decoded) == 31 and item["bytes"] == (tmp_path / "abc123" / "phone-1.webm").stat().st_size


async def test_budgets_and_the_encoders_bound_skip_clips_and_say_why(tmp_path: Path) -> None:
    ring, outbox = FrameRing(), ListOutbox()
    encoder = ClipEncoder(max_waiting=1)
    writer = ClipWriter(evidence_root=tmp_path, session_id="abc123", ring=ring, encoder=encoder, outbox=outbox,
                        limits=ClipLimits(per_type=2, per_session=3))
    try:
        events = [started("phone", n, 101.0) for n in (1, 2, 3)] + [started("book", 1, 101.0),
                                                                     started("paste", 1, 101.0)]
        feed(ring, writer, 100.0, 6.0, {5: events})
        await writer.drain()
    finally:
        encoder.close()
    reasons = {i["event_id"]: i.get("reason") for i in outbox.items}
    assert reasons["phone-3"] == "per_type" and reasons["paste-1"] == "per_session"
    # three clips closed on the same frame: the encoder took one, and had no room for the others
    assert sorted(reasons[k] or "written" for k in ("phone-1", "phone-2", "book-1")) == ["busy", "busy", "written"]
    assert encoder.admitted == 0


async def test_an_event_without_frames_in_its_window_has_no_clip(tmp_path: Path) -> None:
    ring, outbox, encoder = FrameRing(), ListOutbox(), ClipEncoder()
    writer = ClipWriter(evidence_root=tmp_path, session_id="abc123", ring=ring, encoder=encoder, outbox=outbox)
    try:
        writer.event_started(started("paste", 1, 50.0))
        writer.event_started(started("bad/../id", 1, 50.0))
        feed(ring, writer, 100.0, 1.0)
        await writer.drain()
    finally:
        encoder.close()
    assert [(i["event_id"], i["reason"]) for i in outbox.items] == [("bad/../id-1", "bad_id"), ("paste-1", "no_frame")]


def test_the_ring_keeps_its_last_seconds_and_says_its_size() -> None:
    ring = FrameRing(seconds=8.0)
    feed(ring, None, 0.0, 20.0)
    assert len(ring) == 41 and ring.window(0.0, 11.79) == () and len(ring.window(0.0, 11.9)) == 1  # 19.8 - 8
    assert 0 < ring.bytes < 41 * 20_000
