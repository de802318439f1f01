"""Load points against a fresh server: the latency/fps matrix, capacity, overload and bandwidth.

Each transport's series runs against its own `vigil serve` subprocess (temp data dir, embedded
Valkey); every point is one `run_loadtest` with its sessions ended afterwards, so points do not
inherit each other's candidates.

Capacity is the largest candidate count whose every client got at least CAPACITY_MIN_FPS analyses
a second (5 fps with FPS_TOLERANCE for the analysis loop's scheduling jitter) at a p95 latency of at
most CAPACITY_P95_MS. It comes from the matrix, then (optionally) a bisection between the largest
passing and the smallest failing count.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.server import REPO, BenchServer
from server.tools.loadtest.options import LoadTestOptions
from server.tools.loadtest.runner import run_loadtest

FACE_CLIP = REPO / "tests" / "data" / "proctoringai_center_left_center_640x480.mp4"
SPEECH = REPO.parent / "shared" / "data" / "audio" / "speech" / "librivox_0870.wav"
CAPACITY_MIN_FPS = 5.0
#: AnalysisLoop schedules from the planned time; a client at 4.9 fps over 20 s is at the rate
FPS_TOLERANCE = 0.05
CAPACITY_P95_MS = 200.0


def options(url: str, clients: int, duration_s: float, transport: str, *, raw: bool = False) -> LoadTestOptions:
    return LoadTestOptions(url=url, clients=clients, duration_s=duration_s, video=FACE_CLIP,
                           audio=SPEECH if SPEECH.is_file() else None, transport=transport,  # type: ignore[arg-type]
                           ramp_s=min(6.0, 0.25 * clients), raw_latencies=raw)


def point_summary(report: dict[str, Any], transport: str) -> dict[str, Any]:
    """The figures a matrix point keeps (the full report is large)."""
    s = report["overall"][transport]
    srv = report["server"]
    return {
        "clients": s["clients"], "transport": transport, "failures": s["failures"],
        "latency_ms": s["latency_ms"], "fps_per_client": s["analysed_fps_per_client"],
        "analysed_fps_total": s["analysed_fps_total"], "dropped_share": s["dropped_share"],
        "setup_s": s["setup_s"], "video_bytes_per_s_per_client": s["video_bytes_per_s_per_client"],
        "server_cpu_cores": srv["cpu_cores_steady"], "server_rss_start_bytes": srv["rss_start_bytes"],
        "server_rss_end_bytes": srv["rss_end_bytes"], "rss_per_client_bytes": srv["rss_per_client_bytes"],
        "generator_cores": report["generator"]["cpu_cores_used"],
        "generator_processes": report["generator"]["processes"],
        "host_loadavg": report["generator"]["host_loadavg_end"],
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


def run_series(transport: str, counts: list[int], duration_s: float, log: Any) -> list[dict[str, Any]]:
    points = []
    with BenchServer() as server:
        for n in counts:
            log(f"  {transport} x{n} for {duration_s:g} s ...")
            report = asyncio.run(run_loadtest(options(server.url, n, duration_s, transport)))
            point = point_summary(report, transport)
            points.append(point)
            log(f"    p50 {point['latency_ms']['p50']} p95 {point['latency_ms']['p95']} ms, "
                f"fps/client {point['fps_per_client']['mean']} (min {point['fps_per_client']['min']}), "
                f"server {point['server_cpu_cores']} cores, failures {point['failures']}")
            time.sleep(2.0)  # let the server settle between points
    return points


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
    with BenchServer() as server:
        while hi - lo > 1 and len(tried) < max_points:
            mid = (lo + hi) // 2
            log(f"  bisect {transport} x{mid} ...")
            point = point_summary(asyncio.run(run_loadtest(options(server.url, mid, duration_s, transport))), transport)
            tried.append(point)
            lo, hi = (mid, hi) if passes(point) else (lo, mid)
            time.sleep(2.0)
    return {**known, "capacity": lo, "first_failing": hi, "bisect": tried}


def run_overload(clients: int, duration_s: float, log: Any) -> dict[str, Any]:
    """`clients` WebRTC candidates for `duration_s`: latency by thirds of the run, RSS over time."""
    log(f"  overload: webrtc x{clients} for {duration_s:g} s ...")
    with BenchServer() as server:
        report = asyncio.run(run_loadtest(options(server.url, clients, duration_s, "webrtc", raw=True)))
    thirds: list[list[float]] = [[], [], []]
    for c in report["clients"]:
        lat = c.get("latencies_ms") or []
        for i, v in enumerate(lat):
            thirds[min(2, 3 * i // max(1, len(lat)))].append(v)
    from server.tools.loadtest.stats import latency_summary

    t0_ramp = report["options"]["ramp_s"]
    samples = [s for s in report["server"]["samples"] if s["rss_bytes"] is not None]
    steady = [s for s in samples if t0_ramp + 5 <= s["t"] <= t0_ramp + duration_s]
    slope = _slope([(s["t"], s["rss_bytes"] / 1e6) for s in steady])
    return {
        "clients": clients, "duration_s": duration_s,
        "summary": point_summary(report, "webrtc"),
        "latency_by_third_ms": [latency_summary(t) for t in thirds],
        "rss_mb_over_time": [[s["t"], round(s["rss_bytes"] / 1e6, 1)] for s in samples],
        "rss_slope_mb_per_min": None if slope is None else round(slope * 60.0, 2),
        "dc_dropped": sum(c["server_counters"].get("dc_dropped", 0) for c in report["clients"]),
    }


def _slope(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    var = sum((p[0] - mx) ** 2 for p in points)
    return None if var == 0 else sum((p[0] - mx) * (p[1] - my) for p in points) / var
