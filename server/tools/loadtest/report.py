"""The load test's report: the `--json` document, the live display and the summary tables.

JSON document (version 2; times are UNIX seconds, latencies ms, bytes per second per client):

    {
      "version": 2,
      "started_at": 1732370000.0, "finished_at": ..., "t0": <shared start time>,
      "options": {url, clients, duration_s, ramp_s, transport, processes, fps, width, height,
                  jpeg_quality, target_fps, video, audio, ...},
      "generator": {"kind" (replay | encode | jpeg), "processes", "machine_cores", "cpu_seconds", "cpu_cores_used",
                    "cpu_per_client_cores", "crashed", "host_loadavg_start", "host_loadavg_end"},
      "server": {"metrics_ok", "scrape_errors",
                 "cpu_cores_steady",      # server CPU seconds / wall seconds over the steady window
                 "cpu_cores_run",         # the same from before the first client to the stop
                 "cpu_per_client_cores",  # cpu_cores_steady / clients
                 "rss_start_bytes", "rss_end_bytes", "rss_max_bytes",
                 "rss_per_client_bytes",  # (rss at stop - rss before the run) / clients
                 "samples": [{"t": <s after t0>, "cpu_s", "rss_bytes", "sessions_live"}, ...]},
      "overall": {"all": <summary>, "webrtc": <summary>, "ws": <summary>},
      "clients": [{"name", "transport", "process", "ok", "error", "session_id", "setup_s",
                   "streaming_s", "frames_sent", "analyses", "analysed_fps", "dropped_share",
                   "server_counters": {"frames_received", "frames_analysed", "frames_dropped", ...},
                   "bytes_sent": {"video", "audio", "transport", "total"}, "video_bytes_per_s",
                   "errors_received", "latency_ms": <latency>, "waits_ms": <waits>,
                   "latencies_ms": [...],  # only with --raw-latencies
                   "timeline": [[<receipt s>, <latency ms or null>], ...]  # every analysis, only with --raw-latencies
                  }, ...],
      "failures": [{"name", "error"}, ...]
    }

    <latency> = {"count" (analyses with a known capture time), "analyses", "timed_share", "withheld"
                 (null, or why the figures are null: timed_share < 0.9), "p50", "p95", "p99", "mean", "max"}
    <waits> = {"to_server"|"in_server"|"back": {"p50", "p95"}} (WebRTC; see stats.py), {} otherwise
    <summary> = {"clients", "ok", "failures", "latency_ms": <latency>, "waits_ms": <waits>, "analysed_fps_per_client":
                 {"mean", "min", "max"}, "analysed_fps_total", "target_fps", "fps_shortfall",
                 "frames_sent", "frames_analysed", "dropped_share", "setup_s": {"p50", "p95", "max"},
                 "video_bytes_per_s_per_client", "errors_received"}

`bytes_sent.video` is RTP payload bytes from the sender's getStats() (`outbound-rtp`) for WebRTC
and the `frame` messages' text bytes for WebSocket; `transport` (WebRTC only) is what the ICE
transport put on the wire, SRTP, SCTP and STUN included.
"""
from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from server.tools.loadtest.options import LoadTestOptions
from server.tools.loadtest.server_probe import Sample, ServerProbe
from server.tools.loadtest.stats import ClientResult, summarise

REPORT_VERSION = 2


def _server_section(probe: ServerProbe, baseline: Sample | None, t0: float, stop_at: float,
                    ramp_s: float, clients: int) -> dict[str, Any]:
    samples = [s for s in probe.samples if s.t <= stop_at + 1.0]
    out: dict[str, Any] = {"metrics_ok": bool(samples), "scrape_errors": probe.errors,
                           "samples": [s.as_json(t0) for s in probe.samples]}
    steady = probe.between(t0 + ramp_s, stop_at)
    out["cpu_cores_steady"] = None if steady is None else round(
        (steady[1].cpu_s - steady[0].cpu_s) / max(1e-6, steady[1].t - steady[0].t), 3)  # type: ignore[operator]
    whole = probe.between(baseline.t if baseline else t0, stop_at)
    out["cpu_cores_run"] = None if whole is None else round(
        (whole[1].cpu_s - whole[0].cpu_s) / max(1e-6, whole[1].t - whole[0].t), 3)  # type: ignore[operator]
    out["cpu_per_client_cores"] = None if out["cpu_cores_steady"] is None else round(
        out["cpu_cores_steady"] / max(1, clients), 4)
    rss = [s.rss_bytes for s in samples if s.rss_bytes is not None]
    start_rss = baseline.rss_bytes if baseline is not None else (rss[0] if rss else None)
    end_rss = rss[-1] if rss else None
    out["rss_start_bytes"] = start_rss
    out["rss_end_bytes"] = end_rss
    out["rss_max_bytes"] = max(rss) if rss else None
    out["rss_per_client_bytes"] = None if start_rss is None or end_rss is None else round(
        (end_rss - start_rss) / max(1, clients))
    return out


def build_report(*, options: LoadTestOptions, results: list[ClientResult], probe: ServerProbe,
                 baseline: Sample | None, t0: float, stop_at: float, started_at: float,
                 generator: dict[str, Any]) -> dict[str, Any]:
    overall = {"all": summarise(results, target_fps=options.target_fps)}
    for transport in options.transports():
        overall[transport] = summarise([r for r in results if r.transport == transport],
                                       target_fps=options.target_fps)
    return {
        "version": REPORT_VERSION,
        "started_at": round(started_at, 3),
        "finished_at": round(time.time(), 3),
        "t0": round(t0, 3),
        "options": options.as_json(),
        "generator": generator,
        "server": _server_section(probe, baseline, t0, stop_at, options.ramp_s, options.total_clients()),
        "overall": overall,
        "clients": [r.as_json(with_latencies=options.raw_latencies) for r in results],
        "failures": [{"name": r.name, "error": r.error} for r in results if not r.ok],
    }


# -- display ---------------------------------------------------------------------------------------
def _ms(v: Any) -> str:
    return "-" if v is None else f"{v:.0f}"


def progress_table(progress: dict[str, dict[str, Any]], *, elapsed_s: float, total_s: float) -> Table:
    table = Table(title=f"vigil loadtest  {elapsed_s:5.1f} / {total_s:.0f} s", title_justify="left")
    for col in ("client", "state", "analyses", "fps", "p50 ms", "p95 ms", "errors"):
        table.add_column(col, justify="left" if col in ("client", "state") else "right")
    for name in sorted(progress):
        p = progress[name]
        style = {"failed": "red", "done": "green", "streaming": "", "connecting": "yellow"}.get(p["state"], "dim")
        table.add_row(name, Text(p["state"], style=style), str(p["analyses"]),
                      "-" if p["fps"] is None else f"{p['fps']:.1f}", _ms(p["p50"]), _ms(p["p95"]),
                      str(p["errors"]))
    return table


def summary_tables(report: dict[str, Any]) -> Group:
    parts: list[Any] = [_clients_table(report), _overall_table(report), _withheld_text(report),
                        _machine_lines(report)]
    if report["failures"]:
        parts.append(_failures_text(report["failures"]))
    return Group(*parts)


def _clients_table(report: dict[str, Any]) -> Table:
    clients = Table(title="per client", title_justify="left")
    for col in ("client", "ok", "setup s", "sent", "analysed", "fps", "drop %", "timed %", "p50", "p95", "p99",
                "kB/s"):
        clients.add_column(col, justify="left" if col == "client" else "right")
    for c in report["clients"]:
        lat = c["latency_ms"]
        bps = c["video_bytes_per_s"]
        clients.add_row(
            c["name"], "yes" if c["ok"] else Text("NO", style="red"),
            "-" if c["setup_s"] is None else f"{c['setup_s']:.2f}", str(c["frames_sent"]),
            str(c["server_counters"].get("frames_analysed", c["analyses"])), f"{c['analysed_fps']:.1f}",
            "-" if c["dropped_share"] is None else f"{100 * c['dropped_share']:.0f}", _share(lat["timed_share"]),
            _ms(lat["p50"]), _ms(lat["p95"]), _ms(lat["p99"]), "-" if bps is None else f"{bps / 1000:.0f}")
    return clients


def _overall_table(report: dict[str, Any]) -> Table:
    overall = Table(title="overall", title_justify="left")
    for col in ("transport", "clients", "failed", "timed %", "p50 ms", "p95 ms", "p99 ms", "fps/client", "total fps",
                "drop %", "setup p95 s", "kB/s/client"):
        overall.add_column(col, justify="left" if col == "transport" else "right")
    for name, s in report["overall"].items():
        lat = s["latency_ms"]
        bps = s["video_bytes_per_s_per_client"]
        overall.add_row(
            name, str(s["clients"]), str(s["failures"]), _share(lat["timed_share"]),
            _ms(lat["p50"]), _ms(lat["p95"]), _ms(lat["p99"]),
            "-" if s["analysed_fps_per_client"]["mean"] is None else f"{s['analysed_fps_per_client']['mean']:.2f}",
            f"{s['analysed_fps_total']:.1f}",
            "-" if s["dropped_share"] is None else f"{100 * s['dropped_share']:.0f}",
            "-" if s["setup_s"]["p95"] is None else f"{s['setup_s']['p95']:.2f}",
            "-" if bps is None else f"{bps / 1000:.0f}")
    return overall


def _share(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f}"


def _withheld_text(report: dict[str, Any]) -> Text:
    """Every summary's latency-sample share, and why any latency figures are withheld."""
    out = Text()
    for name, s in report["overall"].items():
        lat = s["latency_ms"]
        out.append(f"latency samples ({name}): {lat['count']} of {lat['analyses']} analyses carry a known "
                   f"capture time ({_share(lat['timed_share'])} %)")
        if lat["withheld"]:
            out.append(f"; figures withheld: {lat['withheld']}", style="bold red")
        elif s["waits_ms"]:
            out.append("; p50/p95 ms " + ", ".join(f"{part} {w['p50']}/{w['p95']}" for part, w in s["waits_ms"].items()))
        out.append("\n")
    return out


def _mb(v: Any) -> str:
    return "-" if v is None else f"{v / 1e6:.0f} MB"


def _machine_lines(report: dict[str, Any]) -> Text:
    """What the run cost the server and the load generator, each on its own line."""
    srv, gen = report["server"], report["generator"]
    per_client = srv.get("cpu_per_client_cores")
    return Text.assemble(
        ("server: ", "bold"),
        f"CPU {srv['cpu_cores_steady'] if srv['cpu_cores_steady'] is not None else '-'} cores (steady), "
        f"{per_client if per_client is not None else '-'} per client, "
        f"RSS {_mb(srv['rss_start_bytes'])} -> {_mb(srv['rss_end_bytes'])} (max {_mb(srv['rss_max_bytes'])}, "
        f"{_mb(srv['rss_per_client_bytes'])} per client)\n",
        ("generator: ", "bold"),
        f"{gen.get('kind', '?')}, {gen['processes']} process(es) on {gen['machine_cores']} cores, "
        f"{gen['cpu_cores_used']} cores used "
        f"({gen['cpu_per_client_cores']} per client); host load {gen['host_loadavg_start'][0]} -> "
        f"{gen['host_loadavg_end'][0]}",
    )


def _failures_text(failures: list[dict[str, Any]]) -> Text:
    """The first 20 failures, one a line."""
    fails = Text("failures:\n", style="bold red")
    for f in failures[:20]:
        fails.append(f"  {f['name']}: {f['error']}\n")
    return fails


def print_summary(report: dict[str, Any], console: Console | None = None) -> None:
    (console or Console()).print(summary_tables(report))
