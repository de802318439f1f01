"""A second look for small objects: the frame's overlapping tiles through the same detector.

A 416-pixel detector sees a 640x480 frame shrunk by 0.65: a phone on the desk or in a lap, 40
pixels across in the frame, is 26 at the model's input, below what YOLOX-Nano finds (box recall
0.03 on the floor phones of `bench/data/objects`, bench/README.md). `TiledDetector` wraps any
`Detector`: one pass on the whole frame as before, then `TILES` x `TILES` overlapping tiles of the
frame, each given to the detector at its full input size (1.85 times the whole frame's scale), and
keeps from the tiles only the small-object classes (`TILE_LABELS`). A tile cuts people and large
objects in pieces, so persons, books and laptops come from the whole frame alone. The two passes'
boxes are merged by class-wise NMS, so a phone seen in both is one box.

It runs on the passes the objects stage's schedule already makes (it is the stage's detector); a
pass that looks at the tiles costs 1 + TILES**2 inferences, one that does not costs 1.

**When the tiles are looked at** (`tiles_due`, asked by the objects stage with the frame's session
time): on a session's first pass; on every pass while one of the recent passes (the stage's
confirmation window) saw a `TILE_LABELS` object, so a phone seen only on the tiles is seen again
on the next pass, 0.5 s later, and confirmed 2 of 3 as before (and a phone that stays keeps being
seen); else once `TILE_IDLE_PERIOD_S` has passed since the last look. Looking at every idle pass
cost half as much again as the whole pipeline; the period was chosen by measuring (bench/README.md,
"Compute per frame"). What it costs in time: a phone only the tiles can find is first seen on
average half that period after it comes into view (at most the period), then confirmed on the next
pass; a phone the whole frame finds is unaffected.
"""
from __future__ import annotations

from collections.abc import Collection

import numpy as np

from pipeline.stages.base import RATE_TOLERANCE
from pipeline.stages.detection import Detection, Detector
from pipeline.stages.detection_nms import class_wise_nms

#: 2 x 2 tiles. Measured on the floor phones (bench/README.md, "Small phones"; tile boxes from
#: 0.35): 3 x 3 tiles found 8 of 30 at twice the cost of 2 x 2, which found 5 with the tiles
#: overlapping by 0.25 and 8 by 0.15.
TILES = 2
#: tiles overlap by this share of a tile: a tile is 0.54 of the frame across, 1.85 times the whole
#: frame's scale at the model's input (0.25 gave 1.75 and fewer phones). A phone up to 0.08 of the
#: frame across (52 px of 640) on a tile border still lies whole in one tile; larger phones are the
#: whole frame's to find.
OVERLAP = 0.15
#: only the phone: what is small, what the proctor cares about, and what the whole frame misses.
#: Each class added here would need its own measuring of what tiles imagine (hands at faces score
#: up to 0.38 as "cell phone" on a tile).
TILE_LABELS: frozenset[str] = frozenset({"cell phone"})
#: a tile's box is kept from this confidence on (the stage's own threshold, 0.3 for YOLOX's phone,
#: still applies after). Tiles see hands and faces larger: at 0.3 one more honest portrait got a
#: phone (a hand at a face, 0.32-0.33 on tiles); at 0.35 the honest portraits keep the one false
#: phone they had without tiles, from the whole frame (bench/README.md).
TILE_MIN_CONFIDENCE = 0.35
#: NMS across the whole frame's and the tiles' boxes, the backends' own IoU.
MERGE_IOU = 0.45
#: seconds between looks at the tiles while no recent pass saw a phone (`tiles_due`): every 15th
#: idle objects pass (1.8-2 s apart at 5 fps). Measured against the pre-issue-21 code in turns
#: (bench/README.md, "Compute per frame"): the pipeline's CPU per analysed frame was 66 % of it
#: with the tiles on every idle pass, 55 % every 4 s, 53 % every 8 s, 50-51 % every 12 s, 51 %
#: every 20 s on a host at load 10-15, where the whole frame alone gave 44-48 %, and 47.6 % every
#: 30 s: issue 21 asks for <= 50 %. A look costs 4 tile inferences (about 75 ms on one core).
TILE_IDLE_PERIOD_S = 30.0


def tiles_due(t: float, last_look_t: float | None, confirming: bool,
              period_s: float = TILE_IDLE_PERIOD_S) -> bool:
    """Look at the tiles on the pass at session time `t` (seconds)? Yes on the first pass (no
    `last_look_t`), on every pass while `confirming` (a recent pass saw a tile label), else once
    `period_s` has (nearly, `RATE_TOLERANCE`) passed since the last look; a clock that went back
    counts as a new session (pure)."""
    if confirming or last_look_t is None or t < last_look_t:
        return True
    return t - last_look_t >= RATE_TOLERANCE * period_s


def tile_windows(width: int, height: int, tiles: int = TILES, overlap: float = OVERLAP) -> list[tuple[int, int, int, int]]:
    """The (x0, y0, x1, y1) pixel windows of `tiles` x `tiles` tiles overlapping by `overlap` of
    a tile, covering the frame exactly (pure)."""
    span = tiles - (tiles - 1) * overlap
    tw, th = width / span, height / span
    out = []
    for row in range(tiles):
        for col in range(tiles):
            x0, y0 = int(round(col * tw * (1 - overlap))), int(round(row * th * (1 - overlap)))
            x1 = width if col == tiles - 1 else min(width, int(round(x0 + tw)))
            y1 = height if row == tiles - 1 else min(height, int(round(y0 + th)))
            out.append((x0, y0, x1, y1))
    return out


def _to_pixels(d: Detection, x0: int, y0: int, cw: int, ch: int) -> list[float]:
    x, y, w, h = d.box
    return [x0 + x * cw, y0 + y * ch, x0 + (x + w) * cw, y0 + (y + h) * ch]


class TiledDetector:
    """`Detector`: the wrapped detector on the whole frame, plus `TILE_LABELS` from its tiles."""

    def __init__(self, inner: Detector, *, tiles: int = TILES, overlap: float = OVERLAP,
                 labels: Collection[str] = TILE_LABELS, min_confidence: float = TILE_MIN_CONFIDENCE,
                 idle_period_s: float = TILE_IDLE_PERIOD_S) -> None:
        self.inner = inner
        self.tiles = tiles
        self.overlap = overlap
        self.labels = frozenset(labels)
        self.min_confidence = min_confidence
        #: the caller's `tiles_due` period (the objects stage asks it)
        self.idle_period_s = idle_period_s

    def detect(self, bgr: np.ndarray, *, tiles: bool = True) -> list[Detection]:
        """The whole frame's detections, merged with the tiles' when `tiles`."""
        whole = self.inner.detect(bgr)
        if not tiles:
            return whole
        h, w = bgr.shape[:2]
        found: list[tuple[Detection, list[float]]] = [(d, _to_pixels(d, 0, 0, w, h)) for d in whole]
        for x0, y0, x1, y1 in tile_windows(w, h, self.tiles, self.overlap):
            for d in self.inner.detect(np.ascontiguousarray(bgr[y0:y1, x0:x1])):
                if d.label in self.labels and d.confidence >= self.min_confidence:
                    found.append((d, _to_pixels(d, x0, y0, x1 - x0, y1 - y0)))
        if len(found) == len(whole):
            return whole
        return class_wise_nms(np.array([p for _, p in found], dtype=np.float32),
                              np.array([d.confidence for d, _ in found], dtype=np.float32),
                              np.array([d.class_id for d, _ in found]), width=w, height=h, iou=MERGE_IOU,
                              score_floor=0.0)  # each box passed its own floor already
