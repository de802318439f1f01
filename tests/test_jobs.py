"""The worker's periodic jobs: a failing run never stops the job, runs never overlap, close is idempotent."""
from __future__ import annotations

import asyncio

import pytest

from server.cluster.jobs import Jobs, PeriodicJob


async def _until(check, what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


async def test_a_failing_run_is_counted_and_the_job_goes_on() -> None:
    calls: list[int] = []

    async def flaky() -> None:
        calls.append(len(calls))
        if len(calls) % 2:
            raise RuntimeError("store away")

    job = PeriodicJob("flaky", 0.01, flaky, first_after=0.0)
    job.start()
    await _until(lambda: len(calls) >= 4, "four runs")
    await job.close()
    assert job.failures >= 2 and job.runs >= 4


async def test_a_slow_run_delays_the_next_instead_of_overlapping() -> None:
    running, overlaps, runs = 0, 0, 0

    async def slow() -> None:
        nonlocal running, overlaps, runs
        running += 1
        overlaps += running > 1
        await asyncio.sleep(0.03)  # three periods long
        running -= 1
        runs += 1

    job = PeriodicJob("slow", 0.01, slow, first_after=0.0)
    job.start()
    await _until(lambda: runs >= 3, "three runs")
    await job.close()
    assert overlaps == 0


async def test_close_cancels_a_run_in_progress_and_a_second_close_does_nothing() -> None:
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    job = PeriodicJob("stuck", 0.01, forever, first_after=0.0)
    job.start()
    await asyncio.wait_for(started.wait(), 5)
    await job.close()
    await job.close()
    assert job.runs == 0


async def test_jobs_start_together_and_close_in_reverse_order() -> None:
    closed: list[str] = []

    class Recorded(PeriodicJob):
        async def close(self) -> None:
            closed.append(self.name)
            await super().close()

    async def nothing() -> None:
        return None

    jobs = Jobs([Recorded(name, 0.01, nothing) for name in ("first", "second", "third")])
    jobs.start()
    await _until(lambda: all(j.runs for j in jobs.jobs), "every job ran")
    await jobs.close()
    assert closed == ["third", "second", "first"]
    assert jobs["second"].name == "second"


def test_a_period_must_be_positive() -> None:
    async def nothing() -> None:
        return None

    with pytest.raises(ValueError, match="period"):
        PeriodicJob("never", 0.0, nothing)
