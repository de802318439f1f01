"""Gaze on labelled real video: direction labels, an on/off-screen proxy, angles and stability.

Data: the only gaze-labelled real footage in shared/data is
`video/proctoringai_center_left_center_640x480.mp4` (15.3 s, one adult at a phone's front camera),
labelled by time: eyes centre 0-5.0 s, left 5.5-10.0 s (pupils toward the image's left), centre
11.0-15.33 s; the transitions are not scored. Frames go through the default face stages at the
server's analysis rate (5 fps) unless `--fps` says otherwise.

**What this data can show**
* whether the uncalibrated direction (`center|left|...`) matches the labels, per segment;
* an on/off-screen proxy: "centre" (looking at the device) counts as on screen, the 23-degree
  "left" glance as off; the share of frames the uncalibrated classifier puts on the right side;
* the horizontal angular deviation from the camera axis while the person looks at the camera (the
  centre segments: the true horizontal gaze angle there is about 0, so |h_deg| is an error);
* stability: frame-to-frame jitter and spread of the gaze angle during steady fixation, which
  bounds the per-frame precision any calibrated map built on these features can have;
* how far apart the calibration features (eye_h) of the two fixations are, in noise units (d');
* the viewing distance the calibration would estimate from this face (accuracy.py).

**What it cannot show**
* calibrated on-screen error in degrees or px: nobody in this clip looks at known screen targets,
  so there is no ground truth point to compare a calibrated prediction with. That number can only
  come from a recorded calibration run (dots at known places) or a live session's validation dots;
* vertical accuracy: the camera's position relative to the eyes is unknown (a phone held low), so
  the vertical angle's offset is not an error; it is reported, not scored;
* anything across people, lighting, glasses or cameras: it is one person and one camera.

    .venv/bin/python -m bench.gaze_eval [--fps 5] [--json bench/results/gaze_eval.json]
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("VIGIL_SHARED_DATA", REPO.parent / "shared" / "data"))
CLIP = SHARED_DATA / "video" / "proctoringai_center_left_center_640x480.mp4"
#: the clip's labels (shared/data/README.md); transitions 5.0-5.5 and 10.0-11.0 s are not scored
SEGMENTS: dict[str, tuple[tuple[float, float], ...]] = {"center": ((0.0, 5.0), (11.0, 15.4)), "left": ((5.5, 10.0),)}
#: the label's on-screen truth for the proxy: looking at the device vs a 23-degree glance away
ON_SCREEN_TRUTH = {"center": True, "left": False}
OUT = REPO / "bench" / "results" / "gaze_eval.json"

CAN_SHOW = [
    "uncalibrated direction labels per segment (share correct)",
    "on/off-screen proxy from the uncalibrated direction (centre = on, the 23 deg left glance = off)",
    "horizontal angular deviation from the camera axis while looking at the camera (centre segments)",
    "stability: frame-to-frame jitter and spread of the gaze angle in steady fixation",
    "separation of the calibration feature eye_h between the two fixations (d')",
]
CANNOT_SHOW = [
    "calibrated on-screen error in px or degrees: no known screen targets in this data",
    "vertical accuracy: the camera's offset from the eyes is unknown (a phone held low)",
    "generalisation: one person, one camera, one lighting",
]


def frames(path: Path, fps: float) -> list[tuple[float, Any]]:
    from server.tools.candidate.media_files import rgb_frames

    return rgb_frames(path, fps)


def label_of(t: float) -> str | None:
    for name, spans in SEGMENTS.items():
        if any(a <= t <= b for a, b in spans):
            return name
    return None


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(x, nd)


def _per_span(gs: list[dict[str, Any]], name: str, f: Any) -> list[list[float]]:
    return [[f(r["gaze"]) for r in gs if a <= r["t"] <= b] for a, b in SEGMENTS[name]]


def _per_span_values(gs: list[dict[str, Any]], name: str, values: list[float]) -> list[list[float]]:
    return [[v for r, v in zip(gs, values, strict=True) if a <= r["t"] <= b] for a, b in SEGMENTS[name]]


def _pooled(groups: list[list[float]]) -> float | None:
    """Pooled within-group standard deviation."""
    ss = sum(sum((x - statistics.fmean(g)) ** 2 for x in g) for g in groups if len(g) >= 2)
    n = sum(len(g) - 1 for g in groups if len(g) >= 2)
    return math.sqrt(ss / n) if n else None


def _pooled_sd(gs: list[dict[str, Any]], name: str, f: Any) -> float | None:
    return _pooled(_per_span(gs, name, f))


def jitter(ts_vals: list[tuple[float, float]], max_gap: float) -> float | None:
    """Median absolute change between consecutive frames (within one fixation: gaps <= max_gap)."""
    diffs = [abs(b[1] - a[1]) for a, b in itertools.pairwise(ts_vals) if b[0] - a[0] <= max_gap]
    return statistics.median(diffs) if diffs else None


def evaluate(fps: float) -> dict[str, Any]:
    from pipeline.calibration.accuracy import CAMERA_HFOV_DEG, viewing_distance_mm
    from pipeline.calibration.features import normalise
    from pipeline.default import face_stages
    from pipeline.frame import VideoFrame
    from pipeline.runner import Pipeline
    from pipeline.stages.gaze import EYE_WIDTH_PER_ROTATION_RADIUS, HORIZONTAL_OFF_DEG, GazeResult

    if not CLIP.is_file():
        raise SystemExit(f"clip not found: {CLIP} (set VIGIL_SHARED_DATA)")
    pipeline = Pipeline(face_stages())
    pipeline.load()
    session = pipeline.new_session()
    rows: list[dict[str, Any]] = []
    decoded = frames(CLIP, fps)
    for t, rgb in decoded:
        a = session.analyse(VideoFrame(rgb, t=t), only=("faces", "landmarks", "head_pose", "gaze"))
        g = a.result("gaze", GazeResult)
        rows.append({"t": t, "label": label_of(t), "gaze": g})
    scored = [r for r in rows if r["label"] is not None]
    with_gaze = [r for r in scored if r["gaze"] is not None]
    segs: dict[str, Any] = {}
    eye_h: dict[str, list[float]] = {}
    for name in SEGMENTS:
        rs = [r for r in scored if r["label"] == name]
        gs = [r for r in rs if r["gaze"] is not None]
        hs = [r["gaze"].h_deg for r in gs]
        vs = [r["gaze"].v_deg for r in gs]
        eye_h[name] = [normalise(r["gaze"].features)[0] for r in gs]
        eye_angle = [math.degrees(math.asin(max(-1.0, min(1.0, e * EYE_WIDTH_PER_ROTATION_RADIUS))))
                     for e in eye_h[name]]
        correct = sum(r["gaze"].direction == name for r in gs)
        on_right = sum((r["gaze"].direction == "center") == ON_SCREEN_TRUTH[name] for r in gs)
        segs[name] = {
            "frames": len(rs), "frames_with_gaze": len(gs),
            "direction_correct_share": _r(correct / len(gs), 3) if gs else None,
            "on_screen_proxy_correct_share": _r(on_right / len(gs), 3) if gs else None,
            "h_deg_median": _r(statistics.median(hs)) if hs else None,
            "v_deg_median": _r(statistics.median(vs)) if vs else None,
            # spread within each labelled span (pooled), so a shift between the two centre spans
            # (a real change of posture) is not counted as noise; the medians per span show it
            "h_deg_sd_within_span": _r(_pooled_sd(gs, name, lambda g: g.h_deg)),
            "v_deg_sd_within_span": _r(_pooled_sd(gs, name, lambda g: g.v_deg)),
            "h_deg_median_per_span": [_r(statistics.median(x)) if x else None
                                      for x in _per_span(gs, name, lambda g: g.h_deg)],
            "h_deg_jitter_median": _r(jitter([(r["t"], r["gaze"].h_deg) for r in gs], 1.5 / fps)),
            "eye_in_head_h_deg_sd_within_span": _r(_pooled(_per_span_values(gs, name, eye_angle))),
        }
        if name == "center":
            # looking at the camera: the true horizontal gaze angle is ~0, so |h| is the deviation
            segs[name]["mean_abs_h_deviation_from_camera_deg"] = _r(statistics.fmean(abs(h) for h in hs)) if hs else None
    pooled = math.sqrt((statistics.pvariance(eye_h["center"]) + statistics.pvariance(eye_h["left"])) / 2.0)
    d_prime = abs(statistics.fmean(eye_h["center"]) - statistics.fmean(eye_h["left"])) / max(pooled, 1e-9)
    scales = [r["gaze"].features.face_scale for r in with_gaze]
    yaws = [r["gaze"].features.yaw for r in with_gaze]
    n_dir = sum(r["gaze"].direction == r["label"] for r in with_gaze)
    n_on = sum((r["gaze"].direction == "center") == ON_SCREEN_TRUTH[r["label"]] for r in with_gaze)
    return {
        "clip": str(CLIP.relative_to(SHARED_DATA)) if CLIP.is_relative_to(SHARED_DATA) else str(CLIP),
        "fps": fps, "frames": len(rows), "scored_frames": len(scored), "scored_frames_with_gaze": len(with_gaze),
        "horizontal_off_threshold_deg": HORIZONTAL_OFF_DEG,
        "direction_accuracy": _r(n_dir / len(with_gaze), 3),
        "on_screen_proxy_accuracy": _r(n_on / len(with_gaze), 3),
        "segments": segs,
        "eye_h_separation": {"center_mean": _r(statistics.fmean(eye_h["center"]), 4),
                             "left_mean": _r(statistics.fmean(eye_h["left"]), 4),
                             "pooled_sd": _r(pooled, 4), "d_prime": _r(d_prime, 1)},
        "viewing_distance_mm_estimate": round(viewing_distance_mm(statistics.median(scales),
                                                                  yaw_deg=statistics.median(yaws))),
        "viewing_distance_assumes_hfov_deg": CAMERA_HFOV_DEG,
        "calibrated_on_screen_error_deg": None,
        "can_show": CAN_SHOW,
        "cannot_show": CANNOT_SHOW,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fps", type=float, default=5.0, help="analysis rate (the server's default is 5)")
    ap.add_argument("--json", type=Path, default=OUT)
    args = ap.parse_args(argv)
    os.environ.setdefault("GLOG_minloglevel", "2")
    res = evaluate(args.fps)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=2) + "\n")
    c, left = res["segments"]["center"], res["segments"]["left"]
    print(f"gaze on {res['clip']} at {res['fps']:g} fps: {res['scored_frames_with_gaze']} scored frames with gaze")
    print(f"  direction labels right:        {res['direction_accuracy']:.1%} "
          f"(centre {c['direction_correct_share']:.1%}, left {left['direction_correct_share']:.1%})")
    print(f"  on/off-screen proxy right:     {res['on_screen_proxy_accuracy']:.1%} (uncalibrated: centre = on)")
    print(f"  looking at the camera: mean |horizontal deviation| {c['mean_abs_h_deviation_from_camera_deg']} deg, "
          f"vertical reads {c['v_deg_median']} deg (camera offset, not scored)")
    print(f"  'left' glance: horizontal {left['h_deg_median']} deg (median)")
    print(f"  centre spans' horizontal medians {c['h_deg_median_per_span']} deg (the two centre spans differ: a shift, not noise)")
    print(f"  stability in fixation: h sd {c['h_deg_sd_within_span']} deg within a span, frame-to-frame jitter "
          f"{c['h_deg_jitter_median']} deg (median), eye-in-head sd {c['eye_in_head_h_deg_sd_within_span']} deg")
    print(f"  eye_h separation centre vs left: d' = {res['eye_h_separation']['d_prime']}")
    print(f"  viewing distance the calibration would estimate: {res['viewing_distance_mm_estimate']} mm "
          f"(assuming a {res['viewing_distance_assumes_hfov_deg']:g} deg camera)")
    print("  cannot show: " + "; ".join(CANNOT_SHOW))
    print(f"  -> {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
