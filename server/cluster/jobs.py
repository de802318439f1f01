"""The worker's periodic jobs, each named, each with its own period, start and idempotent close.

One worker runs nine: the risk tick of its live sessions with their score point, the check for
sessions whose microphone never delivered, the liveness check (a peer that never connects or from
which nothing arrives is disconnected), the write of every session's counters and risk state, the
status publish for dashboards, the eviction of disconnected sessions from memory, the end of
abandoned sessions (created and never offered, or disconnected and not resumed, in time), the
retention sweep, and the heartbeat that also marks the sessions of dead workers disconnected. A run
that raises is retried at the job's next period: one failing job never stops another. A job that starts
failing logs one warning with the error's text, and one line when it recovers; the traceback of every
failed run goes to DEBUG only (a Redis outage fails every job every second). A store failure is
counted in `vigil_redis_errors_total`.
The app (the manager's owner) starts `worker_jobs(manager)` after the manager and closes it before.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from server.core.metrics import REDIS_ERRORS
from server.live.manager import STATE_WRITE_PERIOD_S, SessionManager
from server.store.errors import StoreUnavailable
from server.store.retention import SWEEP_PERIOD_S, sweep

log = logging.getLogger(__name__)


class PeriodicJob:
    """Runs `run()` every `period` seconds (first after `first_after`, default one period), one run
    at a time: a slow run delays the next instead of overlapping it."""

    def __init__(self, name: str, period: float, run: Callable[[], Awaitable[None]],
                 first_after: float | None = None) -> None:
        if period <= 0:
            raise ValueError("period must be positive")
        self.name = name
        self.period = period
        self.run = run
        self.first_after = period if first_after is None else first_after
        self.runs = 0
        self.failures = 0
        #: failed runs in a row (0: the last run succeeded)
        self.failing = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._forever(), name=f"job-{self.name}")

    async def _forever(self) -> None:
        await asyncio.sleep(self.first_after)
        # `_stopping` as well as the cancel: a library that turns a cancel into an ordinary error
        # (a client's timeout wrapper) would otherwise keep the job, and its close, going forever
        while not self._stopping:
            try:
                await self.run()
            except Exception as exc:  # retried next period
                self._failed(exc)
            else:
                self._succeeded()
            self.runs += 1
            if not self._stopping:
                await asyncio.sleep(self.period)

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        self.failing += 1
        if isinstance(exc, StoreUnavailable):
            REDIS_ERRORS.inc()
        if self._stopping:
            return
        if self.failing == 1:
            log.warning("periodic job %s failing: %s", self.name, _one_line(exc))
        log.debug("periodic job %s failed (%d in a row)", self.name, self.failing, exc_info=exc)

    def _succeeded(self) -> None:
        if self.failing:
            log.warning("periodic job %s recovered after %d failed runs", self.name, self.failing)
        self.failing = 0

    async def close(self) -> None:
        """Stop the job (waiting for a run in progress to be cancelled); a second call does nothing."""
        task, self._task = self._task, None
        self._stopping = True
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _one_line(exc: BaseException) -> str:
    """`Type: first line of the message`, for a log line that stays one line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Jobs:
    """A set of periodic jobs that start together and close together (in reverse order)."""

    def __init__(self, jobs: Iterable[PeriodicJob]) -> None:
        self.jobs = list(jobs)

    def __getitem__(self, name: str) -> PeriodicJob:
        return next(j for j in self.jobs if j.name == name)

    def start(self) -> None:
        for job in self.jobs:
            job.start()

    async def close(self) -> None:
        for job in reversed(self.jobs):
            await job.close()


def worker_jobs(manager: SessionManager) -> Jobs:
    """The nine jobs of one worker (see the module docstring), not yet started."""
    evidence_root = manager.settings.data_dir / "evidence"

    async def risk_tick() -> None:
        manager.tick_risk(time.time())

    async def missing_audio() -> None:
        manager.check_missing_audio(time.time())

    async def retention() -> None:
        await sweep(manager.store, evidence_root)

    async def evict() -> None:
        await manager.evict_abandoned(time.time())

    async def liveness() -> None:
        await manager.check_liveness(time.time())

    async def end_abandoned() -> None:
        await manager.end_abandoned(time.time())

    return Jobs([
        PeriodicJob("risk-tick", STATE_WRITE_PERIOD_S, risk_tick),
        PeriodicJob("missing-audio", STATE_WRITE_PERIOD_S, missing_audio),
        PeriodicJob("liveness", STATE_WRITE_PERIOD_S, liveness),
        PeriodicJob("state-write", STATE_WRITE_PERIOD_S, manager.write_states),
        PeriodicJob("status-publish", STATE_WRITE_PERIOD_S, manager.publish_statuses),
        PeriodicJob("evict-abandoned", STATE_WRITE_PERIOD_S, evict),
        PeriodicJob("end-abandoned", STATE_WRITE_PERIOD_S, end_abandoned),
        PeriodicJob("retention-sweep", SWEEP_PERIOD_S, retention, first_after=STATE_WRITE_PERIOD_S),
        PeriodicJob("heartbeat", STATE_WRITE_PERIOD_S, manager.heartbeat),
    ])
