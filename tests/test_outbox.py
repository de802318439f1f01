"""The event outbox with a small fake store: ordered, lossless while the store fails and recovers,
`flush` waits for everything queued, `close` flushes then stops."""
from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from server.store.outbox import EventOutbox


class FakeStore:
    """`Store.append_events` in memory: a batch is written whole or, while `down`, not at all."""

    def __init__(self) -> None:
        self.stream: list[Mapping[str, Any]] = []
        self.fields: list[Mapping[str, Any] | None] = []  # the session fields written with each batch
        self.batches: list[int] = []
        self.errors = 0
        self.down = False
        self.failed = asyncio.Event()  # set at each failed write

    async def append_events(self, sid: str, items: Iterable[Mapping[str, Any]],
                            fields: Mapping[str, Any] | None = None) -> list[str]:
        await asyncio.sleep(0)
        if self.down:
            self.failed.set()
            raise RedisConnectionError("store down")
        items = list(items)
        self.stream.extend(items)
        self.fields.append(fields)
        self.batches.append(len(items))
        return [str(len(self.stream) - len(items) + i) for i in range(len(items))]


def outbox_for(store: FakeStore, **kwargs: Any) -> EventOutbox:
    outbox = EventOutbox(store, "s1", **kwargs)  # type: ignore[arg-type]
    outbox.RETRY_MIN_S = outbox.RETRY_MAX_S = 0.001  # retry at once: the test waits on events, not time
    outbox.start()
    return outbox


async def test_every_item_is_written_once_in_order() -> None:
    store = FakeStore()
    outbox = outbox_for(store)
    for i in range(250):
        outbox.put({"n": i})
    assert await outbox.flush()
    assert [item["n"] for item in store.stream] == list(range(250))
    assert max(store.batches) <= 100 and outbox.written == 250 and outbox.pending == 0
    await outbox.close()


async def test_nothing_is_lost_while_the_store_is_down() -> None:
    store = FakeStore()
    outbox = outbox_for(store)
    outbox.put({"n": 0})
    assert await outbox.flush()
    store.down = True
    for i in range(1, 6):
        outbox.put({"n": i})
    await store.failed.wait()
    store.failed.clear()
    await store.failed.wait()  # a second failed attempt: it retries, keeping the items
    assert outbox.pending == 5 and outbox.retries >= 2 and store.errors == outbox.retries
    assert not await outbox.flush(timeout=0.01)  # nothing can be written: flush reports it
    outbox.put({"n": 6})  # put never blocks, even while the store is down
    store.down = False
    assert await outbox.flush()
    assert [item["n"] for item in store.stream] == list(range(7))
    await outbox.close()


async def test_each_batch_carries_the_state_at_its_write() -> None:
    store = FakeStore()
    state = {"risk": 1}
    outbox = outbox_for(store, state=lambda: dict(state))
    outbox.put({"n": 0})
    assert await outbox.flush()
    state["risk"] = 2
    outbox.put({"n": 1})
    assert await outbox.flush()
    assert store.fields == [{"risk": 1}, {"risk": 2}]
    await outbox.close()


async def test_close_writes_what_is_queued_then_stops() -> None:
    store = FakeStore()
    outbox = outbox_for(store)
    for i in range(3):
        outbox.put({"n": i})
    await outbox.close()
    assert [item["n"] for item in store.stream] == [0, 1, 2]
    outbox.put({"n": 3})  # after close nothing drains the queue any more
    await asyncio.sleep(0)
    assert outbox.pending == 1 and len(store.stream) == 3


async def test_close_gives_up_after_its_timeout_when_the_store_stays_down() -> None:
    store = FakeStore()
    store.down = True
    outbox = outbox_for(store)
    outbox.put({"n": 0})
    await outbox.close(timeout=0.01)  # returns, and the retry task is stopped
    store.down = False
    await asyncio.sleep(0.01)
    assert store.stream == [] and outbox.pending == 1
    await outbox.close(timeout=0.01)  # a second close is harmless
