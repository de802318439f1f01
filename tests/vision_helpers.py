"""Helpers for the vision-stage tests: the shared real media, decoded once, and loaded stages.

The repository is cloned with `shared/` beside it, so the media lives at `<repo>/../shared/data`
(`VIGIL_SHARED_DATA` overrides). Nothing here is synthetic except where a test says so.
"""
from __future__ import annotations

import os
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("GLOG_minloglevel", "2")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("VIGIL_SHARED_DATA", REPO.parent / "shared" / "data"))
CLIP = "video/proctoringai_center_left_center_640x480.mp4"
#: the clip's labels (shared/data/README.md): pupils toward the image's left 5.5-10.0 s
CLIP_CENTER = ((0.0, 5.0), (11.0, 15.4))
CLIP_LEFT = ((5.5, 10.0),)

FACE_IMAGES = ("faces/skimage_astronaut.png", "faces/obama.jpg", "faces/biden.jpg",
               "faces/obama_partial_face.jpg")
NO_FACE_IMAGES = ("no_face/opencv_home.jpg", "no_face/skimage_chelsea_cat.png", "no_face/skimage_coffee.png",
                  "no_face/skimage_rocket.jpg")


def shared(rel: str) -> Path:
    path = SHARED_DATA / rel
    if not path.is_file():
        pytest.fail(f"test media {path} missing: clone with shared/ beside the repo or set VIGIL_SHARED_DATA")
    return path


@cache
def read_rgb(rel: str) -> np.ndarray:
    """An image from shared/data/images as RGB uint8 (read-only: tests copy before changing it)."""
    import cv2

    bgr = cv2.imread(str(shared("images/" + rel)), cv2.IMREAD_COLOR)
    assert bgr is not None, rel
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    rgb.setflags(write=False)
    return rgb


@cache
def clip_frames(rel: str = CLIP, fps: float = 5.0) -> tuple[tuple[float, np.ndarray], ...]:
    """(t seconds, RGB frame) at about `fps`, decoded with PyAV."""
    from server.tools.candidate.media_files import rgb_frames

    return tuple(rgb_frames(shared(rel), fps))


def in_spans(t: float, spans: tuple[tuple[float, float], ...]) -> bool:
    return any(a <= t <= b for a, b in spans)


@lru_cache(maxsize=1)
def default_pipeline():  # type: ignore[no-untyped-def]
    """The default pipeline's face stages (`pipeline.default.face_stages`), loaded once per process.

    The scene stages (objects, posture) have their own tests; leaving them out keeps these fast."""
    from pipeline.default import face_stages
    from pipeline.runner import Pipeline

    pipeline = Pipeline(face_stages())
    health = pipeline.load()
    broken = [h for h in health if h.state != "loaded"]
    assert not broken, broken
    return pipeline


def analyse_image(rgb: np.ndarray, only: tuple[str, ...] | None = None, t: float = 0.0):  # type: ignore[no-untyped-def]
    """One image through a fresh session of the default pipeline."""
    from pipeline.frame import VideoFrame

    session = default_pipeline().new_session()
    return session.analyse(VideoFrame(np.ascontiguousarray(rgb), t=t), only=only)
