"""Pipeline cost per frame and per stage over the face clip: the compute limit.

Frames of the clip are fed at the server's analysis rate (5 fps of session time), so every stage
with a schedule of its own (the face path every other frame while a face is tracked, objects and
posture at their rates, the 1 Hz full-range face pass) runs on the share of frames it runs on in
production (`stage_run_share`); a stage's mean includes the frames it is carried forward on (0 ms). Each mode runs
in its own process so thread settings take effect before the libraries load:

* `single`: pinned to one core (sched_setaffinity) with OMP_NUM_THREADS=1 and onnxruntime at one
  intra-op thread (the default of the objects stage and the VAD). mediapipe's graphs have no thread
  setting in the Python API; the pin keeps them on one core. CPU ms per frame here is the cost
  that sets the compute limit: frames per second per core = 1000 / that.
* `default`: the server's own settings on all cores.

    python -m bench.pipeline_cost --mode single --frames 120 --json out.json

Before and after on the same machine in the same run (`--before` a checkout of the old code, e.g.
`git worktree add ../compute-before 0872ad1`): the two are measured in turns, `--rounds` times
each (the machine is shared: turns spread other load over both), and the median round of each is
compared per stage. CPU time, not wall time, so a neighbour's load does not count against us:

    python -m bench.pipeline_cost --before ../compute-before --rounds 5 \
        --json bench/results/pipeline_cost.json --chart bench/results/pipeline_cost.png
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FACE_CLIP = REPO / "tests" / "data" / "proctoringai_center_left_center_640x480.mp4"
#: the server's default analysis rate (VIGIL_ANALYSIS_FPS)
ANALYSIS_FPS = 5.0
#: the first frames load lazily-initialised graphs; they are not steady-state cost
WARMUP_FRAMES = 10


def measure(frames: int) -> dict[str, Any]:
    import cv2

    from pipeline.frame import VideoFrame
    from server.models import load_models
    from server.tools.candidate.media_files import load_video_frames

    pipeline, _ = load_models()
    clip = load_video_frames(FACE_CLIP, 640, 480, ANALYSIS_FPS)
    session = pipeline.new_session()
    stage_ms: dict[str, list[float]] = {s.name: [] for s in pipeline.stages}
    stage_cpu_ms: dict[str, float] = {s.name: 0.0 for s in pipeline.stages}
    counting = [False]
    for stage in pipeline.stages:  # CPU per stage: process time around each call (graph threads too)
        def timed(frame: Any, upstream: Any, state: Any, _stage: Any = stage, _process: Any = stage.process) -> Any:
            c = time.process_time()
            try:
                return _process(frame, upstream, state)
            finally:
                if counting[0]:
                    stage_cpu_ms[_stage.name] += (time.process_time() - c) * 1000.0
        stage.process = timed  # type: ignore[method-assign]
    to_rgb_ms: list[float] = []
    totals: list[float] = []
    cpu0 = wall0 = 0.0
    for i in range(frames + WARMUP_FRAMES):
        if i == WARMUP_FRAMES:
            cpu0, wall0 = time.process_time(), time.perf_counter()
            counting[0] = True
        t = time.perf_counter()
        rgb = cv2.cvtColor(clip[i % len(clip)], cv2.COLOR_YUV2RGB_I420)  # the server's to_rgb step
        convert = (time.perf_counter() - t) * 1000.0
        analysis = session.analyse(VideoFrame(rgb, t=i / ANALYSIS_FPS, frame_id=i))
        if i >= WARMUP_FRAMES:
            to_rgb_ms.append(convert)
            totals.append(analysis.total_ms + convert)
            for name, out in analysis.outputs.items():
                stage_ms[name].append(out.elapsed_ms)
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0

    def mean(v: list[float]) -> float:
        return round(sum(v) / len(v), 2) if v else 0.0

    return {
        "frames": frames,
        "analysis_fps": ANALYSIS_FPS,
        "cpu_ms_per_frame": round(cpu_s * 1000.0 / frames, 2),
        "wall_ms_per_frame": round(wall_s * 1000.0 / frames, 2),
        "stage_cpu_ms_per_frame": {k: round(v / frames, 2) for k, v in stage_cpu_ms.items()},
        "stage_mean_ms": {"to_rgb": mean(to_rgb_ms), **{k: mean(v) for k, v in stage_ms.items()}},
        "stage_ms_when_run": {k: mean([x for x in v if x > 0]) for k, v in stage_ms.items()},
        "stage_run_share": {k: round(sum(1 for x in v if x > 0) / len(v), 3) for k, v in stage_ms.items()},
        "frames_per_s_per_core": round(frames / cpu_s, 2),
        "frames_per_s_wall": round(frames / wall_s, 2),
        "affinity": sorted(os.sched_getaffinity(0)),
        "loadavg": [round(v, 2) for v in os.getloadavg()],
    }


def run_mode(mode: str, frames: int, repo: Path = REPO) -> dict[str, Any]:
    """Measure in a fresh process with the mode's thread settings, on the code in `repo`."""
    env = {**os.environ, "PYTHONPATH": str(repo), "GLOG_minloglevel": "2"}
    if mode == "single":
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", TF_NUM_INTRAOP_THREADS="1")
    out = subprocess.run([sys.executable, "-m", "bench.pipeline_cost", "--mode", mode, "--frames", str(frames),
                          "--child"], cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"pipeline_cost {mode} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def git_head(repo: Path) -> str:
    out = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round whose total CPU per frame is the median (a whole round, so its stages add up)."""
    ordered = sorted(rounds, key=lambda r: r["cpu_ms_per_frame"])
    return ordered[len(ordered) // 2]


def compare(before_repo: Path, frames: int, rounds: int) -> dict[str, Any]:
    """Before and after in turns, single mode; the median round of each and the ratios per stage."""
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for i in range(rounds):
        order = [("before", before_repo), ("after", REPO)]
        for name, repo in order if i % 2 == 0 else order[::-1]:  # alternate who goes first
            runs[name].append(run_mode("single", frames, repo))
    before, after = median_round(runs["before"]), median_round(runs["after"])
    stages = list(after["stage_cpu_ms_per_frame"])
    return {
        "about": "CPU ms per analysed frame, one pinned core, the face clip at 5 fps of session time; "
                 f"before and after measured in turns, {rounds} rounds each, the median round shown",
        "commits": {"before": git_head(before_repo), "after": git_head(REPO)},
        "frames": frames,
        "before": before,
        "after": after,
        "ratio": round(after["cpu_ms_per_frame"] / before["cpu_ms_per_frame"], 3),
        "stage_ratio": {s: (round(after["stage_cpu_ms_per_frame"][s] / before["stage_cpu_ms_per_frame"][s], 3)
                            if before["stage_cpu_ms_per_frame"].get(s) else None) for s in stages},
        "rounds_cpu_ms_per_frame": {k: [r["cpu_ms_per_frame"] for r in v] for k, v in runs.items()},
    }


def draw(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    before, after = result["before"]["stage_cpu_ms_per_frame"], result["after"]["stage_cpu_ms_per_frame"]
    stages = sorted(after, key=lambda s: -before.get(s, 0.0))
    fig, (ax, share) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    x = range(len(stages))
    ax.bar([i - 0.2 for i in x], [before.get(s, 0.0) for s in stages], 0.4, label="before", color="#999999")
    ax.bar([i + 0.2 for i in x], [after[s] for s in stages], 0.4, label="after", color="#1f77b4")
    ax.set_xticks(list(x), stages, rotation=30, ha="right")
    ax.set(ylabel="CPU ms per analysed frame (one core)",
           title=f"per stage: {result['before']['cpu_ms_per_frame']} -> {result['after']['cpu_ms_per_frame']} ms "
                 f"per frame ({round(100 * result['ratio'])} %)")
    ax.legend()
    runs = result["after"]["stage_run_share"]
    before_runs = result["before"]["stage_run_share"]
    share.barh([i - 0.2 for i in x], [before_runs.get(s, 0.0) for s in stages], 0.4, color="#999999", label="before")
    share.barh([i + 0.2 for i in x], [runs[s] for s in stages], 0.4, color="#1f77b4", label="after")
    share.set_yticks(list(x), stages)
    share.invert_yaxis()
    share.set(xlabel="share of analysed frames the stage ran on", xlim=(0, 1.05),
              title="how often each stage runs (else carried, with its age)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("single", "default"), default="single")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--before", type=Path, default=None, help="a checkout of the old code: compare in turns")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--chart", type=Path, default=None)
    args = parser.parse_args()
    if args.before is not None:
        result = compare(args.before.resolve(), args.frames, args.rounds)
        text = json.dumps(result, indent=1)
        if args.json:
            args.json.write_text(text + "\n")
        if args.chart:
            draw(result, args.chart)
        print(text)
        return
    if not args.child:
        result = run_mode(args.mode, args.frames)
        text = json.dumps(result, indent=1)
        if args.json:
            args.json.write_text(text)
        print(text)
        return
    if args.mode == "single":
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    result = {"mode": args.mode, **measure(args.frames)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
