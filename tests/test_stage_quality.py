"""Quality: from the pixels alone, is the camera image fit to assess?"""
from __future__ import annotations

import cv2
import numpy as np
from vision_helpers import CLIP, clip_frames, read_rgb

from pipeline.frame import VideoFrame
from pipeline.stages.quality import FROZEN_AFTER_S, QualityResult, QualityStage


def run(frames: list[np.ndarray], dt: float = 0.2) -> list[QualityResult]:
    stage = QualityStage()
    state = stage.new_state()
    return [stage.process(VideoFrame(np.ascontiguousarray(f), t=i * dt), {}, state)
            for i, f in enumerate(frames)]


def face_frame() -> np.ndarray:
    return clip_frames(CLIP)[0][1]


def test_a_real_face_frame_is_ok_despite_its_pillarbox() -> None:
    result = run([face_frame()])[0]
    assert result.status == "ok", result
    assert 80 < result.luma < 160  # the black bars are not counted
    assert result.message_fields() == {"quality": {"status": "ok", "luma": round(result.luma, 1),
                                                   "sharpness": round(result.sharpness, 1)}}


def test_the_whole_clip_is_ok() -> None:
    assert {r.status for r in run([rgb for _, rgb in clip_frames(CLIP)])} == {"ok"}


def test_a_black_frame_is_covered() -> None:
    assert run([np.zeros((480, 640, 3), np.uint8)])[0].status == "covered"


def test_a_dim_room_is_dark_not_covered() -> None:
    dim = (face_frame().astype(np.float32) * 0.3).astype(np.uint8)
    assert run([dim])[0].status == "dark"


def test_a_washed_out_frame_is_overexposed() -> None:
    # exposure pushed up until about 40% of the pixels clip, as with a window behind the candidate
    bright = np.clip(read_rgb("faces/skimage_astronaut.png").astype(np.float32) * 1.5 + 80, 0, 255)
    assert run([bright.astype(np.uint8)])[0].status == "overexposed"


def test_an_out_of_focus_frame_is_blurred() -> None:
    assert run([cv2.GaussianBlur(face_frame(), (0, 0), 3.0)])[0].status == "blurred"


def test_a_repeated_frame_becomes_frozen() -> None:
    frame = read_rgb("faces/skimage_astronaut.png")
    results = run([frame] * 20, dt=0.2)
    assert results[0].status == "ok"
    first_frozen = next(i for i, r in enumerate(results) if r.status == "frozen")
    assert abs(first_frozen * 0.2 - FROZEN_AFTER_S) < 0.21
    assert all(r.status == "frozen" for r in results[first_frozen:])
    # a new picture ends it
    stage = QualityStage()
    state = stage.new_state()
    for i in range(20):
        stage.process(VideoFrame(frame, t=i * 0.2), {}, state)
    assert stage.process(VideoFrame(face_frame(), t=4.0), {}, state).status == "ok"


def test_frozen_state_is_per_session() -> None:
    stage = QualityStage()
    frame = read_rgb("faces/skimage_astronaut.png")
    a = stage.new_state()
    for i in range(20):
        stage.process(VideoFrame(frame, t=i * 0.2), {}, a)
    assert stage.process(VideoFrame(frame, t=4.0), {}, stage.new_state()).status == "ok"
