"""Real face images as the original clients sent them: JPEG, base64, webcam-sized (640 px wide)."""
from __future__ import annotations

import base64
from pathlib import Path

import cv2

from server.tools.candidate.media_files import load_video_frames
from tests.conftest import FACE_CLIP

#: what a webcam client sends: 640 px wide, quality 80 (a full-size photo would pass the body limit)
WIDTH = 640


def jpeg_b64(path: Path) -> str:
    """The image at `path`, scaled to WIDTH, as bare base64 JPEG."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    h, w = bgr.shape[:2]
    bgr = cv2.resize(bgr, (WIDTH, round(h * WIDTH / w)), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return base64.b64encode(jpeg.tobytes()).decode("ascii")


def clip_frame_b64(index: int) -> str:
    """Frame `index` of the face clip (one candidate at a desk) as bare base64 JPEG."""
    yuv = load_video_frames(FACE_CLIP, 640, 480, 15.0)[index]
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420), [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return base64.b64encode(jpeg.tobytes()).decode("ascii")
