"""Head pose: plausible angles on frontal faces and the documented sign conventions."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from vision_helpers import CLIP, FACE_IMAGES, analyse_image, clip_frames, read_rgb

from pipeline.stages.head_pose import HeadPoseResult


def pose_of(rgb: np.ndarray) -> HeadPoseResult:
    pose = analyse_image(rgb, only=("faces", "landmarks", "head_pose")).result("head_pose", HeadPoseResult)
    assert pose is not None
    return pose


@pytest.mark.parametrize("rel", [r for r in FACE_IMAGES if "partial" not in r])
def test_frontal_faces_have_small_yaw(rel: str) -> None:
    pose = pose_of(read_rgb(rel))
    assert abs(pose.yaw) < 20 and abs(pose.roll) < 20 and abs(pose.pitch) < 25


def test_yaw_positive_when_the_face_turns_to_the_image_right_and_mirror_flips_it() -> None:
    rgb = read_rgb("faces/biden.jpg")  # biden's nose points a little toward the image's right
    pose, mirrored = pose_of(rgb), pose_of(rgb[:, ::-1])
    assert pose.yaw > 5 and mirrored.yaw < -5
    assert abs(pose.yaw + mirrored.yaw) < 3


def test_roll_positive_when_the_head_tilts_counter_clockwise_in_the_image() -> None:
    rgb = np.ascontiguousarray(read_rgb("faces/obama.jpg"))
    h, w = rgb.shape[:2]
    upright = pose_of(rgb)
    turned = pose_of(cv2.warpAffine(rgb, cv2.getRotationMatrix2D((w / 2, h / 2), 15, 1.0), (w, h)))
    assert 10 < turned.roll - upright.roll < 20


def test_pitch_positive_for_the_phone_held_low_on_the_clip() -> None:
    # the clip is filmed from a phone below the face: the head is tilted back relative to the camera
    for _, rgb in clip_frames(CLIP)[::10]:
        pose = pose_of(rgb)
        assert 5 < pose.pitch < 20 and abs(pose.yaw) < 10
        assert set(pose.message_fields()["head_pose"]) == {"yaw", "pitch", "roll"}
