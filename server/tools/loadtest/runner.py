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
from dataclasses import dataclass, field
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
                      video_kbps=options.video_kbps, replay=options.generator == "replay", width=options.width, height=options.height,
                      jpeg_quality=options.jpeg_quality,
                      stop_s=stop_s, end_sessions=options.end_sessions, specs=tuple(specs[w::n]))
            for w in range(n)]


def _get(q: Any, timeout: float) -> Any:
    try:
        return q.get(True, timeout)
    except queue_mod.Empty:
        return None


class _Generators:
    """The generator processes of one run, their message queue, the go event and the shared start time."""

    def __init__(self, jobs: list[WorkerJob]) -> None:
        ctx = mp.get_context("spawn")
        self.jobs = jobs
        self.queue: Any = ctx.Queue()
        self.go = ctx.Event()
        self.start_time = ctx.Value("d", 0.0)
        self.procs = [ctx.Process(target=worker_process, args=(job, self.queue, self.go, self.start_time),
                                  daemon=True, name=f"vigil-loadtest-{job.worker}") for job in jobs]

    def start(self) -> None:
        for p in self.procs:
            p.start()

    async def next_message(self, timeout: float) -> Any:
        """The next message, or None after `timeout` seconds (waited for in a thread, not on the loop)."""
        return await asyncio.get_running_loop().run_in_executor(None, _get, self.queue, timeout)

    def any_alive(self) -> bool:
        return any(p.is_alive() for p in self.procs)

    def go_at(self, t0: float) -> None:
        self.start_time.value = t0
        self.go.set()

    async def close(self) -> None:
        """Join every process, terminating those that do not exit within 5 s."""
        loop = asyncio.get_running_loop()
        for p in self.procs:
            await loop.run_in_executor(None, p.join, 5.0)
            if p.is_alive():
                p.terminate()
                await loop.run_in_executor(None, p.join, 5.0)
        self.queue.close()


@dataclass
class _Inbox:
    """What the generator processes reported, by worker number."""

    on_progress: ProgressSink | None
    progress: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[int, list[ClientResult]] = field(default_factory=dict)
    cpu_s: dict[int, float] = field(default_factory=dict)
    crashed: dict[int, str] = field(default_factory=dict)

    def handle(self, msg: Any) -> None:
        kind, worker = msg[0], msg[1]
        if kind == "progress":
            for snap in msg[2]:
                self.progress[snap["name"]] = snap
            if self.on_progress is not None:
                self.on_progress(self.progress)
        elif kind == "done":
            self.results[worker], self.cpu_s[worker] = msg[2], msg[3]
        elif kind == "crashed":
            self.crashed[worker] = msg[2]

    def finished(self, worker: int) -> bool:
        return worker in self.results or worker in self.crashed

    def settled(self) -> int:
        return len(self.results) + len(self.crashed)


async def run_loadtest(options: LoadTestOptions, *, on_progress: ProgressSink | None = None) -> dict[str, Any]:
    """Run the test and return its report (the `--json` document, see server/tools/loadtest/report.py)."""
    generators = _Generators(plan(options))
    started_at = time.time()
    generators.start()
    probe = ServerProbe(options.url, options.sample_every_s)
    inbox = _Inbox(on_progress)
    try:
        await _wait_ready(generators, inbox)
        baseline = await probe.sample()
        loadavg_start = os.getloadavg()
        t0 = time.time() + START_MARGIN_S
        generators.go_at(t0)
        probe.start()
        stop_at = t0 + options.ramp_s + options.duration_s
        await _collect(generators, inbox, hard_deadline=stop_at + HANG_GRACE_S)
        loadavg_end = os.getloadavg()
    finally:
        await probe.stop()
        await generators.close()
    generator = _generator_json(options, inbox, len(generators.jobs), t0, stop_at, (loadavg_start, loadavg_end))
    return build_report(options=options, results=_all_results(generators.jobs, inbox), probe=probe,
                        baseline=baseline, t0=t0, stop_at=stop_at, started_at=started_at, generator=generator)


async def _wait_ready(generators: _Generators, inbox: _Inbox) -> None:
    """Until every process is ready or crashed, READY_TIMEOUT_S passed, or none is alive."""
    ready: set[int] = set()
    deadline = time.time() + READY_TIMEOUT_S
    while len(ready) + len(inbox.crashed) < len(generators.jobs):
        msg = await generators.next_message(0.5)
        if msg is not None:
            if msg[0] == "ready":
                ready.add(msg[1])
            else:
                inbox.handle(msg)
        if time.time() > deadline or not generators.any_alive():
            break


async def _collect(generators: _Generators, inbox: _Inbox, *, hard_deadline: float) -> None:
    """Until every process is done or crashed, or the hard deadline passed."""
    while inbox.settled() < len(generators.jobs) and time.time() < hard_deadline:
        msg = await generators.next_message(0.5)
        if msg is not None:
            inbox.handle(msg)
        for job, p in zip(generators.jobs, generators.procs, strict=True):
            if not p.is_alive() and not inbox.finished(job.worker):
                msg = await generators.next_message(1.0)  # its last words may be queued
                if msg is not None:
                    inbox.handle(msg)
                if not inbox.finished(job.worker):
                    inbox.crashed[job.worker] = f"exited with code {p.exitcode}"


def _all_results(jobs: list[WorkerJob], inbox: _Inbox) -> list[ClientResult]:
    """Every client's result; the clients of a process that crashed or hung are failed results."""
    all_results: list[ClientResult] = []
    for job in jobs:
        if job.worker in inbox.results:
            all_results.extend(inbox.results[job.worker])
        else:
            why = inbox.crashed.get(job.worker, "did not finish in time")
            all_results.extend(ClientResult(name=s.name, transport=s.transport, process=job.worker,  # type: ignore[arg-type]
                                            error=f"generator process {job.worker}: {why}"[:300])
                               for s in job.specs)
    return all_results


def _generator_json(options: LoadTestOptions, inbox: _Inbox, processes: int, t0: float, stop_at: float,
                    loadavg: tuple[tuple[float, ...], tuple[float, ...]]) -> dict[str, Any]:
    """The report's `generator` section: what the load generator cost the machine."""
    cpu_s = sum(inbox.cpu_s.values())
    return {
        "kind": options.generator if "webrtc" in options.transports() else "jpeg",
        "processes": processes, "machine_cores": os.cpu_count(),
        "cpu_seconds": round(cpu_s, 2),
        "cpu_cores_used": round(cpu_s / max(1e-6, stop_at - t0), 3),
        "cpu_per_client_cores": round(cpu_s / max(1e-6, stop_at - t0) / max(1, options.total_clients()), 4),
        "crashed": {str(k): v for k, v in inbox.crashed.items()},
        "host_loadavg_start": [round(v, 2) for v in loadavg[0]],
        "host_loadavg_end": [round(v, 2) for v in loadavg[1]],
    }
