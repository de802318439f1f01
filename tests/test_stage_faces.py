"""Faces: given real photographs, the face stage counts the people in them."""
from __future__ import annotations

import pytest
from vision_helpers import FACE_IMAGES, NO_FACE_IMAGES, analyse_image, default_pipeline, read_rgb

from pipeline.frame import VideoFrame
from pipeline.stages.faces import FaceDetectionStage, FacesResult


def faces_in(rel: str) -> FacesResult:
    analysis = analyse_image(read_rgb(rel), only=("faces",))
    result = analysis.result("faces", FacesResult)
    assert result is not None, analysis.outputs["faces"]
    return result


@pytest.mark.parametrize("rel", FACE_IMAGES)
def test_one_face_on_each_portrait(rel: str) -> None:
    result = faces_in(rel)
    assert result.count == 1
    assert result.primary is not None and result.primary.confidence >= 0.5


@pytest.mark.parametrize("rel, count", [
    ("multi_face/two_people.jpg", 2),
    # the short-range model finds neither (small faces in a 2000 px photo): the full-range fallback does
    ("multi_face/obama_and_biden.jpg", 2),
    ("multi_face/jessica-wilson-nx3N6enkY_k-unsplash.jpg", 4),
])
def test_counts_everyone_in_group_photos(rel: str, count: int) -> None:
    assert faces_in(rel).count == count


@pytest.mark.parametrize("rel", NO_FACE_IMAGES)
def test_no_face_where_there_is_none(rel: str) -> None:  # the cat included
    result = faces_in(rel)
    assert result.count == 0
    assert result.message_fields() == {"faces": 0, "face": None}


def test_boxes_are_normalised_and_primary_is_largest() -> None:
    result = faces_in("multi_face/jessica-wilson-nx3N6enkY_k-unsplash.jpg")
    for face in result.faces:
        x, y, w, h = face.box
        assert 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 and 0.0 < w <= 1.0 and 0.0 < h <= 1.0
    assert result.primary is not None
    assert result.primary.box[2] * result.primary.box[3] == max(f.box[2] * f.box[3] for f in result.faces)
    fields = result.message_fields()
    assert fields["faces"] == 4 and set(fields["face"]) == {"box", "confidence"}


def test_full_range_runs_periodically_while_a_face_is_seen() -> None:
    stage = default_pipeline().stage("faces")
    assert isinstance(stage, FaceDetectionStage)
    state = stage.new_state()
    rgb = read_rgb("faces/skimage_astronaut.png")
    detectors = [stage.process(VideoFrame(rgb, t=i * 0.2), {}, state).detector for i in range(7)]
    # first frame and then once per FULL_RANGE_EVERY_S (1 s): frames at t=0 and t=1.0
    assert detectors == ["both", "short", "short", "short", "short", "both", "short"]
