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
from dataclasses import dataclass
from typing import Awaitable, Callable, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


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

    def put(self, frame: T, received_ms: float) -> None:
        if self._item is not None:
            self.dropped += 1
        self._item = Received(frame, received_ms)
        self.received += 1
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    def take_nowait(self) -> Received[T] | None:
        item, self._item = self._item, None
        self._ready.clear()
        return item

    async def take(self) -> Received[T] | None:
        """The newest frame, waiting for one; None once closed and empty."""
        while self._item is None:
            if self.closed:
                return None
            await self._ready.wait()
            if self._item is None:
                self._ready.clear()
        return self.take_nowait()


async def drain_track(track: object, slot: NewestFrame, on_frame: Callable[[], None] | None = None) -> None:
    """Receive every frame of `track` into `slot` until the track ends."""
    from aiortc.mediastreams import MediaStreamError

    try:
        while True:
            frame = await track.recv()  # type: ignore[attr-defined]
            slot.put(frame, time.time() * 1000.0)
            if on_frame is not None:
                on_frame()
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
            # schedule from the planned time, but never try to catch up on missed periods
            next_at = max(next_at + self.period, loop.time())
            await self.analyse(item)
            self.analysed += 1

    @property
    def dropped(self) -> int:
        return self.slot.dropped + self.skipped
