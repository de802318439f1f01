"""Live thumbnails for the proctor's grid: a small JPEG of each live candidate, cheap by construction.

The analysis lane already decodes and converts the candidate's frame to RGB for the pipeline; every
`THUMBNAIL_PERIOD_S` it also scales that same array down to `THUMBNAIL_WIDTH` px and encodes it as JPEG
in the same executor job (well under a millisecond at this size). So a thumbnail costs one small encode
per session per period, never a decode of its own, and never one encode per watcher: dashboards read
the stored JPEG. It is stored in Redis for `THUMBNAIL_TTL_S` (`Store.put_thumbnail`), so any worker
answers `GET /api/sessions/{id}/thumbnail.jpg`, wherever the candidate's peer is; a candidate whose
video stops has no thumbnail a few seconds later (404), and the grid shows none rather than a stale one.
"""
from __future__ import annotations

import cv2
import numpy as np

#: one thumbnail per session this often (the analysis frame nearest after each period)
THUMBNAIL_PERIOD_S = 2.0
#: px wide; the height follows the frame's aspect
THUMBNAIL_WIDTH = 200
THUMBNAIL_QUALITY = 70
#: a thumbnail older than this is gone: a few periods, so one late frame does not blank the card
THUMBNAIL_TTL_S = 8


def encode_thumbnail(rgb: np.ndarray, width: int = THUMBNAIL_WIDTH) -> bytes | None:
    """The RGB frame scaled to `width` px wide as JPEG; None if it cannot be encoded. Runs in the executor."""
    h, w = rgb.shape[:2]
    if w > width:
        rgb = cv2.resize(rgb, (width, max(1, int(round(h * width / w)))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_QUALITY])
    return bytes(buf) if ok else None


class ThumbnailClock:
    """Whether a thumbnail is due at `now` (monotonic seconds, passed in); saying yes books the next one."""

    def __init__(self, period_s: float = THUMBNAIL_PERIOD_S) -> None:
        self.period_s = period_s
        self.next_at: float | None = None

    def due(self, now: float) -> bool:
        if self.next_at is not None and now < self.next_at:
            return False
        self.next_at = now + self.period_s
        return True
