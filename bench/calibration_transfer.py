"""Calibration across sittings on SIMULATED candidates: what the regularisation and the reuse gate do.

**This is not real gaze data.** No webcam images with known screen targets exist in this repository
or in shared/data (the one gaze-labelled clip has no screen targets, see `bench/gaze_eval.py`), so
the calibrated error on real people (issue 17: 4.2 deg within a sitting) cannot be re-measured here.
What this bench measures is the *mechanism*: given features that behave like the real ones, does a
map fitted in one sitting stay within the centre guess in the next, and does the gate catch the
sittings where it would not?

The simulated candidate (geometry in mm, camera at the top centre of a 345 x 194 mm screen shown
as 1536 x 864 CSS px, 60 deg webcam):
* the eye sits at head position (x, y, z); the gaze angle to a target is atan of its offset over z;
  the eye-in-head angle is that minus head yaw / pitch; the features are the gaze stage's:
  eye_h, eye_v = sin(eye-in-head) / 2.8 times a per-person gain plus a per-person bias, head_x,
  head_y = the face's place in the frame, log_scale = log(90 mm biocular width / frame width at z);
* within a sitting the head holds still (1.5 mm, 0.5 deg jitter per dot, the head turning 10 % of
  the way toward each dot as people do) and each frame's landmark jitter moves the eye features and
  the face position together (a sliding mesh), plus independent eye noise (0.008 eye widths);
* the next sitting's head moves by N(0, 30 mm) sideways, N(0, 20 mm) up, N(0, 50 mm) in distance
  and N(0, 4 deg) in yaw and pitch;
* a second set of candidates (`moving`) do not hold still while calibrating: before each dot the head
  moves by half that (N(0, 15 / 10 / 25 mm), N(0, 2 deg)), as when a calibration's frames are
  taken seconds or minutes apart (the real people of bench/README.md were): there the head terms
  carry signal that the head-aware map (fit.py, step 6) can use.

Scored with `vigil eval`'s own gaze scoring (`server.tools.evaluate.gaze.score_dots`: within a sitting
by leave-one-dot-out, across sittings, centre guess, eye-only map) for the product's fit (the
head-aware map inside the fitted head range, the safe map beyond), and the same within / across for
the safe map alone (`*_safe`: the fit before step 6) and for plain least squares (`*_lambda0`: what
leave-one-dot-out chose on real people before the floor). The gate (`transfer.decide` on the next sitting's first 5 frames of the centre
dot) then says reuse, recentre (scored after a one-dot recentre, `drift.recentre`) or recalibrate.

    .venv/bin/python -m bench.calibration_transfer [--people 40] [--json bench/results/calibration_transfer.json]

Rows must keep this order (the mechanism it tests): centre guess worst; next sitting with lambda 0
beyond it; within a sitting, the product's fit no worse than the safe map's on still heads and
better on moving ones; behind the gate, the next sitting near the within-sitting error.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.calibration.drift import recentre
from pipeline.calibration.features import FeatureSample
from pipeline.calibration.fit import LAMBDAS, fit, mean_prediction, usable_points
from pipeline.calibration.targets import fit_points
from pipeline.calibration.transfer import decide
from server.tools.evaluate.gaze import Dot, score_dots

OUT = Path(__file__).resolve().parent / "results" / "calibration_transfer.json"
SCREEN_PX = (1536.0, 864.0)
SCREEN_MM = (345.0, 194.0)
MMPP = SCREEN_MM[0] / SCREEN_PX[0]
HFOV = math.radians(60.0)
VFOV = 2 * math.atan(math.tan(HFOV / 2) * 3 / 4)  # 4:3 frame


def features(eye: np.ndarray, yaw: float, pitch: float, target_px: tuple[float, float], person: dict[str, Any],
             rng: np.random.Generator) -> tuple[float, ...]:
    """One frame's FeatureSample.NAMES vector for an eye at `eye` (mm, camera at origin) looking at the target."""
    tx = (target_px[0] - SCREEN_PX[0] / 2) * MMPP
    ty = target_px[1] * MMPP  # below the camera at the screen's top edge
    x, y, z = eye
    gaze_h = math.atan2(tx - x, z)
    gaze_v = -math.atan2(ty - y, z)  # up is positive
    slide = rng.normal(0.0, 0.006, 2)  # the mesh slides: eyes and face position move together
    eye_h = math.sin(gaze_h - yaw) / 2.8 * person["gain"][0] + person["bias"][0] + slide[0] + rng.normal(0, 0.008)
    eye_v = math.sin(gaze_v - pitch) / 2.8 * person["gain"][1] + person["bias"][1] + slide[1] + rng.normal(0, 0.008)
    frame_w, frame_h = 2 * z * math.tan(HFOV / 2), 2 * z * math.tan(VFOV / 2)
    head_x = x / frame_w + 0.6 * slide[0]
    head_y = y / frame_h + 0.6 * slide[1]
    return (eye_h, eye_v, yaw, pitch, head_x, head_y, math.log(90.0 / frame_w))


#: SDs of the next sitting's head movement: x, y, z (mm), yaw and pitch (rad)
NEXT_SITTING = (30.0, 20.0, 50.0, math.radians(4))
#: SDs of the head's movement before each dot of a `moving` candidate's calibration
MOVING = tuple(v / 2 for v in NEXT_SITTING)
STILL = (1.5, 1.5, 1.5, math.radians(0.5))


def sitting(person: dict[str, Any], head: dict[str, Any], name: str, rng: np.random.Generator, *,
            frames: int = 5, move: tuple[float, ...] = STILL) -> list[Dot]:
    dots = []
    for i, (fx, fy) in enumerate(((0.5, 0.5), *fit_points(9))):
        target = (fx * SCREEN_PX[0], fy * SCREEN_PX[1])
        eye = np.array(head["pos"]) + rng.normal(0.0, move[:3], 3)
        toward = math.atan2((target[0] - SCREEN_PX[0] / 2) * MMPP - eye[0], eye[2])
        yaw = head["yaw"] + 0.1 * toward + rng.normal(0, move[3])
        pitch = head["pitch"] + rng.normal(0, move[3])
        samples = tuple(FeatureSample(0.0, features(eye, yaw, pitch, target, person, rng), 0.15, 0.0)
                        for _ in range(frames))
        dots.append(Dot(person["name"], name, i, target, SCREEN_PX, MMPP, float(eye[2]), None, samples, 0))
    return dots


def person_and_sittings(k: int, rng: np.random.Generator, move: tuple[float, ...] = STILL
                        ) -> tuple[list[Dot], list[Dot]]:
    person = {"name": f"p{k:02d}", "gain": rng.normal(1.0, 0.15, 2), "bias": rng.normal(0.0, 0.02, 2)}
    pos = (rng.normal(0, 20), rng.normal(80, 20), rng.normal(600, 60))
    a: dict[str, Any] = {"pos": pos, "yaw": rng.normal(0, 0.05), "pitch": rng.normal(0, 0.05)}
    sx, sy, sz, sa = NEXT_SITTING
    b = {"pos": (pos[0] + rng.normal(0, sx), pos[1] + rng.normal(0, sy), pos[2] + rng.normal(0, sz)),
         "yaw": a["yaw"] + rng.normal(0, sa), "pitch": a["pitch"] + rng.normal(0, sa)}
    return sitting(person, a, "A", rng, move=move), sitting(person, b, "B", rng, move=move)


def _deg(dot: Dot, predicted: tuple[float, float] | None) -> float | None:
    return None if predicted is None else dot.error(predicted).deg


def run(people: int, seed: int, move: tuple[float, ...] = STILL) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    by_method: dict[str, list[float]] = defaultdict(list)
    per_person: list[dict[str, Any]] = []
    actions: Counter[str] = Counter()
    gated: list[float] = []
    head_aware_kept = 0
    for k in range(people):
        a, b = person_and_sittings(k, rng, move)
        grid_a, grid_b = a[1:], b[1:]  # the centre dot (index 0) is the recentre/gate dot, not a fit dot
        errors, _ = score_dots(grid_a + grid_b)
        mine: dict[str, list[float]] = defaultdict(list)
        for e in errors:
            if e.error.deg is not None and (e.method != "across" or e.session == "B"):
                mine[e.method].append(e.error.deg)
        for name, lambdas in (("lambda0", (0.0,)), ("safe", LAMBDAS)):
            alone = {}
            for sit, grid in (("A", grid_a), ("B", grid_b)):  # within: both sittings, as score_dots scores them
                alone[sit] = fit([d.points() for d in grid], lambdas=lambdas, head_aware_lambdas=None)
                mine[f"within_{name}"] += [v for d in grid if (v := _deg(d, alone[sit].lopo_prediction[d.index]))
                                           is not None]
            mine[f"across_{name}"] = [v for d in grid_b if (v := _deg(d, _mean(alone["A"].model, d))) is not None]
        model = fit([d.points() for d in grid_a]).model
        head_aware_kept += model.head_aware is not None
        decision = decide(model.head_range, list(b[0].samples))
        actions[decision.action] += 1
        r = recentre(model, b[0].samples, b[0].target, screen_w=SCREEN_PX[0], screen_h=SCREEN_PX[1])
        if decision.action == "reuse":
            after = [_deg(d, _mean(model, d)) for d in grid_b]
        elif decision.action == "recentre" and r.applied:
            after = [_deg(d, _mean(r.model, d)) for d in grid_b]
        else:  # a new calibration (also when the recentre is refused): this sitting's own within error
            after_fit = fit([d.points() for d in grid_b])
            after = [_deg(d, after_fit.lopo_prediction[d.index]) for d in grid_b]
        mine["across_gated"] = [v for v in after if v is not None]
        gated.extend(mine["across_gated"])
        for m, vals in mine.items():
            if m != "across_gated":
                by_method[m].extend(vals)
        means = {m: round(statistics.fmean(vals), 2) for m, vals in mine.items() if vals}
        per_person.append({"person": f"p{k:02d}", "gate": decision.action, "deg_mean": means,
                           "across_worse_than_centre": means.get("across", 0) > means.get("centre", 1e9),
                           "across_lambda0_worse_than_centre": means.get("across_lambda0", 0) > means.get("centre", 1e9)})
    by_method["across_gated"] = gated
    summary = {m: {"mean": round(statistics.fmean(v), 2), "median": round(statistics.median(v), 2),
                   "p90": round(float(np.percentile(v, 90)), 2), "n": len(v)} for m, v in sorted(by_method.items())}
    return {
        "data": "SIMULATED candidates (module docstring of bench/calibration_transfer.py); not real gaze data",
        "people": people, "seed": seed, "screen_mm": SCREEN_MM, "screen_px": SCREEN_PX,
        "head_move_per_dot_sd": {"x_mm": move[0], "y_mm": move[1], "z_mm": move[2], "yaw_pitch_deg": math.degrees(move[3])},
        "deg_by_method": summary,
        "head_aware_map_kept": head_aware_kept,
        "gate_actions": dict(actions),
        "people_across_worse_than_centre": sum(p["across_worse_than_centre"] for p in per_person),
        "people_across_lambda0_worse_than_centre": sum(p["across_lambda0_worse_than_centre"] for p in per_person),
        "per_person": per_person,
    }


def _mean(model: Any, dot: Dot) -> tuple[float, float] | None:
    kept, _ = usable_points([dot.points()])
    return mean_prediction(model, kept[0].samples) if kept else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=40)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--json", type=Path, default=OUT)
    args = ap.parse_args()
    doc = {**run(args.people, args.seed), "moving": run(args.people, args.seed, MOVING)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2) + "\n")
    for title, d in (("head still while calibrating", doc), ("head moving between dots", doc["moving"])):
        print(title, "- head-aware map kept:", d["head_aware_map_kept"], "/", d["people"])
        for m, s in d["deg_by_method"].items():
            print(f"  {m:16s} mean {s['mean']:6.2f}  median {s['median']:6.2f}  p90 {s['p90']:6.2f}  n {s['n']}")
        print("  gate:", d["gate_actions"], " across worse than centre:", d["people_across_worse_than_centre"],
              "/", d["people"], " (lambda 0:", d["people_across_lambda0_worse_than_centre"], ")")


if __name__ == "__main__":
    main()
