"""Identity: the face-shape signature tells obama from biden, and does not cry wolf on one person."""
from __future__ import annotations

import cv2
import numpy as np
from vision_helpers import CLIP, analyse_image, clip_frames, default_pipeline, read_rgb

from pipeline.default import FACE_PATH
from pipeline.frame import VideoFrame
from pipeline.stages.identity import (
    CHANGE_AFTER_S,
    ENROL_FRAMES,
    IdentityResult,
    face_signature,
    signature_distance,
)
from pipeline.stages.landmarks import LandmarksResult


def signature(rgb: np.ndarray) -> np.ndarray:
    lm = analyse_image(rgb, only=("faces", "landmarks")).result("landmarks", LandmarksResult)
    assert lm is not None
    return face_signature(lm)


def variants(rgb: np.ndarray) -> list[np.ndarray]:
    h, w = rgb.shape[:2]
    return [
        cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA),
        cv2.resize(rgb, (w // 3, h // 3), interpolation=cv2.INTER_AREA),
        np.ascontiguousarray(rgb[h // 8: h * 7 // 8, w // 10: w * 9 // 10]),
    ]


def test_two_people_differ_more_than_one_person_rescaled_and_cropped() -> None:
    obama, biden = read_rgb("faces/obama.jpg"), read_rgb("faces/biden.jpg")
    ref = signature(obama)
    same = [signature_distance(ref, signature(v)) for v in variants(obama)]
    other = [signature_distance(ref, signature(v)) for v in [biden, *variants(biden)]]
    assert max(same) < min(other), (same, other)


def run_clip(session, frames, t0: float = 0.0) -> list[IdentityResult | None]:  # type: ignore[no-untyped-def]
    return [session.analyse(VideoFrame(rgb, t=t0 + t)).result("identity", IdentityResult)
            for t, rgb in frames]


def test_no_false_change_over_the_whole_clip() -> None:
    results = run_clip(default_pipeline().new_session(), clip_frames(CLIP))
    assert all(r is not None for r in results)
    # enrolment averages ENROL_FRAMES distinct meshes: on the frames between the face path's runs
    # the mesh is carried, and so is identity (pipeline/stages/faces.py, "the face path's schedule")
    done = [r for r in results if r is not None]
    first = next(i for i, r in enumerate(done) if r.enrolled)
    assert done[first].enrol_frames == ENROL_FRAMES and first >= ENROL_FRAMES - 1
    assert not done[first - 1].enrolled
    assert not any(r.identity_changed for r in results if r is not None)
    sims = [r.similarity for r in results if r is not None and r.similarity is not None]
    assert len(sims) > 50 and min(sims) > 0.7
    assert set(done[-1].message_fields()["identity"]) == {"enrolled", "similarity", "identity_changed"}


def test_a_different_person_is_flagged_after_a_sustained_mismatch() -> None:
    # every frame computed (`refresh`): a photo swapped for another between two frames is not what
    # the face path's schedule tracks, and this test times the stage's own rule frame by frame
    session = default_pipeline().new_session()
    obama, biden = read_rgb("faces/obama.jpg"), read_rgb("faces/biden.jpg")
    t = 0.0
    for _ in range(ENROL_FRAMES):
        session.analyse(VideoFrame(obama, t=t), refresh=FACE_PATH)
        t += 0.2
    flags = []
    for _ in range(25):
        r = session.analyse(VideoFrame(biden, t=t), refresh=FACE_PATH).result("identity", IdentityResult)
        assert r is not None and r.similarity is not None and r.similarity < 0.5
        flags.append((t, r.identity_changed))
        t += 0.2
    first = next(ti for ti, flag in flags if flag)
    assert CHANGE_AFTER_S - 0.01 <= first - flags[0][0] <= CHANGE_AFTER_S + 0.21
    back = session.analyse(VideoFrame(obama, t=t), refresh=FACE_PATH).result("identity", IdentityResult)
    assert back is not None and not back.identity_changed
