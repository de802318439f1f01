"""Looking away = gaze and head pose combined, against the candidate's own baseline, on real
head-pose sequences (`tests/data/risk/proctoringai_*.poses.jsonl`) under simulated camera
placements and screen-edge reading (`bench/looking_away_placements.py` says how and why)."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.looking_away_placements import PLACEMENTS, edge_reading, load, score, shifted, spans
from pipeline.risk import Observation, Policy
from pipeline.risk.baseline import CandidateBaseline, GazeBox
from pipeline.risk.conditions import read_looking_away

REPO = Path(__file__).resolve().parent.parent
BOX = CandidateBaseline(head=(0.0, -10.0), gaze=GazeBox(2.0, -12.0, 15.0, 15.0, 15.0, 15.0))


def reading(**fields: object) -> bool | None:
    obs = Observation(t=0.0, faces=1, face_confidence=0.9, image_quality="ok", **fields)  # type: ignore[arg-type]
    r = read_looking_away(obs, Policy(), BOX)
    return None if r is None else r.holding


def test_gaze_is_judged_against_the_box_not_the_raw_label() -> None:
    # 18 deg below the camera is the middle of a laptop screen for this candidate: on screen
    assert reading(gaze_h_deg=2.0, gaze_v_deg=-18.0, gaze_direction="down", head_yaw=0.0, head_pitch=-10.0) is False
    assert reading(gaze_h_deg=-16.0, gaze_v_deg=-12.0, head_yaw=0.0, head_pitch=-10.0) is True


def test_head_and_gaze_combined() -> None:
    # eyes on the screen's edge with the head turned a little: on screen
    assert reading(gaze_h_deg=14.0, gaze_v_deg=-12.0, head_yaw=6.0, head_pitch=-10.0) is False
    # head turned past its limit: away, even if the eyes' reading says otherwise
    assert reading(gaze_h_deg=10.0, gaze_v_deg=-12.0, head_yaw=30.0, head_pitch=-10.0) is True
    # no gaze (a blink): the head alone decides
    assert reading(head_yaw=3.0, head_pitch=-10.0) is False
    # a calibrated gaze wins over the box
    assert reading(gaze_on_screen=False, gaze_h_deg=2.0, gaze_v_deg=-12.0, head_yaw=0.0, head_pitch=-10.0) is True


def test_no_baseline_yet_means_unknown_for_measured_angles() -> None:
    obs = Observation(t=0.0, faces=1, gaze_h_deg=30.0, gaze_v_deg=0.0, gaze_direction="right", image_quality="ok")
    assert read_looking_away(obs, Policy(), None) is None


@pytest.mark.parametrize(("placement", "dh", "dv"), PLACEMENTS)
def test_real_glances_are_found_and_honest_reading_is_not_an_event(placement: str, dh: float, dv: float) -> None:
    for clip, stem in (("left", "proctoringai_center_left_center"), ("right", "proctoringai_center_right_center")):
        away, ignore = spans(REPO, stem)
        result = score([shifted(r, dh, dv) for r in load(REPO, clip)], away, ignore)
        assert result["balanced_accuracy"] >= 0.9 and result["detected"] == 1 and result["false_events"] == 0, (clip, result)
    honest = score([shifted(r, dh, dv) for r in load(REPO, "focus")], [], [])
    assert honest["false_events"] == 0 and honest["frames"]["fp"] == 0
    edges = score(edge_reading(load(REPO, "focus"), dh, dv), [], [])
    assert edges["false_events"] == 0 and edges["balanced_accuracy"] >= 0.9, edges
