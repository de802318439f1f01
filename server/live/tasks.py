"""A set of tasks with one owner: every task it starts is referenced until it ends, failures are logged,
and the owner cancels or awaits the rest when it closes (so no task is left without a reference)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any


class TaskSet:
    def __init__(self, log: logging.Logger | logging.LoggerAdapter[Any], suffix: str = "") -> None:
        self.log = log
        #: appended to every task's name (the session id), so a stuck task says whose it is
        self.suffix = suffix
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"{name}-{self.suffix}" if self.suffix else name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("task %s failed", task.get_name(), exc_info=task.exception())

    async def wait(self, limit_s: float | None = None) -> None:
        """Let the running tasks finish (at most `limit_s` seconds); they are not cancelled."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=limit_s)

    async def cancel(self) -> None:
        """Cancel every task but the caller's own, and wait until they have stopped."""
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
