"""How often to look at the tiles: pipeline CPU per analysed frame for each idle period of the tiles.

The default objects backend looks at the frame's 2 x 2 tiles for small phones
(`pipeline/stages/detection_tiles.py`): on a session's first pass, on every pass while a phone is
being confirmed, else every `TILE_IDLE_PERIOD_S`. This measures the whole pipeline's CPU per
analysed frame (`bench.pipeline_cost.measure`: one pinned core, the face clip at 5 fps of session
time, where no phone is ever confirmed, so the idle period is what sets the cost) for several
periods and for the whole frame alone (`yolox-whole`), in turns, `--rounds` each, the median round
of each shown. The periods' effect on the labelled sets is measured with `vigil eval`
(bench/README.md, "Compute per frame").

    python -m bench.tile_cadence --periods 2,4,8,12 --rounds 3 --before ../compute-before \
        --json bench/results/tile_cadence.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.pipeline_cost import REPO, git_head, median_round, run_mode

#: the variant without tiles: the `yolox-whole` backend
WHOLE = "whole"
#: the `--before` checkout's own pipeline, as `bench.pipeline_cost --before` measures it
BEFORE = "before"


def child(variant: str, frames: int) -> dict[str, Any]:
    """One measurement in this process: the server's pipeline with the variant's tiles."""
    import server.models
    from bench.pipeline_cost import measure
    from pipeline.stages.detection_tiles import TiledDetector
    from server.core.config import Settings

    load = server.models.load_models

    def load_variant(settings: Any = None) -> Any:
        if variant == WHOLE:
            return load(Settings(object_detector="yolox-whole"))
        pipeline, vad = load(settings)
        for stage in pipeline.stages:
            detector = getattr(stage, "detector", None)
            if isinstance(detector, TiledDetector):
                detector.idle_period_s = float(variant)
        return pipeline, vad

    server.models.load_models = load_variant  # type: ignore[assignment]
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    return {"variant": variant, **measure(frames)}


def run_variant(variant: str, frames: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "GLOG_minloglevel": "2", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "bench.tile_cadence", "--child", variant, "--frames", str(frames)],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"tile_cadence {variant} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--periods", default="2,4,6,8", help="idle periods of the tiles, seconds (2: every pass)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--before", type=Path, default=None,
                        help="also a checkout of the old code in the same turns (`bench.pipeline_cost` there)")
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.frames)))
        return
    variants = [p.strip() for p in args.periods.split(",") if p.strip()] + [WHOLE]
    if args.before is not None:
        variants.append(BEFORE)
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for i in range(args.rounds):
        for variant in variants if i % 2 == 0 else variants[::-1]:  # alternate who goes first
            runs[variant].append(run_mode("single", args.frames, args.before.resolve()) if variant == BEFORE
                                 else run_variant(variant, args.frames))
    result: dict[str, Any] = {
        "about": "CPU ms per analysed frame, one pinned core, the face clip at 5 fps of session time, per idle "
                 f"period of the tiles (seconds; 'whole': no tiles); in turns, {args.rounds} rounds, median round",
        "cpu_ms_per_frame": {v: median_round(r)["cpu_ms_per_frame"] for v, r in runs.items()},
        "objects_cpu_ms_per_frame": {v: median_round(r)["stage_cpu_ms_per_frame"]["objects"] for v, r in runs.items()},
        "rounds_cpu_ms_per_frame": {v: [r["cpu_ms_per_frame"] for r in rs] for v, rs in runs.items()},
    }
    if args.before is not None:
        before = result["cpu_ms_per_frame"][BEFORE]
        result["commits"] = {"before": git_head(args.before), "after": git_head(REPO)}
        result["ratio_to_before"] = {v: round(ms / before, 3) for v, ms in result["cpu_ms_per_frame"].items()}
    text = json.dumps(result, indent=1)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
