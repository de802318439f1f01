"""Runs a load test: spreads the clients over generator processes, starts them together, samples the
server, and collects every client's result.

Schedule. Each generator process (multiprocessing 'spawn', so each has its own interpreter, GIL
and event loop) decodes the clip (and encodes the JPEGs) first and says "ready"; when all are
ready the parent fixes a shared start time. Client i of N (per transport; transports interleave)
connects at start + ramp * i / N, and all clients stop at start + ramp + duration, so the last
`duration` seconds are the steady window in which every client streams. Clients go to processes
round-robin, so every process ramps at the same pace. The parent samples /metrics before the
start and every `sample_every_s` after it.

Failure. A client that cannot connect, loses its peer or gets no analysis is a failed result,
counted; the run goes on. A generator process that crashes reports why; one that hangs past
stop + HANG_GRACE_S is terminated and its clients are counted as failed.
"""
from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import queue as queue_mod
import time
from collections.abc import Callable
from typing import Any

from server.tools.loadtest.options import LoadTestOptions
from server.tools.loadtest.report import build_report
from server.tools.loadtest.server_probe import ServerProbe
from server.tools.loadtest.stats import ClientResult
from server.tools.loadtest.worker import ClientSpec, WorkerJob, worker_process

#: generator processes must be ready (imports, clip decoded) within this many seconds
READY_TIMEOUT_S = 180.0
#: the shared start time is this far after the go, so every process sees it in the future
START_MARGIN_S = 0.5
#: seconds past the planned stop for clients to fetch counters, end sessions and report
HANG_GRACE_S = 90.0

ProgressSink = Callable[[dict[str, dict[str, Any]]], None]


def plan(options: LoadTestOptions) -> list[WorkerJob]:
    """Clients as specs with their ramp offsets, dealt round-robin to the generator processes."""
    transports = options.transports()
    specs: list[ClientSpec] = []
    for i in range(options.clients):
        for transport in transports:
            offset = options.ramp_s * i / options.clients
            specs.append(ClientSpec(f"{transport}-{i:03d}", transport, offset))
    n = options.process_count()
    stop_s = options.ramp_s + options.duration_s
    return [WorkerJob(worker=w, url=options.url, video=str(options.video),
                      audio=None if options.audio is None else str(options.audio), fps=options.fps,
                      video_kbps=options.video_kbps, width=options.width, height=options.height,
                      jpeg_quality=options.jpeg_quality,
                      stop_s=stop_s, end_sessions=options.end_sessions, specs=tuple(specs[w::n]))
            for w in range(n)]


def _get(q: Any, timeout: float) -> Any:
    try:
        return q.get(True, timeout)
    except queue_mod.Empty:
        return None


async def run_loadtest(options: LoadTestOptions, *, on_progress: ProgressSink | None = None) -> dict[str, Any]:
    """Run the test and return its report (the `--json` document, see server/tools/loadtest/report.py)."""
    loop = asyncio.get_running_loop()
    ctx = mp.get_context("spawn")
    q: Any = ctx.Queue()
    go = ctx.Event()
    start_time = ctx.Value("d", 0.0)
    jobs = plan(options)
    procs = [ctx.Process(target=worker_process, args=(job, q, go, start_time), daemon=True,
                         name=f"vigil-loadtest-{job.worker}") for job in jobs]
    started_at = time.time()
    for p in procs:
        p.start()
    probe = ServerProbe(options.url, options.sample_every_s)
    progress: dict[str, dict[str, Any]] = {}
    results: dict[int, list[ClientResult]] = {}
    cpu_s: dict[int, float] = {}
    crashed: dict[int, str] = {}

    def handle(msg: Any) -> None:
        kind, worker = msg[0], msg[1]
        if kind == "progress":
            for snap in msg[2]:
                progress[snap["name"]] = snap
            if on_progress is not None:
                on_progress(progress)
        elif kind == "done":
            results[worker], cpu_s[worker] = msg[2], msg[3]
        elif kind == "crashed":
            crashed[worker] = msg[2]

    try:
        ready: set[int] = set()
        deadline = time.time() + READY_TIMEOUT_S
        while len(ready) + len(crashed) < len(jobs):
            msg = await loop.run_in_executor(None, _get, q, 0.5)
            if msg is not None:
                if msg[0] == "ready":
                    ready.add(msg[1])
                else:
                    handle(msg)
            if time.time() > deadline or not any(p.is_alive() for p in procs):
                break
        baseline = await probe.sample()
        loadavg_start = os.getloadavg()
        t0 = time.time() + START_MARGIN_S
        start_time.value = t0
        go.set()
        probe.start()
        stop_at = t0 + options.ramp_s + options.duration_s
        hard_deadline = stop_at + HANG_GRACE_S
        while len(results) + len(crashed) < len(jobs) and time.time() < hard_deadline:
            msg = await loop.run_in_executor(None, _get, q, 0.5)
            if msg is not None:
                handle(msg)
            for job, p in zip(jobs, procs, strict=True):
                if not p.is_alive() and job.worker not in results and job.worker not in crashed:
                    msg = await loop.run_in_executor(None, _get, q, 1.0)  # its last words may be queued
                    if msg is not None:
                        handle(msg)
                    if job.worker not in results and job.worker not in crashed:
                        crashed[job.worker] = f"exited with code {p.exitcode}"
        loadavg_end = os.getloadavg()
    finally:
        await probe.stop()
        for p in procs:
            await loop.run_in_executor(None, p.join, 5.0)
            if p.is_alive():
                p.terminate()
                await loop.run_in_executor(None, p.join, 5.0)
        q.close()

    all_results: list[ClientResult] = []
    for job in jobs:
        if job.worker in results:
            all_results.extend(results[job.worker])
        else:
            why = crashed.get(job.worker, "did not finish in time")
            all_results.extend(ClientResult(name=s.name, transport=s.transport, process=job.worker,  # type: ignore[arg-type]
                                            error=f"generator process {job.worker}: {why}"[:300])
                               for s in job.specs)
    return build_report(
        options=options, results=all_results, probe=probe, baseline=baseline, t0=t0, stop_at=stop_at,
        started_at=started_at, generator={
            "processes": len(jobs), "machine_cores": os.cpu_count(),
            "cpu_seconds": round(sum(cpu_s.values()), 2),
            "cpu_cores_used": round(sum(cpu_s.values()) / max(1e-6, stop_at - t0), 3),
            "cpu_per_client_cores": round(sum(cpu_s.values()) / max(1e-6, stop_at - t0)
                                          / max(1, options.total_clients()), 4),
            "crashed": {str(k): v for k, v in crashed.items()},
            "host_loadavg_start": [round(v, 2) for v in loadavg_start],
            "host_loadavg_end": [round(v, 2) for v in loadavg_end],
        })
