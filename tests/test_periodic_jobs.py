"""PeriodicJob closes even when its run turns the cancel into an ordinary error."""
from __future__ import annotations

import asyncio

from server.cluster.jobs import PeriodicJob


async def test_close_ends_a_job_whose_run_swallows_the_cancel() -> None:
    started = asyncio.Event()

    async def stubborn() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("timed out") from None  # what a client's timeout wrapper may do

    job = PeriodicJob("stubborn", 0.01, stubborn, first_after=0.0)
    job.start()
    await started.wait()
    await asyncio.wait_for(job.close(), 5)
    assert job.runs == 1 and job.failures == 1
