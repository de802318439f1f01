"""Builds proctoringai_*.poses.jsonl: the real per-frame observations of three Proctoring-AI clips.

Each line is the risk engine's `Observation` of one analysed frame (5 fps) from the default face
stages (quality, faces, landmarks, head pose, gaze): real head poses and gaze angles of one person
looking at the camera and glancing left / right, used by `tests/test_risk_looking_away.py` to
replay real sequences under simulated camera placements. Run from the repo root:
PYTHONPATH=. .venv/bin/python tests/data/risk/make_pose_sequences.py
"""
import json
from pathlib import Path

from pipeline.default import face_stages
from pipeline.frame import VideoFrame
from pipeline.observe import observation_from_analysis
from pipeline.runner import Pipeline
from server.tools.candidate.media_files import rgb_frames

ROOT = Path(__file__).resolve().parents[3]
OUT = Path(__file__).resolve().parent
CLIPS = {
    "left": ROOT / "tests/data/proctoringai_center_left_center_640x480.mp4",
    "right": ROOT / "bench/data/video/proctoringai_center_right_center_640x480.mp4",
    "focus": ROOT / "bench/data/video/proctoringai_center_focus_640x480.mp4",
}
KEEP = ("t", "frame_id", "faces", "face_confidence", "head_yaw", "head_pitch", "gaze_direction",
        "gaze_h_deg", "gaze_v_deg", "image_quality")

pipeline = Pipeline(face_stages())
pipeline.load()
for name, path in CLIPS.items():
    session = pipeline.new_session()
    lines = []
    for i, (t, rgb) in enumerate(rgb_frames(path, 5.0)):
        obs = observation_from_analysis(session.analyse(VideoFrame(rgb, t=t, frame_id=i))).to_dict()
        row = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in obs.items() if k in KEEP}
        lines.append(json.dumps(row, separators=(",", ":")))
    (OUT / f"proctoringai_{name}.poses.jsonl").write_text("\n".join(lines) + "\n")
    print(name, len(lines))
