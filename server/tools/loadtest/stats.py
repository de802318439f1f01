"""What one load-test client measured (`ClientResult`) and the arithmetic that summarises many.

Definitions (the README's "Load test and benchmarks" section repeats them):

* latency: capture to receipt of that frame's analysis, per analysed frame, on the client's clock
  (WebRTC: `CandidateClient.latencies_ms()`; WebSocket: receipt minus the echoed send time).
* where the time goes (WebRTC, timed analyses): `to_server` = capture to the server's receipt of the
  decoded frame (encoding, network, jitter buffer, decoder queue), `in_server` = receipt to the end
  of its analysis (waiting for the executor, the pipeline), `back` = the end of the analysis to the
  client's receipt (event loop, data channel); `received_ms` and `analysed_ms` come from the
  analysis message, so these need the server's clock to be the client's (one machine).
* timed share: the share of analyses whose capture time the client knows (WebRTC: the analysis's
  `frame_pts` is a pts the client sent; see `server/tools/candidate/encoded_media.py`). Every
  summary carries it, and below MIN_TIMED_SHARE the latency figures are withheld, with the reason,
  rather than computed from the few frames that happened to match.
* analysed fps: analyses received from the first one to the end of streaming, per second of that
  span (connection set-up and the first analysis's latency do not count against it).
* dropped share: 1 - frames analysed by the server / frames the client sent. At 15 fps sent and
  5 analysed (the default VIGIL_ANALYSIS_FPS) the floor is 2/3 by design; `target_fps` says
  what the server was asked for, so `fps_shortfall` shows the part that is not by design.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Transport = Literal["webrtc", "ws"]


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


#: the parts of a latency, in order (see the module docstring)
WAIT_PARTS = ("to_server", "in_server", "back")

#: latency figures rest on at least this share of the analyses, or are not given
MIN_TIMED_SHARE = 0.9


def withheld_reason(timed: int, analyses: int) -> str | None:
    """Why latency figures cannot be given for `timed` latencies out of `analyses`; None when they can."""
    if analyses <= 0:
        return "no analysis arrived"
    if timed / analyses < MIN_TIMED_SHARE:
        return (f"only {timed} of {analyses} analyses ({timed / analyses:.0%}) carry a known capture time; "
                f"latency needs >= {MIN_TIMED_SHARE:.0%}")
    return None


def latency_summary(values: list[float], analyses: int | None = None) -> dict[str, Any]:
    """Percentiles of `values`, the latencies of `analyses` analyses (default: every one timed), with
    the timed share; the figures are None, and `withheld` says why, below MIN_TIMED_SHARE."""
    analyses = len(values) if analyses is None else analyses
    withheld = withheld_reason(len(values), analyses)
    shown = [] if withheld else values

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 1)

    return {"count": len(values), "analyses": analyses,
            "timed_share": round(len(values) / analyses, 4) if analyses else None, "withheld": withheld,
            "p50": r(percentile(shown, 50)), "p95": r(percentile(shown, 95)), "p99": r(percentile(shown, 99)),
            "mean": r(sum(shown) / len(shown)) if shown else None, "max": r(max(shown)) if shown else None}


@dataclass(frozen=True)
class Window:
    """A span of the run, unix seconds."""

    t_from: float
    t_to: float


def split(t_from: float, t_to: float, parts: int) -> list[Window]:
    step = (t_to - t_from) / parts
    return [Window(t_from + i * step, t_from + (i + 1) * step) for i in range(parts)]


def window_summary(timelines: list[list[tuple[float, float | None]]], window: Window) -> dict[str, Any]:
    """Latency and analysed fps of the analyses received inside `window`, one timeline per client
    ((receipt unix s, latency ms or None), as `ClientResult.timeline`); fairness = min / max fps."""
    latencies: list[float] = []
    counts: list[int] = []
    for timeline in timelines:
        inside = [lat for t, lat in timeline if window.t_from <= t < window.t_to]
        counts.append(len(inside))
        latencies.extend(lat for lat in inside if lat is not None)
    span = max(1e-9, window.t_to - window.t_from)
    fps = [c / span for c in counts]
    return {"latency_ms": latency_summary(latencies, sum(counts)),
            "fps_per_client": {"mean": _mean(fps), "min": round(min(fps), 2) if fps else None,
                               "max": round(max(fps), 2) if fps else None},
            "fairness": round(min(fps) / max(fps), 3) if fps and max(fps) > 0 else None}


@dataclass
class ClientResult:
    """One scripted candidate's run. Plain data: it crosses process boundaries and goes to JSON."""

    name: str
    transport: Transport
    process: int
    ok: bool = False
    error: str | None = None
    session_id: str | None = None
    setup_s: float | None = None
    streaming_s: float = 0.0
    frames_sent: int = 0
    analyses: int = 0
    analysed_fps: float = 0.0
    #: the server's own counters for this session/socket, read just before the end
    server_counters: dict[str, int] = field(default_factory=dict)
    #: bytes the client sent: {"video": ..., "audio": ..., "total": ...} (see report's docs)
    bytes_sent: dict[str, int] = field(default_factory=dict)
    errors_received: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    #: every analysis as (receipt unix s, latency ms or None when its capture time is unknown)
    timeline: list[tuple[float, float | None]] = field(default_factory=list)
    #: each timed WebRTC analysis's latency split in WAIT_PARTS, ms
    waits_ms: list[tuple[float, float, float]] = field(default_factory=list)

    @property
    def frames_analysed(self) -> int:
        return int(self.server_counters.get("frames_analysed", self.analyses))

    @property
    def dropped_share(self) -> float | None:
        if self.frames_sent <= 0:
            return None
        return max(0.0, 1.0 - self.frames_analysed / self.frames_sent)

    def video_bytes_per_s(self) -> float | None:
        if self.streaming_s <= 0 or "video" not in self.bytes_sent:
            return None
        return self.bytes_sent["video"] / self.streaming_s

    def as_json(self, *, with_latencies: bool = False) -> dict[str, Any]:
        out = asdict(self)
        out.pop("latencies_ms")
        out.pop("timeline")
        out["waits_ms"] = waits_summary(self.waits_ms)
        if with_latencies:
            out["latencies_ms"] = [round(v, 1) for v in self.latencies_ms]
            out["timeline"] = [[round(t, 3), None if v is None else round(v, 1)] for t, v in self.timeline]
        out["latency_ms"] = latency_summary(self.latencies_ms, self.analyses)
        out["dropped_share"] = None if self.dropped_share is None else round(self.dropped_share, 4)
        bps = self.video_bytes_per_s()
        out["video_bytes_per_s"] = None if bps is None else round(bps)
        out["analysed_fps"] = round(self.analysed_fps, 2)
        out["setup_s"] = None if self.setup_s is None else round(self.setup_s, 3)
        out["streaming_s"] = round(self.streaming_s, 2)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClientResult:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in names})


def waits_summary(waits: list[tuple[float, float, float]]) -> dict[str, dict[str, float | None]]:
    """p50 and p95 of each part of the latency (WAIT_PARTS); empty without WebRTC analyses."""
    if not waits:
        return {}
    return {part: {"p50": _r1(percentile([w[i] for w in waits], 50)), "p95": _r1(percentile([w[i] for w in waits], 95))}
            for i, part in enumerate(WAIT_PARTS)}


def _r1(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def summarise(results: Iterable[ClientResult], *, target_fps: float) -> dict[str, Any]:
    """Overall figures for a group of clients (one transport, or all)."""
    results = list(results)
    ok = [r for r in results if r.ok]
    latencies = [v for r in ok for v in r.latencies_ms]
    analyses = sum(r.analyses for r in ok)
    fps = [r.analysed_fps for r in ok]
    setups = [r.setup_s for r in results if r.setup_s is not None]
    sent = sum(r.frames_sent for r in ok)
    analysed = sum(r.frames_analysed for r in ok)
    bps = [b for r in ok if (b := r.video_bytes_per_s()) is not None]
    return {
        "clients": len(results),
        "ok": len(ok),
        "failures": len(results) - len(ok),
        "latency_ms": latency_summary(latencies, analyses),
        "waits_ms": waits_summary([w for r in ok for w in r.waits_ms]),
        "analysed_fps_per_client": {"mean": _mean(fps), "min": round(min(fps), 2) if fps else None,
                                    "max": round(max(fps), 2) if fps else None},
        "analysed_fps_total": round(sum(fps), 2),
        "target_fps": target_fps,
        "fps_shortfall": None if not fps else round(max(0.0, 1.0 - (sum(fps) / len(fps)) / target_fps), 4),
        "frames_sent": sent,
        "frames_analysed": analysed,
        "dropped_share": round(1.0 - analysed / sent, 4) if sent else None,
        "setup_s": {"p50": _r3(percentile(setups, 50)), "p95": _r3(percentile(setups, 95)),
                    "max": _r3(max(setups) if setups else None)},
        "video_bytes_per_s_per_client": _mean(bps),
        "errors_received": sum(r.errors_received for r in results),
    }


def _r3(v: float | None) -> float | None:
    return None if v is None else round(v, 3)
