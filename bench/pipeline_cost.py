"""Pipeline cost per frame and per stage over the face clip: the compute limit.

Frames of the clip are fed at the server's analysis rate (5 fps of session time), so the 2 Hz
stages (objects, posture) and the 1 Hz full-range face pass run on the share of frames they run on
in production; a stage's mean includes the frames it is carried forward on (0 ms). Each mode runs
in its own process so thread settings take effect before the libraries load:

* `single`: pinned to one core (sched_setaffinity) with OMP_NUM_THREADS=1 and onnxruntime at one
  intra-op thread (the default of the objects stage and the VAD). mediapipe's graphs have no thread
  setting in the Python API; the pin keeps them on one core. CPU ms per frame here is the cost
  that sets the compute limit: frames per second per core = 1000 / that.
* `default`: the server's own settings on all cores.

    python -m bench.pipeline_cost --mode single --frames 120 --json out.json
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


def run_mode(mode: str, frames: int) -> dict[str, Any]:
    """Measure in a fresh process with the mode's thread settings."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "GLOG_minloglevel": "2"}
    if mode == "single":
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", TF_NUM_INTRAOP_THREADS="1")
    out = subprocess.run([sys.executable, "-m", "bench.pipeline_cost", "--mode", mode, "--frames", str(frames),
                          "--child"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"pipeline_cost {mode} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("single", "default"), default="single")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
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
