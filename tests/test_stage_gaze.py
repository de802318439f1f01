"""Gaze: given the labelled clip, the uncalibrated direction follows the candidate's eyes.

The clip (shared/data/README.md) is labelled centre 0-5.0 s, left 5.5-10.0 s (pupils toward the
image's left), centre 11.0-15.33 s. Directions are in image coordinates, so "left" is expected.
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache

import numpy as np
from vision_helpers import CLIP, CLIP_CENTER, CLIP_LEFT, clip_frames, default_pipeline, in_spans

from pipeline.frame import VideoFrame
from pipeline.stages.gaze import (
    HORIZONTAL_OFF_DEG,
    VERTICAL_OFF_DEG,
    GazeFeatures,
    GazeResult,
    classify,
)


@lru_cache(maxsize=1)
def clip_gaze() -> tuple[tuple[float, GazeResult | None], ...]:
    session = default_pipeline().new_session()
    out = []
    for t, rgb in clip_frames(CLIP):
        analysis = session.analyse(VideoFrame(rgb, t=t), only=("faces", "landmarks", "head_pose", "gaze"))
        out.append((t, analysis.result("gaze", GazeResult)))
    return tuple(out)


def test_direction_follows_the_labelled_clip() -> None:
    results = clip_gaze()
    left = [g.direction for t, g in results if g is not None and in_spans(t, CLIP_LEFT)]
    center = [g.direction for t, g in results if g is not None and in_spans(t, CLIP_CENTER)]
    assert len(left) >= 20 and len(center) >= 45  # a face on (nearly) every frame at 5 fps
    assert Counter(left)["left"] / len(left) >= 0.8, Counter(left)
    assert Counter(center)["center"] / len(center) >= 0.8, Counter(center)
    # and the message carries the sign: h < 0 toward the image's left
    h_left = np.median([g.h for t, g in results if g is not None and in_spans(t, CLIP_LEFT)])
    assert h_left < -0.2


def test_features_vector_layout() -> None:
    results = [g for _, g in clip_gaze() if g is not None]
    vec = results[0].features.vector()
    assert vec.shape == (len(GazeFeatures.NAMES),) == (12,) and vec.dtype == np.float64
    assert np.all(np.isfinite(vec))
    named = dict(zip(GazeFeatures.NAMES, vec, strict=True))
    assert 0.0 < named["face_x"] < 1.0 and 0.0 < named["face_y"] < 1.0 and 0.0 < named["face_scale"] < 1.0
    assert 0.15 < named["a_open"] < 0.4 and 0.15 < named["b_open"] < 0.4
    fields = results[0].message_fields()["gaze"]
    assert set(fields) == {"direction", "h", "v"}


def test_iris_offsets_move_left_in_the_left_segment() -> None:
    results = clip_gaze()
    def mean_h(spans):  # type: ignore[no-untyped-def]
        return np.mean([(g.features.eye_a.h + g.features.eye_b.h) / 2 for t, g in results
                        if g is not None and in_spans(t, spans)])
    assert mean_h(CLIP_LEFT) < mean_h(CLIP_CENTER) - 0.1


def test_classify_thresholds() -> None:
    assert classify(0.0, 0.0) == "center"
    assert classify(HORIZONTAL_OFF_DEG - 1, VERTICAL_OFF_DEG - 1) == "center"
    assert classify(-(HORIZONTAL_OFF_DEG + 1), 0.0) == "left"
    assert classify(HORIZONTAL_OFF_DEG + 1, 0.0) == "right"
    assert classify(0.0, VERTICAL_OFF_DEG + 1) == "up"
    assert classify(0.0, -(VERTICAL_OFF_DEG + 1)) == "down"
    # the axis further past its own threshold decides
    assert classify(HORIZONTAL_OFF_DEG * 1.1, -VERTICAL_OFF_DEG * 1.5) == "down"
