"""Every benchmark in one command; results to bench/results/ (JSON and a PNG chart).

    .venv/bin/python -m bench.run_all            # the full matrix, ~15-20 min on 2 cores
    .venv/bin/python -m bench.run_all --quick    # a smoke run, ~4 min (results/quick.*)
    .venv/bin/python -m bench.run_all --ws       # with the WebSocket baseline series too

Steps: (1) pipeline cost per stage, one core and default threads; (2) latency and analysed fps for
1..24 candidates over WebRTC (and the WebSocket baseline with --ws), before and after side by side
when the older checkout is there (bench/load_matrix.py BEFORE_REPO); (3) capacity from the matrix,
bisected; (4) overload at twice the capacity for 60 s, by thirds; (4b) admission at capacity;
(5) bandwidth per candidate; (6) efficiency; then the targets, each with how far it is from being met,
and py-spy's profile of the server under load. Every step is bounded (a point <= 60 s with its ramp).
Targets are reported, never asserted: a benchmark that fails a target still writes its results.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench import chart
from bench.load_matrix import bisect_capacity, capacity_from, run_admission, run_overload, run_series
from bench.pipeline_cost import run_mode
from bench.server import REPO

RESULTS = REPO / "bench" / "results"
FULL = {"counts": [1, 4, 8, 16, 24], "point_s": 20.0, "overload_s": 60.0, "cost_frames": 150, "bisect": 2}
QUICK = {"counts": [1, 4], "point_s": 10.0, "overload_s": 20.0, "cost_frames": 40, "bisect": 0}
TARGETS = {"p95_one_candidate_ms": 150.0, "capacity": 16, "efficiency": 0.80, "bandwidth_ratio": 3.0,
           "rss_per_candidate_mb": 50.0, "overload_p95_ms": 1000.0, "overload_fairness": 0.7,
           "generator_cores_per_candidate": 0.03, "latency_sample_share": 0.9}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _target(name: str, target: Any, measured: Any, met: bool, gap: str) -> dict[str, Any]:
    return {"name": name, "target": target, "measured": measured, "met": met, "gap": "" if met else gap}


def derive(results: dict[str, Any]) -> None:
    """Bandwidth, efficiency and targets from the measured parts."""
    cores = os.cpu_count() or 1
    single = results["pipeline_cost"]["single"]
    cost_s = single["cpu_ms_per_frame"] / 1000.0
    webrtc = results["matrix"].get("webrtc", [])
    ws = results["matrix"].get("ws", [])
    one = next((p for p in webrtc if p["clients"] == 1), None)
    one_ws = next((p for p in ws if p["clients"] == 1), None)

    bw: dict[str, Any] = {}
    if one and one_ws:
        b = one["bytes_sent_mean"]
        bw = {"webrtc_video_bytes_per_s": b.get("video"),
              "webrtc_media_bytes_per_s": (b.get("video") or 0) + (b.get("audio") or 0),
              "webrtc_transport_bytes_per_s": b.get("transport"),
              "ws_bytes_per_s": one_ws["bytes_sent_mean"].get("video"),
              "note": "1 candidate each, 640x480 at 15 fps; WebRTC = RTP payload (getStats outbound-rtp "
                      "bytesSent), WebSocket = frame message text (quality-80 JPEG as base64)"}
        if bw["webrtc_video_bytes_per_s"] and bw["ws_bytes_per_s"]:
            bw["ratio_ws_to_webrtc_video"] = round(bw["ws_bytes_per_s"] / bw["webrtc_video_bytes_per_s"], 2)
            bw["ratio_ws_to_webrtc_wire"] = round(bw["ws_bytes_per_s"] / max(1, bw["webrtc_transport_bytes_per_s"] or 0), 2)
    results["bandwidth"] = bw

    cap = results["capacity"]["webrtc"]["capacity"]
    at_cap = next((p for p in webrtc + results["capacity"]["webrtc"].get("bisect", []) if p["clients"] == cap), None)
    fps = at_cap["fps_per_client"]["mean"] if at_cap else 0.0
    efficiency = cap * (fps or 0.0) * cost_s / cores
    # the same ratio at every point: how much of the machine went into analysed frames
    per_point = [{"clients": p["clients"], "transport": p["transport"],
                  "useful_share": round(p["analysed_fps_total"] * cost_s / cores, 3)} for p in webrtc + ws]
    results["efficiency"] = {
        "capacity": cap, "fps_per_candidate_at_capacity": fps, "cpu_s_per_frame": cost_s, "cores": cores,
        "efficiency": round(efficiency, 3),
        "compute_limit_frames_per_s": round(cores / cost_s, 1),
        "compute_limit_candidates_at_5fps": round(cores / cost_s / 5.0, 1),
        "useful_share_by_point": per_point,
        "formula": "capacity x analysed fps per candidate x CPU s per frame (1 core) / cores",
    }
    # marginal RSS: one server serves the whole series, so compare the largest point's end with the
    # 1-candidate point's end (models and first-session warm-up are in both)
    biggest = max(webrtc, key=lambda p: p["clients"], default=None)
    rss_mb = None
    if biggest is not None and one is not None and biggest["clients"] > 1 and biggest["server_rss_end_bytes"]:
        rss_mb = round((biggest["server_rss_end_bytes"] - one["server_rss_end_bytes"]) / 1e6
                       / (biggest["clients"] - 1), 1)
    results["rss_per_candidate_mb"] = {"marginal": rss_mb, "first_session_mb": None if one is None or
                                       one["rss_per_client_bytes"] is None else round(one["rss_per_client_bytes"] / 1e6, 1)}
    p95 = one["latency_ms"]["p95"] if one else None
    ratio = bw.get("ratio_ws_to_webrtc_video")
    results["before_after"] = before_after(results)
    over = results.get("overload") or {}
    thirds_p95 = [t["p95"] for t in over.get("latency_by_third_ms", [])]
    fairness = [f for f in over.get("fairness_by_third", []) if f is not None]
    over_p95 = max((v for v in thirds_p95 if v is not None), default=None)
    over_ok = bool(thirds_p95) and None not in thirds_p95 and over_p95 is not None and over_p95 <= TARGETS["overload_p95_ms"]
    fair = min(fairness, default=None)
    # at the largest point: a generator process's fixed cost (its loop, progress reports) is not per candidate
    largest = max((p for p in webrtc if p.get("generator_cores_per_client") is not None), key=lambda p: p["clients"],
                  default=None)
    gen_max = None if largest is None else largest["generator_cores_per_client"]
    shares = [p["latency_sample_share"] for p in webrtc if p.get("latency_sample_share") is not None]
    share_min = min(shares, default=None)
    results["targets"] = [
        _target("p95 e2e, 1 candidate (ms)", f"<= {TARGETS['p95_one_candidate_ms']:g}", p95,
                p95 is not None and p95 <= TARGETS["p95_one_candidate_ms"],
                f"{p95 - TARGETS['p95_one_candidate_ms']:+.0f} ms" if p95 is not None else "not measured"),
        _target("capacity (candidates)", f">= {TARGETS['capacity']}", cap, cap >= TARGETS["capacity"],
                f"{cap - TARGETS['capacity']:+d} ({cap / TARGETS['capacity']:.0%} of target)"),
        _target("efficiency", f">= {TARGETS['efficiency']:.0%}", f"{efficiency:.0%}",
                efficiency >= TARGETS["efficiency"], f"{100 * (efficiency - TARGETS['efficiency']):+.0f} points"),
        _target("bandwidth WS / WebRTC", f">= {TARGETS['bandwidth_ratio']:g}x", ratio,
                ratio is not None and ratio >= TARGETS["bandwidth_ratio"],
                f"{(ratio or 0) - TARGETS['bandwidth_ratio']:+.1f}x"),
        _target("RSS per candidate (MB)", f"<= {TARGETS['rss_per_candidate_mb']:g}", rss_mb,
                rss_mb is not None and rss_mb <= TARGETS["rss_per_candidate_mb"],
                f"{(rss_mb or 0) - TARGETS['rss_per_candidate_mb']:+.0f} MB"),
        _target("overload p95, worst third (ms)", f"<= {TARGETS['overload_p95_ms']:g}", over_p95, over_ok,
                f"{(over_p95 or 0) - TARGETS['overload_p95_ms']:+.0f} ms" if over_p95 is not None else "not measured"),
        _target("overload fairness, min/max fps (worst third)", f">= {TARGETS['overload_fairness']}", fair,
                fair is not None and fair >= TARGETS["overload_fairness"],
                f"{(fair or 0) - TARGETS['overload_fairness']:+.2f}"),
        _target("generator cores per candidate (largest point)", f"<= {TARGETS['generator_cores_per_candidate']}", gen_max,
                gen_max is not None and gen_max <= TARGETS["generator_cores_per_candidate"],
                f"{(gen_max or 0) - TARGETS['generator_cores_per_candidate']:+.3f}"),
        _target("latency-sample share (lowest point)", f">= {TARGETS['latency_sample_share']:.0%}", share_min,
                share_min is not None and share_min >= TARGETS["latency_sample_share"],
                f"{(share_min or 0) - TARGETS['latency_sample_share']:+.2f}"),
    ]


def before_after(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per candidate count, before and after from the same run side by side, with after / before ratios."""
    before = {p["clients"]: p for p in results.get("matrix_before", {}).get("webrtc", [])}
    rows = []
    for after in results["matrix"].get("webrtc", []):
        old = before.get(after["clients"])
        if old is None:
            continue

        def pick(p: dict[str, Any]) -> dict[str, Any]:
            return {"p50_ms": p["latency_ms"]["p50"], "p95_ms": p["latency_ms"]["p95"],
                    "fps_min": p["fps_per_client"]["min"], "fps_mean": p["fps_per_client"]["mean"],
                    "server_cores_per_client": p["server_cores_per_client"],
                    "generator_cores_per_client": p["generator_cores_per_client"],
                    "latency_sample_share": p["latency_sample_share"], "host_loadavg": p["host_loadavg"]}

        a, b = pick(after), pick(old)
        ratios = {k: round(a[k] / b[k], 3) for k in ("p50_ms", "p95_ms", "fps_mean", "server_cores_per_client")
                  if a[k] is not None and b[k]}
        rows.append({"clients": after["clients"], "before": b, "after": a, "after_over_before": ratios})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run_all")
    parser.add_argument("--quick", action="store_true", help="a few short points (smoke test)")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument("--no-before", action="store_true", help="only this checkout's server")
    parser.add_argument("--ws", action="store_true", help="the WebSocket baseline series too")
    parser.add_argument("--counts", type=lambda v: [int(x) for x in v.split(",")], default=None,
                        help="candidate counts of the matrix, e.g. 1,4,8 (a reduced run)")
    parser.add_argument("--rederive", action="store_true", help="recompute targets and chart from the last JSON")
    args = parser.parse_args(argv)
    if args.rederive:
        path = RESULTS / ("quick.json" if args.quick else "bench.json")
        loaded: dict[str, Any] = json.loads(path.read_text())
        derive(loaded)
        path.write_text(json.dumps(loaded, indent=1))
        chart.draw(loaded, path.with_suffix(".png"))
        return 0
    plan: dict[str, Any] = dict(QUICK if args.quick else FULL)
    if args.counts:
        plan["counts"] = args.counts
    name = "quick" if args.quick else "bench"
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results: dict[str, Any] = {
        "mode": "quick" if args.quick else ("reduced" if args.counts else "full"), "plan": plan,
        "targets_wanted": TARGETS,
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                    "cpu": _cpu_model(), "loadavg_start": [round(v, 2) for v in os.getloadavg()]},
    }
    log("1. pipeline cost (single core, then default threads)")
    results["pipeline_cost"] = {m: run_mode(m, plan["cost_frames"]) for m in ("single", "default")}
    log(f"   {results['pipeline_cost']['single']['cpu_ms_per_frame']} ms CPU/frame on one core")

    log("2. matrix (before and after side by side)" if not args.no_before else "2. matrix")
    series = run_series("webrtc", plan["counts"], plan["point_s"], log, with_before=not args.no_before)
    results["matrix"] = {"webrtc": series["after"]}
    if "before" in series:
        results["matrix_before"] = {"webrtc": series["before"]}
    if args.ws:
        results["matrix"]["ws"] = run_series("ws", plan["counts"], plan["point_s"], log)["after"]
    log("3. capacity")
    results["capacity"] = {t: capacity_from(points) for t, points in results["matrix"].items()}
    if "matrix_before" in results:
        results["capacity_before"] = {"webrtc": capacity_from(results["matrix_before"]["webrtc"])}
    if plan["bisect"]:
        results["capacity"]["webrtc"] = bisect_capacity("webrtc", results["capacity"]["webrtc"], plan["point_s"],
                                                        log, plan["bisect"])
    cap = results["capacity"]["webrtc"]["capacity"]
    log(f"   webrtc capacity {cap}" + (f" (before: {results['capacity_before']['webrtc']['capacity']})"
                                       if "capacity_before" in results else ""))
    log("4. overload (2 x capacity, admission control off)")
    overload = run_overload(max(2, 2 * cap), plan["overload_s"], log, with_before=not args.no_before)
    results["overload"] = overload["after"]
    if "before" in overload:
        results["overload_before"] = overload["before"]
    log("4b. admission at capacity")
    results["admission"] = run_admission(max(1, cap), log)
    derive(results)
    if not args.no_profile:
        log("7. profile (py-spy)")
        try:
            from bench.profile import record

            prof = record(4, 15.0 if args.quick else 20.0)
            results["profile"] = {"rooms": prof["rooms"][:12], "samples": prof["samples"]}
        except Exception as exc:  # py-spy missing or not permitted: the rest still stands
            results["profile"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    results["machine"]["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    results["finished"] = time.strftime("%Y-%m-%d %H:%M")
    results["elapsed_s"] = round(time.time() - started)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=1))
    chart.draw(results, RESULTS / f"{name}.png")
    log(f"wrote {RESULTS / (name + '.json')} and .png in {results['elapsed_s']} s")
    for t in results["targets"]:
        log(f"   {'ok  ' if t['met'] else 'MISS'} {t['name']}: {t['measured']} (wanted {t['target']}) {t['gap']}")
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
