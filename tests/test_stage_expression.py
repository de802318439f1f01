"""Expression: blendshape movements on real faces, all within 0..1."""
from __future__ import annotations

from vision_helpers import CLIP, analyse_image, clip_frames, read_rgb

from pipeline.stages.expression import ExpressionResult, from_blendshapes

STAGES = ("faces", "landmarks", "expression")


def test_the_astronaut_smiles() -> None:
    analysis = analyse_image(read_rgb("faces/skimage_astronaut.png"), only=STAGES)
    result = analysis.result("expression", ExpressionResult)
    assert result is not None and result.smile > 0.5


def test_the_clip_is_neutral_with_eyes_open() -> None:
    for _, rgb in clip_frames(CLIP)[::10]:
        result = analyse_image(rgb, only=STAGES).result("expression", ExpressionResult)
        assert result is not None
        assert result.smile < 0.2 and result.jaw_open < 0.2 and result.eyes_closed < 0.4
        fields = result.message_fields()["expression"]
        assert set(fields) == {"smile", "jaw_open", "brows_up", "eyes_closed"}
        assert all(0.0 <= v <= 1.0 for v in fields.values())


def test_missing_blendshapes_read_as_zero() -> None:
    assert from_blendshapes({}) == ExpressionResult(0.0, 0.0, 0.0, 0.0)
