"""Looking away under camera placements and screen-edge reading, on real head-pose sequences.

The labelled clips (`bench/data/video`) show one person sitting on the camera's axis, where any
rule works. What breaks a fixed rule on a new candidate is where the camera sits relative to the
screen and how far the screen's edges are from its centre. Neither can be filmed from the clips we
have, but both act on the measured angles in a known way, so they are simulated on *real*
sequences (`tests/data/risk/proctoringai_*.poses.jsonl`: head pose and gaze angles the product
measured, frame by frame, at 5 fps):

- a camera placement adds a constant to every head and gaze angle (a webcam above a laptop
  screen: the screen is ~15 deg below the camera; beside a monitor: ~20 deg to one side; a phone
  held low: ~18 deg above), and the stage's direction label is what `gaze.classify` says of the
  shifted angles;
- reading the screen's edges moves the gaze to points up to 13 deg across and 9 deg up or down
  from the screen's centre (a 15-inch laptop at 60 cm), a third of it by turning the head: the
  honest clip, looped to 63 s, spends 2 s on each point in turn.

Scored like `vigil eval` (frame-level balanced accuracy of the `looking_away` condition as the
engine reads it, false events on honest time) against the clips' spans. What it cannot show: other
people's eyes and faces, lighting, glasses; a head turn is modelled as an angle offset, not filmed.

    .venv/bin/python -m bench.looking_away_placements [--json out.json]

Runs against whatever `pipeline` package is importable, so the same file measures an older
checkout (run it with that checkout as the current directory and `--data` pointing here).
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

from pipeline.risk import Observation, Policy, RiskEngine
from pipeline.risk.events import EVENT_SPECS
from pipeline.stages.gaze import classify

ROOT = Path(__file__).resolve().parents[1]
#: (name, horizontal, vertical offset in degrees) of the camera relative to the screen's centre
PLACEMENTS = (
    ("on axis", 0.0, 0.0),
    ("laptop webcam above the screen", 0.0, -15.0),
    ("webcam beside the monitor", 20.0, 0.0),
    ("phone held low", 0.0, 18.0),
)
#: gaze offsets (deg) of points on a 15-inch screen's edges and corners, visited 2 s each
EDGES = ((-13.0, 0.0), (13.0, 0.0), (0.0, -9.0), (0.0, 9.0), (-13.0, -9.0), (13.0, 9.0), (0.0, 0.0))
HEAD_SHARE = 1.0 / 3.0
CLIPS = (("left", "proctoringai_center_left_center"), ("right", "proctoringai_center_right_center"),
         ("focus", "proctoringai_center_focus"))


def load(data: Path, name: str) -> list[dict[str, Any]]:
    lines = (data / "tests/data/risk" / f"proctoringai_{name}.poses.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def spans(data: Path, stem: str) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    rows = list(csv.DictReader((data / "bench/data/video" / f"{stem}.spans.csv").open()))
    pick = lambda label: [(float(r["start_s"]), float(r["end_s"])) for r in rows if r["label"] == label]  # noqa: E731
    return pick("looking_away"), pick("ignore")


def shifted(row: dict[str, Any], dh: float, dv: float, head_dh: float = 0.0, head_dv: float = 0.0) -> dict[str, Any]:
    """The row as a camera offset by (dh, dv) would measure it, plus a head turn of (head_dh, head_dv)."""
    out = dict(row)
    if out.get("head_yaw") is not None:
        out["head_yaw"] += dh + head_dh
        out["head_pitch"] += dv + head_dv
    if out.get("gaze_h_deg") is not None:
        out["gaze_h_deg"] += dh
        out["gaze_v_deg"] += dv
        out["gaze_direction"] = classify(out["gaze_h_deg"], out["gaze_v_deg"])
    return out


def edge_reading(rows: list[dict[str, Any]], dh: float, dv: float, seconds: float = 63.0) -> list[dict[str, Any]]:
    """The honest rows looped to `seconds`, the gaze visiting the screen's edges 2 s each."""
    period = rows[-1]["t"] + 0.2
    out: list[dict[str, Any]] = []
    for loop in itertools.count():
        for row in rows:
            t = round(loop * period + row["t"], 3)
            if t >= seconds:
                return out
            eh, ev = EDGES[int(t // 2.0) % len(EDGES)]
            moved = shifted(row, dh, dv, eh * HEAD_SHARE, ev * HEAD_SHARE)
            if moved.get("gaze_h_deg") is not None:
                moved["gaze_h_deg"] += eh
                moved["gaze_v_deg"] += ev
                moved["gaze_direction"] = classify(moved["gaze_h_deg"], moved["gaze_v_deg"])
            out.append({**moved, "t": t, "frame_id": len(out)})
    return out


def observation(row: dict[str, Any]) -> Observation:
    known = {f.name for f in dataclasses.fields(Observation)}  # an older Observation has no gaze angles
    return Observation(**{k: v for k, v in row.items() if k in known})


def score(rows: list[dict[str, Any]], away: list[tuple[float, float]], ignore: list[tuple[float, float]]) -> dict[str, Any]:
    engine = RiskEngine(Policy())
    reader = EVENT_SPECS["looking_away"].reader
    assert reader is not None
    tp = fp = fn = tn = 0
    inside = lambda t, spans: any(a <= t < b for a, b in spans)  # noqa: E731
    for row in rows:
        obs = observation(row)
        engine.observe(obs)
        reading = reader(obs, engine.policy, engine.baseline)
        if inside(obs.t, ignore):
            continue
        said, truth = reading is not None and reading.holding, inside(obs.t, away)
        tp, fp, fn, tn = tp + (said and truth), fp + (said and not truth), fn + (truth and not said), tn + (not said and not truth)
    end = rows[-1]["t"] + 0.2
    events = [(e.start, e.end if e.end is not None else end) for e in engine.finish(end).events if e.type == "looking_away"]
    overlap = lambda e, s: e[0] < s[1] and s[0] < e[1]  # noqa: E731
    counted = [e for e in events if not any(overlap(e, i) for i in ignore)]
    false = sum(1 for e in counted if not any(overlap(e, s) for s in away))
    found = sum(1 for s in away if any(overlap(s, e) for e in events))
    recall = tp / (tp + fn) if tp + fn else None
    specificity = tn / (tn + fp) if tn + fp else None
    parts = [x for x in (recall, specificity) if x is not None]
    return {"frames": {"tp": tp, "fp": fp, "fn": fn, "tn": tn}, "balanced_accuracy": round(sum(parts) / len(parts), 3),
            "spans": len(away), "detected": found, "false_events": false}


def run(data: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, dh, dv in PLACEMENTS:
        per: dict[str, Any] = {}
        for clip, stem in CLIPS:
            away, ignore = spans(data, stem)
            per[clip] = score([shifted(r, dh, dv) for r in load(data, clip)], away, ignore)
        per["edges (honest, 63 s)"] = score(edge_reading(load(data, "focus"), dh, dv), [], [])
        out[name] = per
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=ROOT, help="checkout holding tests/data and bench/data")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.data)
    for placement, per in result.items():
        for clip, s in per.items():
            print(f"{placement:32s} {clip:22s} BA {s['balanced_accuracy']:.3f}  spans {s['detected']}/{s['spans']}  "
                  f"false events {s['false_events']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
