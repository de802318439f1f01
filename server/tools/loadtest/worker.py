"""One load-generator process: its share of the clients, on its own event loop and core.

Protocol with the parent (a multiprocessing queue of tuples):

    ("ready", worker)                    media decoded (and JPEGs encoded), waiting for the go
    ("progress", worker, [snapshot...])  once a second while clients run
    ("done", worker, results, cpu_s)     `ClientResult`s and this process's CPU seconds
    ("crashed", worker, message)         something outside any one client went wrong

The parent answers "ready" by setting the shared start time and the go event; clients then start
at start time + their offset (the ramp) and all stop at start time + ramp + duration.
"""
from __future__ import annotations

import asyncio
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: how often progress snapshots go to the parent
PROGRESS_EVERY_S = 1.0
#: how long a worker waits for the go before giving up (the parent died or never started)
GO_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ClientSpec:
    name: str
    transport: str
    #: seconds after the shared start time at which this client connects
    offset_s: float


@dataclass(frozen=True)
class WorkerJob:
    worker: int
    url: str
    video: str
    audio: str | None
    fps: float
    video_kbps: int
    #: replay packets encoded once by this process instead of encoding per candidate
    replay: bool
    width: int
    height: int
    jpeg_quality: int
    #: seconds after the shared start time at which every client stops (ramp + duration)
    stop_s: float
    end_sessions: bool
    specs: tuple[ClientSpec, ...]


def worker_process(job: WorkerJob, queue: Any, go: Any, start_time: Any) -> None:
    """Process entry point (multiprocessing 'spawn')."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        asyncio.run(run_worker(job, queue.put, lambda: _wait_go(go, start_time)))
    except BaseException as exc:  # report instead of dying silently
        queue.put(("crashed", job.worker, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"))


def _wait_go(go: Any, start_time: Any) -> float:
    if not go.wait(GO_TIMEOUT_S):
        raise TimeoutError("no go from the load-test parent")
    return float(start_time.value)


async def run_worker(job: WorkerJob, emit: Callable[[tuple[Any, ...]], None],
                     wait_go: Callable[[], float]) -> None:
    from server.tools.candidate.encoded_media import encoded_audio, encoded_video
    from server.tools.candidate.media_files import load_video_frames
    from server.tools.loadtest.progress import ClientProgress
    from server.tools.loadtest.webrtc_client import run_webrtc_client
    from server.tools.loadtest.ws_client import jpeg_frames, run_ws_client

    load_video_frames(job.video, job.width, job.height, job.fps)  # decode once, before the clock starts
    if job.replay and any(s.transport == "webrtc" for s in job.specs):  # and encode once, before it too
        encoded_video(job.video, job.width, job.height, job.fps, job.video_kbps)
        encoded_audio(job.audio)
    if any(s.transport == "ws" for s in job.specs):
        jpeg_frames(job.video, job.width, job.height, job.fps, job.jpeg_quality)
    emit(("ready", job.worker))
    start = await asyncio.get_running_loop().run_in_executor(None, wait_go)
    cpu0 = time.process_time()  # the run's CPU, not the clip decoding before it
    progress = {s.name: ClientProgress(s.name, s.transport) for s in job.specs}

    def client(spec: ClientSpec) -> Any:
        common = dict(name=spec.name, process=job.worker, url=job.url, video=job.video, fps=job.fps,
                      width=job.width, height=job.height, start_at=start + spec.offset_s,
                      end_at=start + job.stop_s, progress=progress[spec.name])
        if spec.transport == "ws":
            return run_ws_client(quality=job.jpeg_quality, **common)  # type: ignore[arg-type]
        return run_webrtc_client(audio=job.audio, end_session=job.end_sessions, video_kbps=job.video_kbps,
                                 replay=job.replay, **common)  # type: ignore[arg-type]

    async def report_progress() -> None:
        while True:
            emit(("progress", job.worker, [p.snapshot() for p in progress.values()]))
            await asyncio.sleep(PROGRESS_EVERY_S)

    reporter = asyncio.get_running_loop().create_task(report_progress())
    try:
        results = await asyncio.gather(*(client(s) for s in job.specs))
    finally:
        reporter.cancel()
    emit(("progress", job.worker, [p.snapshot() for p in progress.values()]))
    emit(("done", job.worker, list(results), time.process_time() - cpu0))
