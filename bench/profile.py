"""Where the server's time goes: py-spy samples the server process while WebRTC candidates stream.

    python -m bench.profile [--clients 4] [--seconds 20]

Writes bench/results/profile.folded (collapsed stacks, for any flame-graph tool) and
bench/results/profile.json: the share of samples per leaf function ("self") and per function
anywhere on the stack ("inclusive"), plus shares per known room (pipeline stages, VP8/Opus
decoding, aiortc transport, asyncio, ...). Idle threads are left out (py-spy's default), and so are
stacks that end in a wait (IDLE_LEAVES): the shares are of busy time. Native work (onnxruntime, mediapipe, libvpx) is attributed to the Python
frame that called it.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from bench.load_matrix import options
from bench.server import REPO, BenchServer
from server.tools.loadtest.runner import run_loadtest

RESULTS = REPO / "bench" / "results"
#: substrings of a frame -> the room it belongs to; the first match from the leaf up wins
ROOMS = [
    # the detector backends first: a frame in yolox.py must not fall to "other stages" below
    ("stage objects (detector)", "stages/yolox.py"), ("stage objects (detector)", "stages/nanodet.py"),
    ("stage objects (detector)", "stages/objects.py"),
    ("stage posture (BlazePose)", "stages/posture.py"), ("stage landmarks (face mesh)", "stages/landmarks.py"),
    ("stage faces (BlazeFace)", "stages/faces.py"), ("stage quality", "stages/quality.py"),
    ("other stages", "pipeline/stages/"), ("risk engine", "pipeline/risk/"), ("audio VAD", "pipeline/audio/"),
    ("frame to RGB", "to_rgb"), ("video decode (VP8)", "codecs/vpx.py"), ("audio decode (Opus)", "codecs/opus.py"),
    ("RTP/SRTP/jitter buffer", "rtcrtpreceiver.py"), ("RTP/SRTP/jitter buffer", "jitterbuffer.py"),
    ("RTP/SRTP/jitter buffer", "rtcrtpsender.py"), ("DTLS/SRTP", "rtcdtlstransport.py"),
    ("SCTP data channel", "rtcsctptransport.py"), ("ICE", "aioice"), ("Redis store", "server/store/store.py"),
    ("Redis store", "redis/"), ("HTTP (aiohttp)", "aiohttp/"), ("metrics", "prometheus_client"),
    ("asyncio loop", "asyncio/"),
]

#: leaves that are a thread waiting, which py-spy's idle detection does not always catch
IDLE_LEAVES = ("Condition.wait", "EpollSelector.select", "Event.wait", "Thread.join", "_worker (concurrent")


def room_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for room, needle in ROOMS:
            if needle in frame:
                return room
    return "other"


def summarise(folded: str) -> dict[str, Any]:
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    rooms: Counter[str] = Counter()
    total = idle = 0
    for line in folded.splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        stack = stack_text.split(";")
        if any(stack[-1].startswith(leaf) for leaf in IDLE_LEAVES):
            idle += count
            continue
        total += count
        self_c[stack[-1]] += count
        for frame in set(stack):
            incl[frame] += count
        rooms[room_of(stack)] += count

    def top(c: Counter[str], n: int) -> list[list[Any]]:
        return [[k, round(v / max(1, total), 4)] for k, v in c.most_common(n)]

    return {"samples": total, "idle_samples": idle, "rooms": top(rooms, 30), "self_top": top(self_c, 25), "inclusive_top": top(incl, 40)}


def record(clients: int, seconds: float, rate: int = 50) -> dict[str, Any]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    RESULTS.mkdir(parents=True, exist_ok=True)
    folded_path = RESULTS / "profile.folded"
    with BenchServer() as server:
        load: dict[str, Any] = {}

        def run() -> None:
            load["report"] = asyncio.run(run_loadtest(options(server.url, clients, seconds + 10, "webrtc")))

        t = threading.Thread(target=run)
        t.start()
        threading.Event().wait(8.0)  # past the ramp and the first analyses
        subprocess.run([spy, "record", "--pid", str(server.pid), "--duration", str(int(seconds)), "--rate",
                        str(rate), "--format", "raw", "--output", str(folded_path), "--nonblocking"],
                       check=True, capture_output=True, timeout=seconds + 60)
        t.join()
    summary = summarise(folded_path.read_text())
    report = load.get("report", {})
    summary.update(clients=clients, seconds=seconds, rate_hz=rate,
                   latency_ms=report.get("overall", {}).get("webrtc", {}).get("latency_ms"),
                   server_cpu_cores=report.get("server", {}).get("cpu_cores_steady"))
    (RESULTS / "profile.json").write_text(json.dumps(summary, indent=1))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    summary = record(args.clients, args.seconds)
    for room, share in summary["rooms"]:
        print(f"{100 * share:5.1f}%  {room}")


if __name__ == "__main__":
    main()
