"""One PNG of a benchmark run: latency and fps against candidates, stage costs, overload, bandwidth,
and the targets with how far each is from being met."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"webrtc": "#1f77b4", "ws": "#d62728", "webrtc before": "#7f7f7f"}


def _series(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every plotted series by label: this run's transports, and the older code's WebRTC if measured."""
    out = dict(results.get("matrix", {}))
    before = results.get("matrix_before", {}).get("webrtc")
    if before:
        out["webrtc before"] = before
    return out


def draw(results: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    matrix = _series(results)

    ax = axes[0][0]
    for transport, points in matrix.items():
        n = [p["clients"] for p in points]
        ax.plot(n, [p["latency_ms"]["p95"] for p in points], "o-", color=COLOURS[transport], label=f"{transport} p95")
        ax.plot(n, [p["latency_ms"]["p50"] for p in points], "o--", color=COLOURS[transport], alpha=0.5,
                label=f"{transport} p50")
    ax.axhline(200, color="grey", ls=":", label="capacity bound 200 ms")
    ax.axhline(150, color="green", ls=":", label="1-candidate target 150 ms")
    ax.set(title="end-to-end latency (capture to analysis)", xlabel="candidates", ylabel="ms", yscale="log")
    ax.legend(fontsize=7)

    ax = axes[0][1]
    for transport, points in matrix.items():
        n = [p["clients"] for p in points]
        ax.plot(n, [p["fps_per_client"]["mean"] for p in points], "o-", color=COLOURS[transport],
                label=f"{transport} mean")
        ax.plot(n, [p["fps_per_client"]["min"] for p in points], "v--", color=COLOURS[transport], alpha=0.5,
                label=f"{transport} min")
    ax.axhline(5, color="grey", ls=":", label="5 fps")
    ax.set(title="analysed fps per candidate", xlabel="candidates", ylabel="fps", ylim=(0, 6))
    ax.legend(fontsize=7)

    ax = axes[0][2]
    cost = results.get("pipeline_cost", {})
    single = cost.get("single", {}).get("stage_cpu_ms_per_frame", {})
    default = cost.get("default", {}).get("stage_cpu_ms_per_frame", {})
    names = list(single) or list(default)
    if names:
        y = range(len(names))
        ax.barh([i - 0.2 for i in y], [single.get(k, 0) for k in names], height=0.4, label="1 core, 1 thread")
        ax.barh([i + 0.2 for i in y], [default.get(k, 0) for k in names], height=0.4, label="default threads")
        ax.set_yticks(list(y), names)
        ax.invert_yaxis()
        ax.legend(fontsize=7)
    limit = cost.get("single", {}).get("frames_per_s_per_core")
    ax.set(title=f"CPU ms/frame by stage (limit {limit} frames/s/core)", xlabel="ms CPU per frame")

    ax = axes[1][0]
    runs: list[tuple[str, dict[str, Any]]] = [
        (label, results[key]) for label, key in (("before", "overload_before"), ("after", "overload"))
        if results.get(key)]
    for i, (label, over) in enumerate(runs):
        p95 = [third["p95"] or 0 for third in over["latency_by_third_ms"]]
        fair = over.get("fairness_by_third") or [None] * 3
        ax.bar([j + 0.4 * i - 0.2 for j in range(3)], p95, width=0.38, label=f"{label} p95 ({over['clients']} cand.)",
               color="#7f7f7f" if label == "before" else "#1f77b4")
        for j, f in enumerate(fair):
            ax.text(j + 0.4 * i - 0.2, max(1.0, p95[j]), f"fair {f}", ha="center", va="bottom", fontsize=6)
    if runs:
        ax.axhline(1000, color="red", ls=":", label="1 s bound")
        ax.set_xticks(range(3), ["first third", "second third", "last third"])
        ax.set(title="overload at 2 x capacity: p95 by third, fairness (min/max fps)", ylabel="ms", yscale="log")
        ax.legend(fontsize=7)

    ax = axes[1][1]
    drawn = False
    for label, marker in (("webrtc", "o-"), ("webrtc before", "s--")):
        ps = matrix.get(label) or []
        if not ps:
            continue
        drawn = True
        n = [p["clients"] for p in ps]
        ax.plot(n, [p.get("server_cores_per_client") or 0 for p in ps], marker, color=COLOURS[label],
                label=f"server, {label}")
        ax.plot(n, [p.get("generator_cores_per_client") or 0 for p in ps], marker, color=COLOURS[label],
                alpha=0.4, label=f"generator, {label}")
    if drawn:
        ax.axhline(0.03, color="green", ls=":", label="generator target 0.03")
        ax.set(title="cores per candidate: server and generator (each measured alone)", xlabel="candidates",
               ylabel="cores", yscale="log")
        ax.legend(fontsize=7)

    ax = axes[1][2]
    ax.axis("off")
    rows = [[t["name"], str(t["target"]), str(t["measured"]), "yes" if t["met"] else "NO", t["gap"]]
            for t in results.get("targets", [])]
    if rows:
        table = ax.table(cellText=rows, colLabels=["target", "wanted", "measured", "met", "gap"], loc="center",
                         cellLoc="left", colWidths=[0.36, 0.12, 0.14, 0.08, 0.3])
        table.auto_set_font_size(False)
        table.set_fontsize(7.5)
        table.scale(1, 1.6)
    machine = results.get("machine", {})
    ax.set_title(f"targets ({machine.get('cores')} cores, load {machine.get('loadavg_start')})", fontsize=9)

    fig.suptitle(f"Vigil benchmarks {results.get('finished', '')} ({results.get('mode', '')})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
