"""Live thumbnails' pure parts: when one is due, and what it is (a small JPEG of the analysed frame)."""
from __future__ import annotations

import cv2
import numpy as np

from server.live.thumbnails import THUMBNAIL_WIDTH, ThumbnailClock, encode_thumbnail


def test_one_thumbnail_per_period_whatever_the_frame_rate() -> None:
    clock = ThumbnailClock(period_s=2.0)
    frames_at = [i / 5 for i in range(31)]  # 5 analysed frames a second for 6 s
    due = [t for t in frames_at if clock.due(t)]
    assert due == [0.0, 2.0, 4.0, 6.0]


def test_the_thumbnail_is_the_frame_scaled_down_as_jpeg() -> None:
    rgb = np.zeros((480, 640, 3), np.uint8)
    rgb[:, :320] = (255, 0, 0)  # left half red, right half black
    jpeg = encode_thumbnail(rgb)
    assert jpeg is not None and jpeg[:2] == b"\xff\xd8" and len(jpeg) < 20_000
    back = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert back.shape == (150, THUMBNAIL_WIDTH, 3)
    assert back[75, 40, 2] > 200 and back[75, 160].max() < 40  # BGR: red stays on the left
    small = np.zeros((120, 160, 3), np.uint8)  # never scaled up
    assert cv2.imdecode(np.frombuffer(encode_thumbnail(small) or b"", np.uint8), cv2.IMREAD_COLOR).shape == (120, 160, 3)
