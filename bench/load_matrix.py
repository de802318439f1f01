"""Load points against a fresh server: the latency/fps matrix, capacity, overload, admission and bandwidth.

Each transport's series runs against its own `vigil serve` subprocess (temp data dir, embedded
Valkey); every point is one `run_loadtest` with its sessions ended afterwards, so points do not
inherit each other's candidates. The generator replays packets encoded once (`--generator replay`),
so it costs the machine little and the figures are the server's.

Before and after. With a second checkout (`BEFORE_REPO`, a `git worktree` of the older commit), a
series runs both servers side by side: at each candidate count the older code, then this one, with the
same generator, so the host's noise (other processes on a shared machine) hits both alike and their
ratio means something even when the absolute figures do not. Both servers run with admission control
off (`VIGIL_MAX_SESSIONS` = UNLIMITED_SESSIONS), so overload measures shedding; `run_admission`
measures the refusal at capacity on its own.

Capacity is the largest candidate count whose every client got at least CAPACITY_MIN_FPS analyses
a second (5 fps with FPS_TOLERANCE for the analysis loop's scheduling jitter) at a p95 latency of at
most CAPACITY_P95_MS. It comes from the matrix, then (optionally) a bisection between the largest
passing and the smallest failing count.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.server import REPO, BenchServer
from server.tools.loadtest.options import LoadTestOptions
from server.tools.loadtest.runner import run_loadtest
from server.tools.loadtest.stats import split, window_summary

FACE_CLIP = REPO / "tests" / "data" / "proctoringai_center_left_center_640x480.mp4"
SPEECH = REPO.parent / "shared" / "data" / "audio" / "speech" / "librivox_0870.wav"
CAPACITY_MIN_FPS = 5.0
#: AnalysisLoop schedules from the planned time; a client at 4.9 fps over 20 s is at the rate
FPS_TOLERANCE = 0.05
CAPACITY_P95_MS = 200.0
#: a checkout of the code before this work (`git worktree add ../perf-before 0872ad1`); used when present
BEFORE_REPO = Path(os.environ.get("VIGIL_BENCH_BEFORE", "/work/scratch/perf-before"))
#: admission control off for the matrix and overload: they measure what the server does past capacity
UNLIMITED_SESSIONS = {"VIGIL_MAX_SESSIONS": "1000"}


def options(url: str, clients: int, duration_s: float, transport: str, *, raw: bool = False) -> LoadTestOptions:
    return LoadTestOptions(url=url, clients=clients, duration_s=duration_s, video=FACE_CLIP,
                           audio=SPEECH if SPEECH.is_file() else None, transport=transport,  # type: ignore[arg-type]
                           ramp_s=min(6.0, 0.25 * clients), raw_latencies=raw, generator="replay")


@contextlib.contextmanager
def servers(*, with_before: bool, env: dict[str, str] | None = None) -> Iterator[dict[str, BenchServer]]:
    """{"before": the older checkout's server (when asked and present), "after": this checkout's}."""
    labels = [("before", BEFORE_REPO)] if with_before and (BEFORE_REPO / "server").is_dir() else []
    labels.append(("after", REPO))
    with contextlib.ExitStack() as stack:
        yield {label: stack.enter_context(BenchServer(repo=repo, env={**UNLIMITED_SESSIONS, **(env or {})}))
               for label, repo in labels}


def point_summary(report: dict[str, Any], transport: str) -> dict[str, Any]:
    """The figures a matrix point keeps (the full report is large)."""
    s = report["overall"][transport]
    srv, gen = report["server"], report["generator"]
    cores = srv["cpu_cores_steady"]
    return {
        "clients": s["clients"], "transport": transport, "failures": s["failures"],
        "latency_ms": s["latency_ms"], "latency_sample_share": s["latency_ms"]["timed_share"],
        "waits_ms": s.get("waits_ms", {}), "fps_per_client": s["analysed_fps_per_client"],
        "analysed_fps_total": s["analysed_fps_total"], "dropped_share": s["dropped_share"],
        "setup_s": s["setup_s"], "video_bytes_per_s_per_client": s["video_bytes_per_s_per_client"],
        "server_cpu_cores": cores, "server_cores_per_client": None if cores is None else round(cores / s["clients"], 4),
        "generator_kind": gen.get("kind"), "generator_cores_per_client": gen["cpu_per_client_cores"],
        "server_rss_start_bytes": srv["rss_start_bytes"],
        "server_rss_end_bytes": srv["rss_end_bytes"], "rss_per_client_bytes": srv["rss_per_client_bytes"],
        "generator_cores": gen["cpu_cores_used"], "generator_processes": gen["processes"],
        "host_loadavg": gen["host_loadavg_end"], "host_loadavg_start": gen["host_loadavg_start"],
        "bytes_sent_mean": _mean_bytes(report, transport),
    }


def _mean_bytes(report: dict[str, Any], transport: str) -> dict[str, float]:
    clients = [c for c in report["clients"] if c["transport"] == transport and c["ok"] and c["streaming_s"] > 0]
    out: dict[str, float] = {}
    for c in clients:
        for k, v in c["bytes_sent"].items():
            out[k] = out.get(k, 0.0) + v / c["streaming_s"] / len(clients)
    return {k: round(v) for k, v in out.items()}


def passes(point: dict[str, Any]) -> bool:
    p95 = point["latency_ms"]["p95"]
    fps_min = point["fps_per_client"]["min"]
    return (point["failures"] == 0 and p95 is not None and p95 <= CAPACITY_P95_MS
            and fps_min is not None and fps_min >= CAPACITY_MIN_FPS * (1 - FPS_TOLERANCE))


def run_point(server: BenchServer, transport: str, n: int, duration_s: float, log: Any,
              label: str = "") -> dict[str, Any]:
    log(f"  {label + ' ' if label else ''}{transport} x{n} for {duration_s:g} s ...")
    point = point_summary(asyncio.run(run_loadtest(options(server.url, n, duration_s, transport))), transport)
    lat = point["latency_ms"]
    log(f"    p50 {lat['p50']} p95 {lat['p95']} ms (timed {point['latency_sample_share']}), "
        f"fps/client {point['fps_per_client']['mean']} (min {point['fps_per_client']['min']}), "
        f"server {point['server_cores_per_client']} cores/client, generator {point['generator_cores_per_client']}, "
        f"failures {point['failures']}, load {point['host_loadavg']}")
    time.sleep(2.0)  # let the server settle between points
    return point


def run_series(transport: str, counts: list[int], duration_s: float, log: Any, *,
               with_before: bool = False) -> dict[str, list[dict[str, Any]]]:
    """{label: points}: each count against every server in turn (before, then after)."""
    with servers(with_before=with_before) as running:
        out: dict[str, list[dict[str, Any]]] = {label: [] for label in running}
        for n in counts:
            for label, server in running.items():
                out[label].append(run_point(server, transport, n, duration_s, log, label))
    return out


def capacity_from(points: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(points, key=lambda p: p["clients"])
    passing = [p["clients"] for p in ordered if passes(p)]
    failing = [p["clients"] for p in ordered if not passes(p)]
    best = max(passing, default=0)
    above = min((n for n in failing if n > best), default=None)
    return {"capacity": best, "first_failing": above, "rule": {
        "min_fps_each": CAPACITY_MIN_FPS, "fps_tolerance": FPS_TOLERANCE, "p95_ms_max": CAPACITY_P95_MS}}


def bisect_capacity(transport: str, known: dict[str, Any], duration_s: float, log: Any,
                    max_points: int = 3) -> dict[str, Any]:
    """Narrow capacity between the largest passing and smallest failing matrix counts."""
    lo, hi = known["capacity"], known["first_failing"]
    tried: list[dict[str, Any]] = []
    if hi is None or hi - lo <= 1:
        return {**known, "bisect": tried}
    with servers(with_before=False) as running:
        while hi - lo > 1 and len(tried) < max_points:
            mid = (lo + hi) // 2
            point = run_point(running["after"], transport, mid, duration_s, log, "bisect")
            tried.append(point)
            lo, hi = (mid, hi) if passes(point) else (lo, mid)
    return {**known, "capacity": lo, "first_failing": hi, "bisect": tried}


def overload_figures(report: dict[str, Any], clients: int, duration_s: float) -> dict[str, Any]:
    """Latency and fair shedding in each third of the steady window, RSS over time and its slope."""
    steady_from = report["t0"] + report["options"]["ramp_s"]
    timelines = [[(t, lat) for t, lat in c.get("timeline") or []] for c in report["clients"]]
    thirds = [window_summary(timelines, w) for w in split(steady_from, steady_from + duration_s, 3)]
    t0_ramp = report["options"]["ramp_s"]
    samples = [s for s in report["server"]["samples"] if s["rss_bytes"] is not None]
    steady = [s for s in samples if t0_ramp + 5 <= s["t"] <= t0_ramp + duration_s]
    slope = _slope([(s["t"], s["rss_bytes"] / 1e6) for s in steady])
    return {
        "clients": clients, "duration_s": duration_s,
        "summary": point_summary(report, "webrtc"),
        "by_third": thirds,
        "latency_by_third_ms": [t["latency_ms"] for t in thirds],
        "fairness_by_third": [t["fairness"] for t in thirds],
        "rss_mb_over_time": [[s["t"], round(s["rss_bytes"] / 1e6, 1)] for s in samples],
        "rss_slope_mb_per_min": None if slope is None else round(slope * 60.0, 2),
        "dc_dropped": sum(c["server_counters"].get("dc_dropped", 0) for c in report["clients"]),
    }


def run_overload(clients: int, duration_s: float, log: Any, *, with_before: bool = False) -> dict[str, Any]:
    """`clients` WebRTC candidates for `duration_s` against each server in turn (admission control off)."""
    out: dict[str, Any] = {}
    with servers(with_before=with_before) as running:
        for label, server in running.items():
            log(f"  overload {label}: webrtc x{clients} for {duration_s:g} s ...")
            report = asyncio.run(run_loadtest(options(server.url, clients, duration_s, "webrtc", raw=True)))
            out[label] = figures = overload_figures(report, clients, duration_s)
            log(f"    p95 by third {[t['p95'] for t in figures['latency_by_third_ms']]} ms, fairness "
                f"{figures['fairness_by_third']}, RSS {figures['rss_slope_mb_per_min']} MB/min")
            time.sleep(2.0)
    return out


def run_admission(capacity: int, log: Any, duration_s: float = 10.0) -> dict[str, Any]:
    """2 x capacity candidates against a server whose VIGIL_MAX_SESSIONS is the capacity: how many were
    admitted, how many refused and with what (503 session_limit expected)."""
    clients = max(2, 2 * capacity)
    log(f"  admission: webrtc x{clients} against VIGIL_MAX_SESSIONS={max(1, capacity)} ...")
    with BenchServer(env={"VIGIL_MAX_SESSIONS": str(max(1, capacity))}) as server:
        report = asyncio.run(run_loadtest(options(server.url, clients, duration_s, "webrtc")))
    refused = [c for c in report["clients"] if not c["ok"] and c["session_id"] is None]
    admitted = [c for c in report["clients"] if c["ok"]]
    codes = sorted({"503 session_limit" if "503" in (c["error"] or "") and "session_limit" in (c["error"] or "")
                    else (c["error"] or "")[:60] for c in refused})
    lat = report["overall"]["webrtc"]["latency_ms"]
    log(f"    admitted {len(admitted)}, refused {len(refused)} ({codes}), admitted p95 {lat['p95']} ms")
    return {"capacity": capacity, "clients": clients, "admitted": len(admitted), "refused": len(refused),
            "refusals": codes, "admitted_latency_ms": lat,
            "admitted_fps_per_client": report["overall"]["webrtc"]["analysed_fps_per_client"]}


def _slope(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    var = sum((p[0] - mx) ** 2 for p in points)
    return None if var == 0 else sum((p[0] - mx) * (p[1] - my) for p in points) / var
