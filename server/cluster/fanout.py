"""The live fan-out: one pub/sub subscription per worker, copied to every open dashboard's queue.

Every worker publishes to `vigil:channel:live` a `status` message per live session once a second and
an `events` message whenever an event starts or ends (see `server.store`). A worker subscribes only
while at least one dashboard stream is open on it, and copies each message into a bounded queue per
stream. A stream that does not read fast enough loses its oldest messages (a newer status supersedes
them), never blocks the others. When Redis goes away the streams stay open and the subscription is
retried every second.

`start()` launches the one relay task; `close()` ends every open stream (each reads a final None)
and stops the task. Close is idempotent: the app calls it at shutdown, so open streams end before
aiohttp waits for handlers, and again when its lifetimes are torn down.
"""
from __future__ import annotations

import asyncio
import logging

from server.store.store import Store

log = logging.getLogger(__name__)

#: messages a dashboard may fall behind before its oldest are dropped
STREAM_QUEUE = 256
#: how long a relay waits for a message before it looks again whether anybody still listens
POLL_S = 1.0
#: the wait before subscribing again after Redis went away
RETRY_S = 1.0


class LiveFanout:
    """Owns the relay task and the per-stream queues. A queue yields raw JSON strings, then None at close."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.queues: set[asyncio.Queue[str | None]] = set()
        self._listened = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._relay_forever(), name="live-fanout")

    def subscribe(self) -> asyncio.Queue[str | None]:
        """A new stream's queue; after close, a queue that ends at once."""
        queue: asyncio.Queue[str | None] = asyncio.Queue(STREAM_QUEUE)
        if self._closed:
            queue.put_nowait(None)
            return queue
        self.queues.add(queue)
        self._listened.set()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str | None]) -> None:
        self.queues.discard(queue)
        if not self.queues:
            self._listened.clear()

    def _deliver(self, raw: str | None) -> None:
        for queue in list(self.queues):
            if queue.full():
                queue.get_nowait()  # drop the oldest: a newer status supersedes it
            queue.put_nowait(raw)

    async def _relay_forever(self) -> None:
        while True:
            await self._listened.wait()
            await self._relay()

    async def _relay(self) -> None:
        """Subscribe and copy messages while any stream listens; on a Redis error, wait and return."""
        pubsub = None
        try:
            pubsub = await self.store.subscribe_live()
            while self.queues:
                msg = await pubsub.get_message(timeout=POLL_S)
                if msg is not None and msg.get("type") == "message":
                    self._deliver(msg["data"])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis away: dashboards keep their stream, we resubscribe
            log.warning("live subscription lost: %s", exc)
            await asyncio.sleep(RETRY_S)
        finally:
            if pubsub is not None:
                try:
                    await pubsub.aclose()
                except Exception:  # a broken connection cannot be closed cleanly; it is dropped
                    pass

    async def close(self) -> None:
        """End every open stream and stop relaying; a second call does nothing more."""
        if not self._closed:
            self._closed = True
            self._deliver(None)  # every open stream ends
            self.queues.clear()
            self._listened.clear()
            if self._task is not None:
                self._task.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
