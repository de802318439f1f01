"""The posture stage on real media: a seated candidate is upright, an empty scene is an empty seat."""
from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from pipeline.frame import VideoFrame
from pipeline.stages.posture import PostureResult, PostureStage


def image_frame(path: Path) -> VideoFrame:
    bgr = cv2.imread(str(path))
    assert bgr is not None, f"cannot read {path}"
    return VideoFrame(rgb=np.ascontiguousarray(bgr[..., ::-1]), t=0.0)


def video_frames(path: Path, count: int) -> list[VideoFrame]:
    """`count` frames spread evenly over the clip, with their stream times."""
    with av.open(str(path)) as container:
        decoded = [(f.to_ndarray(format="rgb24"), float(f.time or 0.0)) for f in container.decode(video=0)]
    picks = np.linspace(0, len(decoded) - 1, count).round().astype(int)
    return [VideoFrame(rgb=decoded[i][0], t=decoded[i][1], frame_id=int(i)) for i in picks]


@pytest.fixture(scope="module")
def stage() -> PostureStage:
    stage = PostureStage()
    health = stage.try_load()
    assert health.state == "loaded", health.reason
    return stage


def test_astronaut_sits_upright(stage: PostureStage, shared_data: Path) -> None:
    result = stage.process(image_frame(shared_data / "images/faces/skimage_astronaut.png"), {}, None)
    assert result.label == "upright" and not result.left_seat
    assert result.score > 0.7  # 0.84 measured: shoulders tilted 5 degrees
    names = {k.name for k in result.keypoints}
    assert {"nose", "left_shoulder", "right_shoulder"} <= names
    assert all(k.visibility >= 0.5 and 0 <= k.x <= 1 and 0 <= k.y <= 1 for k in result.keypoints)


def test_candidate_in_the_face_clip_stays_upright(stage: PostureStage, shared_data: Path) -> None:
    # the eyes move centre-left-centre; the body does not
    for frame in video_frames(shared_data / "video/proctoringai_center_left_center_640x480.mp4", 8):
        result = stage.process(frame, {}, None)
        assert (result.label, result.left_seat) == ("upright", False), f"t={frame.t:.1f}s: {result}"


def test_empty_scene_is_an_empty_seat(stage: PostureStage, shared_data: Path) -> None:
    for frame in video_frames(shared_data / "video/opencv_tree_no_person_640x480.mp4", 8):
        result = stage.process(frame, {}, None)
        assert result.left_seat, f"t={frame.t:.1f}s: {result}"
        assert result.label == "out_of_frame" and result.keypoints == ()


def test_astronaut_tilted_25_degrees_is_leaning(stage: PostureStage, shared_data: Path) -> None:
    frame = image_frame(shared_data / "images/faces/skimage_astronaut.png")
    h, w = frame.rgb.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), -25.0, 1.0)  # clockwise, the way he already tilts
    tilted = VideoFrame(rgb=cv2.warpAffine(frame.rgb, turn, (w, h)), t=0.0)
    result = stage.process(tilted, {}, None)
    assert result.label == "leaning" and not result.left_seat
    assert result.shoulder_tilt_deg is not None and result.shoulder_tilt_deg > 15


def test_message_fields_carry_label_score_and_seat_only() -> None:
    result = PostureResult("upright", 0.91234, False)
    assert result.message_fields() == {"posture": {"label": "upright", "score": 0.912, "left_seat": False}}
