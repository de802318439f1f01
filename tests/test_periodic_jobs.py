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


async def test_a_failing_job_logs_one_warning_then_one_recovery_and_counts_store_failures(caplog) -> None:  # type: ignore[no-untyped-def]
    """A Redis outage fails a job every period: one warning with the error's text when it starts failing,
    one line when it recovers, the tracebacks at DEBUG only; each store failure is a Redis error."""
    import logging

    from server.core.metrics import REDIS_ERRORS
    from server.store.errors import StoreUnavailable

    outcomes = [StoreUnavailable("Error 111 connecting to 127.0.0.1:1.\nConnection refused."),
                StoreUnavailable("again"), StoreUnavailable("and again"), None]
    done = asyncio.Event()

    async def flaky() -> None:
        outcome = outcomes.pop(0) if outcomes else None
        if not outcomes:
            done.set()
        if outcome is not None:
            raise outcome

    before = REDIS_ERRORS._value.get()
    caplog.set_level(logging.DEBUG, logger="server.cluster.jobs")
    job = PeriodicJob("flaky", 0.01, flaky, first_after=0.0)
    job.start()
    await asyncio.wait_for(done.wait(), 5)
    await job.close()

    assert REDIS_ERRORS._value.get() - before == 3
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "periodic job flaky failing: RedisError: Error 111 connecting to 127.0.0.1:1.",
        "periodic job flaky recovered after 3 failed runs"]
    assert all(r.exc_info is None for r in warnings)
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug) == 3 and all(r.exc_info for r in debug)
