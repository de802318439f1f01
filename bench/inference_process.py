"""Thread vs process inference (`VIGIL_INFERENCE`, issue 21 item 4), side by side in the same run.

Two servers run at once (one per mode; an idle one costs next to nothing); at each candidate count
the points alternate between them, `--rounds` times, first one mode then the other, so the shared
host's noise falls on both. The loadtest's own server figure (`process_cpu_seconds_total`) counts
the worker process only; here the server's CPU is read from /proc for the worker and its children
over the same steady window, split into the worker (event loop, aiortc, audio, frame conversion),
its inference child (with `process`; multiprocessing's resource tracker included) and the embedded
Valkey (reported, not counted as the server's: the same in both modes). The pipeline's own cost is
`bench.pipeline_cost --mode single` (one pinned core), measured at the start and at the end.

    python -m bench.inference_process --counts 4,8 --rounds 2 --json bench/results/inference_process.json

`--compare workers` runs the same side by side for `vigil serve --workers 1` against `--workers 2`
(issue 21 item 5: "the same benchmark on --workers 2"); there the root process is the supervisor and
the workers are its children, so compare `server_cores_per_client` (root + children), not the
root's share.

    python -m bench.inference_process --compare workers --counts 4,8 --json bench/results/workers.json
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load_matrix import UNLIMITED_SESSIONS, options, point_summary
from bench.pipeline_cost import ANALYSIS_FPS, run_mode
from bench.server import BenchServer
from server.tools.loadtest.runner import run_loadtest


@dataclass(frozen=True)
class ServerMode:
    env: tuple[tuple[str, str], ...] = ()
    args: tuple[str, ...] = ()


#: what each `--compare` sets side by side, by mode name (the first mode goes first in odd rounds)
COMPARISONS: dict[str, dict[str, ServerMode]] = {
    "inference": {"thread": ServerMode(env=(("VIGIL_INFERENCE", "thread"),)),
                  "process": ServerMode(env=(("VIGIL_INFERENCE", "process"),))},
    "workers": {"workers1": ServerMode(args=("--workers", "1")), "workers2": ServerMode(args=("--workers", "2"))},
}
MODES = tuple(COMPARISONS["inference"])
TICK = os.sysconf("SC_CLK_TCK")
SAMPLE_S = 0.5


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def tree_cpu(root: int) -> dict[str, float]:
    """CPU seconds of the worker, its inference child(ren) and its Valkey (every descendant by kind)."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            got = _stat(int(entry))
            if got is not None:
                parents[int(entry)], cpu[int(entry)] = got
    out = {"worker": cpu.get(root, 0.0), "inference": 0.0, "valkey": 0.0}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent:
                frontier.append(pid)
                out["valkey" if "valkey" in _cmdline(pid) else "inference"] += cpu[pid]
    return out


class TreeSampler:
    """Samples `tree_cpu` every SAMPLE_S in a thread while a point runs."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), tree_cpu(self.root)))
            self._stop.wait(SAMPLE_S)

    def cores(self, start: float, end: float) -> dict[str, float] | None:
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return None
        (t0, a), (t1, b) = inside[0], inside[-1]
        return {k: round((b[k] - a[k]) / (t1 - t0), 3) for k in a}


def run_point(server: BenchServer, mode: str, n: int, duration_s: float) -> dict[str, Any]:
    opts = options(server.url, n, duration_s, "webrtc")
    with TreeSampler(server.pid) as sampler:
        report = asyncio.run(run_loadtest(opts))
    point = point_summary(report, "webrtc")
    start = report["t0"] + opts.ramp_s
    cores = sampler.cores(start, start + opts.duration_s)
    point["mode"] = mode
    point["tree_cores"] = cores
    if cores is not None:
        server_cores = cores["worker"] + cores["inference"]
        point["server_cores_tree"] = round(server_cores, 3)
        point["server_cores_tree_per_client"] = round(server_cores / n, 4)
        point["worker_cores_per_client"] = round(cores["worker"] / n, 4)
    print(f"  {mode:7s} x{n}: fps {point['fps_per_client']['mean']} (min {point['fps_per_client']['min']}), "
          f"p50/p95 {point['latency_ms']['p50']}/{point['latency_ms']['p95']} ms, cores {cores}, "
          f"load {point['host_loadavg']}", flush=True)
    time.sleep(2.0)
    return point


def summarise(points: list[dict[str, Any]], cpu_ms_per_frame: float,
              modes: tuple[str, ...] = MODES) -> dict[str, Any]:
    """Per mode and count: medians over the rounds; the server's cost per candidate against the pipeline's
    own cost for the frames it analysed (pipeline CPU per frame x analysed fps: at 5 fps, issue 21's ratio)."""
    out: dict[str, Any] = {}
    for mode in modes:
        for n in sorted({p["clients"] for p in points}):
            mine = [p for p in points if p["mode"] == mode and p["clients"] == n]
            if not mine:
                continue

            def med(key: str, sub: str | None = None, rows: list[dict[str, Any]] = mine) -> float | None:
                raw = [(p[key] if sub is None else (p[key] or {}).get(sub)) for p in rows]
                raw = [v[0] if isinstance(v, list) else v for v in raw]  # a load average: its 1-minute figure
                vals = [float(v) for v in raw if v is not None]
                return round(statistics.median(vals), 4) if vals else None

            fps = med("fps_per_client", "mean")
            per_client = med("server_cores_tree_per_client")
            pipeline_cores = None if not fps else cpu_ms_per_frame * fps / 1000.0
            out[f"{mode}@{n}"] = {
                "rounds": len(mine), "fps_mean": fps, "fps_min": med("fps_per_client", "min"),
                "p50_ms": med("latency_ms", "p50"), "p95_ms": med("latency_ms", "p95"),
                "server_cores_per_client": per_client, "worker_cores_per_client": med("worker_cores_per_client"),
                "pipeline_cores_per_client": None if pipeline_cores is None else round(pipeline_cores, 4),
                "ratio_to_pipeline": None if per_client is None or not pipeline_cores
                else round(per_client / pipeline_cores, 2),
                "host_loadavg": med("host_loadavg"),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.inference_process")
    parser.add_argument("--compare", choices=sorted(COMPARISONS), default="inference")
    parser.add_argument("--counts", default="4,8")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--json", type=Path, default=Path("bench/results/inference_process.json"))
    parser.add_argument("--resummarise", action="store_true", help="recompute the summary of the last JSON")
    args = parser.parse_args()
    if args.resummarise:
        done = json.loads(args.json.read_text())
        cpu = done["pipeline_cpu_ms_per_frame"]
        done["summary"] = summarise(done["points"], sum(cpu) / len(cpu), tuple(COMPARISONS[done.get("compare", "inference")]))
        args.json.write_text(json.dumps(done, indent=1))
        print(json.dumps(done["summary"], indent=1))
        return
    counts = [int(c) for c in args.counts.split(",")]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    cost_before = run_mode("single", 120)
    print(f"pipeline: {cost_before['cpu_ms_per_frame']} ms CPU per frame (one core)", flush=True)
    points: list[dict[str, Any]] = []
    compared = COMPARISONS[args.compare]
    modes = tuple(compared)
    with contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(BenchServer(env={**UNLIMITED_SESSIONS, **dict(mode.env)}, args=mode.args))
                   for name, mode in compared.items()}
        for n in counts:
            for r in range(args.rounds):
                order = modes if r % 2 == 0 else modes[::-1]  # alternate who goes first
                for mode in order:
                    points.append(run_point(servers[mode], mode, n, args.seconds))
                    args.json.with_suffix(".points.json").write_text(json.dumps(points))  # kept if a later step fails
    cost_after = run_mode("single", 120)
    cpu_ms = (cost_before["cpu_ms_per_frame"] + cost_after["cpu_ms_per_frame"]) / 2
    result = {
        "compare": args.compare, "started_at": started, "finished_at": time.time(), "counts": counts,
        "rounds": args.rounds,
        "seconds": args.seconds, "pipeline_cpu_ms_per_frame": [cost_before["cpu_ms_per_frame"],
                                                               cost_after["cpu_ms_per_frame"]],
        "pipeline_cores_per_candidate_at_5fps": round(cpu_ms * ANALYSIS_FPS / 1000.0, 4),
        "summary": summarise(points, cpu_ms, modes), "points": points,
    }
    args.json.write_text(json.dumps(result, indent=1))
    args.json.with_suffix(".points.json").unlink()
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
