"""From a live video track to analysed frames, with bounded latency.

Two tasks per candidate:

* `drain_video` reads every decoded frame from the aiortc track as fast as it arrives and puts it in a
  `NewestFrame` slot, which holds one frame: a newer frame replaces an older one that was never
  analysed, and that replacement is counted as a drop. Reading continuously keeps aiortc's jitter
  buffer and decoder from backing up.
* `AnalysisLoop` takes the newest frame at most `fps` times a second and awaits its analysis (which
  runs in an executor, never on the event loop) before taking the next: one frame in flight per
  session. When the machine is busy, analyses simply start later and take the newest frame then, so
  frames are dropped, never queued, and latency stays bounded by one analysis time plus one period.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: a frame older than this share of the frame interval at its tick is swapped for the next one
STALE_SHARE = 0.3
#: smoothing of the inter-arrival estimate
INTERVAL_EMA = 0.1


@dataclass(frozen=True)
class Received(Generic[T]):
    frame: T
    received_ms: float


class NewestFrame(Generic[T]):
    """A one-frame mailbox: `put` never blocks and overwrites; `take` waits for a frame."""

    def __init__(self) -> None:
        self._item: Received[T] | None = None
        self._ready = asyncio.Event()
        self.received = 0
        self.dropped = 0
        self.closed = False
        #: smoothed time between arrivals, ms (None until two frames came)
        self.interval_ms: float | None = None
        self._last_ms: float | None = None

    def put(self, frame: T, received_ms: float) -> None:
        if self._item is not None:
            self.dropped += 1
        if self._last_ms is not None and 0 < received_ms - self._last_ms < 1000:
            gap = received_ms - self._last_ms
            self.interval_ms = gap if self.interval_ms is None else self.interval_ms + INTERVAL_EMA * (gap - self.interval_ms)
        self._last_ms = received_ms
        self._item = Received(frame, received_ms)
        self.received += 1
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    def newest(self) -> Received[T] | None:
        """The waiting frame, without taking it."""
        return self._item

    def take_nowait(self) -> Received[T] | None:
        item, self._item = self._item, None
        self._ready.clear()
        return item

    async def next_within(self, timeout: float) -> Received[T] | None:
        """A frame arriving within `timeout` seconds (or already waiting), else None."""
        if self._item is None and not self.closed:
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
        return self.take_nowait()

    async def take(self) -> Received[T] | None:
        """The newest frame, waiting for one; None once closed and empty."""
        while self._item is None:
            if self.closed:
                return None
            await self._ready.wait()
            if self._item is None:
                self._ready.clear()
        return self.take_nowait()


async def drain_track(track: object, slot: NewestFrame,
                      on_frame: Callable[[Any, float], None] | None = None) -> None:
    """Receive every frame of `track` into `slot` until the track ends."""
    from aiortc.mediastreams import MediaStreamError

    try:
        while True:
            frame = await track.recv()  # type: ignore[attr-defined]
            received_ms = time.time() * 1000.0
            slot.put(frame, received_ms)
            if on_frame is not None:
                on_frame(frame, received_ms)
    except MediaStreamError:
        pass
    finally:
        slot.close()


class AnalysisLoop(Generic[T]):
    """Analyse the newest frame at most `fps` times a second, one at a time."""

    def __init__(self, slot: NewestFrame[T], fps: float, analyse: Callable[[Received[T]], Awaitable[None]]) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.slot = slot
        self.period = 1.0 / fps
        self.analyse = analyse
        self.analysed = 0
        self.skipped = 0  # frames taken, then replaced by a newer one while waiting for the period

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            item = await self.slot.take()
            if item is None:
                return
            wait = next_at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                newer = self.slot.take_nowait()
                if newer is not None:  # the newest frame wins
                    self.skipped += 1
                    item = newer
                item = await self._fresher(item)
            # schedule from the planned time, but never try to catch up on missed periods
            next_at = max(next_at + self.period, loop.time())
            await self.analyse(item)
            self.analysed += 1

    async def _fresher(self, item: Received[T]) -> Received[T]:
        interval = self.slot.interval_ms
        if interval is None:
            return item
        age = time.time() * 1000.0 - item.received_ms
        if age <= STALE_SHARE * interval:
            return item
        fresh = await self.slot.next_within(max(0.0, interval - age + 10.0) / 1000.0)
        if fresh is None:
            return item
        self.skipped += 1
        return fresh

    @property
    def dropped(self) -> int:
        return self.slot.dropped + self.skipped
