"""One PNG of a benchmark run: latency and fps against candidates, stage costs, overload, bandwidth,
and the targets with how far each is from being met."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"webrtc": "#1f77b4", "ws": "#d62728"}


def draw(results: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    matrix = results.get("matrix", {})

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
    over = results.get("overload") or {}
    if over.get("rss_mb_over_time"):
        t, rss = zip(*over["rss_mb_over_time"], strict=True)
        ax.plot(t, rss, color="#9467bd")
        ax.set(title=f"overload: {over['clients']} candidates, RSS (slope {over['rss_slope_mb_per_min']} MB/min)",
               xlabel="s after start", ylabel="server RSS MB")
        ax2 = ax.twinx()
        p95 = [third["p95"] or 0 for third in over["latency_by_third_ms"]]
        ax2.bar([over["duration_s"] * (i + 0.5) / 3 for i in range(3)], p95, width=over["duration_s"] / 4,
                alpha=0.25, color="orange")
        ax2.set_ylabel("p95 latency ms by third (bars)")

    ax = axes[1][1]
    bw = results.get("bandwidth") or {}
    if bw:
        labels = ["WebRTC video", "WebRTC video+audio", "WebRTC on the wire", "WebSocket base64 JPEG"]
        values = [bw.get("webrtc_video_bytes_per_s"), bw.get("webrtc_media_bytes_per_s"),
                  bw.get("webrtc_transport_bytes_per_s"), bw.get("ws_bytes_per_s")]
        ax.bar(labels, [(v or 0) / 1000 for v in values], color=["#1f77b4", "#6baed6", "#9ecae1", "#d62728"])
        ax.set(title=f"bytes/s per candidate, 640x480 15 fps (WS/WebRTC video = {bw.get('ratio_ws_to_webrtc_video')}x)",
               ylabel="kB/s")
        ax.tick_params(axis="x", labelsize=7, rotation=12)

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
