"""The load test's options: one documented dataclass, and the `vigil loadtest` arguments that fill it."""
from __future__ import annotations

import argparse
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

TransportChoice = Literal["webrtc", "ws", "both"]
GeneratorChoice = Literal["replay", "encode"]

#: scripted WebRTC candidates one generator process drives before another process helps. A
#: replaying client costs ~3 % of a core (RTP, SRTP, SCTP in Python), an encoding one ~10-14 % (VP8
#: and Opus encoding too), so a process of encoding clients saturates its core near 8.
CLIENTS_PER_PROCESS = 8
#: the same for replaying clients: 24 of them cost a process about 0.7 of a core
REPLAY_CLIENTS_PER_PROCESS = 24
#: Chromium honours the answer's cap (tests/interop/test_chromium_bitrate.py) and settles near it.
DEFAULT_VIDEO_KBPS = 500


@dataclass(frozen=True)
class LoadTestOptions:
    url: str
    #: candidates per transport (`both` runs this many WebRTC and this many WebSocket clients)
    clients: int
    #: seconds every client streams once all have started (the steady window)
    duration_s: float
    video: Path
    audio: Path | None = None
    #: clients start evenly spread over this many seconds; all stop together at ramp + duration
    ramp_s: float = 0.0
    transport: TransportChoice = "webrtc"
    #: `replay`: VP8/Opus packets encoded once per generator process, sent by every candidate
    #: (server/tools/candidate/encoded_media.py); `encode`: every candidate encodes, as a browser does
    generator: GeneratorChoice = "replay"
    #: generator processes; 0 = one per (REPLAY_)CLIENTS_PER_PROCESS clients, at most the machine's cores
    processes: int = 0
    fps: float = 15.0
    #: video bitrate each WebRTC candidate sends, fixed (REMB ignored), kbit/s: what a browser sends at
    #: 640x480 under Vigil's default cap (VIGIL_VIDEO_MAX_KBPS); without a cap browsers send ~800
    video_kbps: int = DEFAULT_VIDEO_KBPS
    width: int = 640
    height: int = 480
    jpeg_quality: int = 80
    #: the server's analysis rate (VIGIL_ANALYSIS_FPS), for the shortfall figure only
    target_fps: float = 5.0
    #: seconds between /metrics samples (RSS over time)
    sample_every_s: float = 1.0
    #: put every latency into the JSON (per client), not only percentiles
    raw_latencies: bool = False
    #: end the sessions after the run (they would otherwise linger as `disconnected`)
    end_sessions: bool = True

    def transports(self) -> list[str]:
        return ["webrtc", "ws"] if self.transport == "both" else [self.transport]

    def total_clients(self) -> int:
        return self.clients * len(self.transports())

    def process_count(self) -> int:
        if self.processes > 0:
            return min(self.processes, self.total_clients())
        per_process = REPLAY_CLIENTS_PER_PROCESS if self.generator == "replay" else CLIENTS_PER_PROCESS
        wanted = math.ceil(self.total_clients() / per_process)
        return max(1, min(wanted, os.cpu_count() or 1, self.total_clients()))

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["video"] = str(self.video)
        out["audio"] = None if self.audio is None else str(self.audio)
        return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--clients", type=int, required=True, help="candidates (per transport)")
    parser.add_argument("--duration", type=float, required=True, help="seconds of streaming after the ramp")
    parser.add_argument("--video", type=Path, required=True, help="video file, looped at 640x480 15 fps")
    parser.add_argument("--audio", type=Path, default=None, help="audio file, looped (default: silence)")
    parser.add_argument("--ramp", type=float, default=0.0, help="seconds over which clients start")
    parser.add_argument("--transport", choices=("webrtc", "ws", "both"), default="webrtc")
    parser.add_argument("--generator", choices=("replay", "encode"), default="replay",
                        help="replay packets encoded once (default, cheap) or encode per candidate")
    parser.add_argument("--processes", type=int, default=0,
                        help=f"generator processes (default: one per {REPLAY_CLIENTS_PER_PROCESS} replaying or "
                             f"{CLIENTS_PER_PROCESS} encoding clients, <= cores)")
    parser.add_argument("--fps", type=float, default=15.0, help="frames per second sent (default 15)")
    parser.add_argument("--video-kbps", type=int, default=DEFAULT_VIDEO_KBPS,
                        help=f"video bitrate each WebRTC candidate sends, fixed (default {DEFAULT_VIDEO_KBPS}: "
                             "a browser under Vigil's default cap)")
    parser.add_argument("--target-fps", type=float, default=5.0, help="the server's VIGIL_ANALYSIS_FPS")
    parser.add_argument("--raw-latencies", action="store_true", help="every latency in the JSON")
    parser.add_argument("--json", type=Path, default=None, dest="json_out", help="write the results here")
    parser.add_argument("--quiet", action="store_true", help="no live display, only the summary")


def _require_stream(path: Path, kind: Literal["video", "audio"]) -> None:
    """`path` opens with PyAV and has a `kind` stream: told here, not as a crash in every generator process."""
    import av

    try:
        with av.open(str(path)) as container:
            found = container.streams.video if kind == "video" else container.streams.audio
    except (av.FFmpegError, OSError) as exc:
        raise ValueError(f"{path} is not a media file PyAV can open: {exc}") from None
    if not found:
        raise ValueError(f"{path} has no {kind} stream")


def from_args(args: argparse.Namespace) -> LoadTestOptions:
    if args.clients < 1 or args.duration <= 0 or args.ramp < 0 or args.fps <= 0 or args.video_kbps <= 0:
        raise ValueError("--clients >= 1, --duration > 0, --ramp >= 0, --fps > 0 and --video-kbps > 0 are required")
    url = urlsplit(args.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"--url must be the server's http(s) base URL, e.g. http://127.0.0.1:8080, not {args.url!r}")
    if not Path(args.video).is_file():
        raise ValueError(f"no such video: {args.video}")
    _require_stream(Path(args.video), "video")
    if args.audio is not None:
        if not Path(args.audio).is_file():
            raise ValueError(f"no such audio: {args.audio}")
        _require_stream(Path(args.audio), "audio")
    return LoadTestOptions(url=args.url.rstrip("/"), clients=args.clients, duration_s=args.duration,
                           video=Path(args.video), audio=args.audio, ramp_s=args.ramp,
                           transport=args.transport, generator=args.generator, processes=args.processes,
                           fps=args.fps,
                           video_kbps=args.video_kbps,
                           target_fps=args.target_fps, raw_latencies=args.raw_latencies)
