"""Ordered, lossless writes of one session's events to its Redis stream."""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.store.store import Store

log = logging.getLogger(__name__)


class EventOutbox:
    """Ordered, lossless writes of one session's events to its stream.

    `put` never blocks and never fails; a background task drains the queue in order. While Redis
    is unreachable the task retries with backoff, keeping every item; when Redis returns the
    backlog is written in the original order. `flush()` waits until everything queued is written.
    """

    RETRY_MIN_S = 0.2
    RETRY_MAX_S = 2.0

    def __init__(self, store: Store, sid: str,
                 state: Callable[[], Mapping[str, Any]] | None = None) -> None:
        self.store = store
        self.sid = sid
        #: session fields written with every batch (the risk engine's snapshot), so the state a
        #: resumed session restores is never older than the events already in the stream
        self.state = state
        self._queue: deque[Mapping[str, Any]] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.retries = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"outbox-{self.sid}")

    def put(self, item: Mapping[str, Any]) -> None:
        self._queue.append(item)
        self._idle.clear()
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def flush(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def close(self, timeout: float = 5.0) -> None:
        await self.flush(timeout)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        delay = self.RETRY_MIN_S
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = list(self._queue)[:100]
            try:
                await self.store.append_events(self.sid, batch, self.state() if self.state else None)
            except (RedisConnectionError, RedisTimeoutError, OSError, RedisError) as exc:
                self.retries += 1
                self.store.errors += 1
                log.warning("event write failed, will retry", extra={"session_id": self.sid, "error": str(exc),
                                                                     "pending": len(self._queue)})
                await asyncio.sleep(delay)
                delay = min(self.RETRY_MAX_S, delay * 2)
                continue
            delay = self.RETRY_MIN_S
            for _ in batch:
                self._queue.popleft()
            self.written += len(batch)
