"""What the candidate sees is what the engine judged: the `analysis` message and the risk engine's
`Observation` are built from one `FrameAnalysis` (real stages on real frames of the test clip),
and agree field by field, at the message's rounding."""
from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.analysis import CalibratedGaze, FrameAnalysis
from pipeline.frame import VideoFrame
from pipeline.observe import observation_from_analysis
from pipeline.risk.messages import Observation
from server.protocol.analysis import AnalysedFrame, FrameRisk, FrameTiming, analysis_message
from tests.conftest import FACE_CLIP

#: the message's keys in order, around the stages' own fields (the contract; see protocol/analysis.py)
HEAD = ["type", "v", "frame_id", "frame_pts", "captured_ms", "received_ms", "analysed_ms", "faces", "face"]
TAIL = ["stages", "speaking", "risk_score", "attention", "events", "pipeline_ms"]


@pytest.fixture(scope="module")
def analyses(loaded_pipeline: Any) -> list[FrameAnalysis]:
    """Real stage results for 12 s of the clip at 2 fps (centre, then left), slow stages inline."""
    from server.tools.candidate.media_files import rgb_frames

    session = loaded_pipeline.new_session()
    out = []
    for i, (t, rgb) in enumerate(rgb_frames(FACE_CLIP, 2.0)):
        if t > 12.0:
            break
        out.append(session.analyse(VideoFrame(rgb, t=100.0 + t, pts=i * 45000, frame_id=i + 1)))
    return out


def wire(analysis: FrameAnalysis, gaze: CalibratedGaze | None) -> dict[str, Any]:
    frame = AnalysedFrame(analysis, gaze, FrameRisk(12.345, 87.6, ()), speaking=None,
                          timing=FrameTiming(received_ms=1000.04, captured_ms=None, analysed_ms=1030.06))
    return json.loads(json.dumps(analysis_message(frame), separators=(",", ":")))


def _r(v: float | None, nd: int) -> float | None:
    return None if v is None else round(v, nd)


def assert_agree(msg: dict[str, Any], obs: Observation) -> None:
    assert msg["frame_id"] == obs.frame_id
    assert msg["faces"] == obs.faces
    assert (msg["face"] or {}).get("confidence") == _r(obs.face_confidence, 3)
    assert (msg["face"] or {}).get("box") == (None if obs.face_box is None else [round(v, 4) for v in obs.face_box])
    pose = msg.get("head_pose") or {}
    assert (pose.get("yaw"), pose.get("pitch")) == (_r(obs.head_yaw, 1), _r(obs.head_pitch, 1))
    gaze = msg.get("gaze") or {}
    assert gaze.get("direction") == obs.gaze_direction
    assert gaze.get("on_screen") == obs.gaze_on_screen
    assert [(o["label"], o["confidence"]) for o in msg.get("objects", [])] == \
        [(label, round(c, 3)) for label, c in obs.objects]
    assert msg.get("persons") == obs.persons
    assert (msg.get("posture") or {}).get("left_seat") == obs.left_seat
    assert (msg.get("quality") or {}).get("status") == obs.image_quality
    assert (msg.get("identity") or {}).get("identity_changed") == obs.identity_changed


def test_the_message_and_the_observation_agree_field_by_field(analyses: list[FrameAnalysis]) -> None:
    seen_face = seen_direction = seen_scene = False
    for i, analysis in enumerate(analyses):
        gaze = CalibratedGaze(640.4 + i, 359.6, on_screen=i % 3 != 0)
        for g in (None, gaze):
            msg, obs = wire(analysis, g), observation_from_analysis(analysis, g)
            assert_agree(msg, obs)
            keys = list(msg)
            assert keys[:len(HEAD)] == HEAD and keys[-len(TAIL):] == TAIL
        seen_face |= obs.faces == 1 and obs.face_confidence is not None and obs.head_yaw is not None
        seen_direction |= obs.gaze_direction is not None and obs.gaze_on_screen is not None
        seen_scene |= obs.persons is not None and obs.left_seat is not None and obs.image_quality is not None
    assert seen_face and seen_direction and seen_scene  # every field was compared on real values


def test_calibrated_gaze_joins_the_gaze_field_in_place(analyses: list[FrameAnalysis]) -> None:
    analysis = next(a for a in analyses if "gaze" in a.message_fields())
    plain, calibrated = wire(analysis, None), wire(analysis, CalibratedGaze(640.4, 359.6, on_screen=True))
    assert list(plain) == list(calibrated)  # same keys, same order
    assert calibrated["gaze"] == {**plain["gaze"], "screen": {"x": 640, "y": 360}, "on_screen": True}
    assert (calibrated["received_ms"], calibrated["analysed_ms"]) == (1000.0, 1030.1)
    assert (calibrated["risk_score"], calibrated["attention"]) == (12.3, 88)
