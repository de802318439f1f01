"""Maps a frame's RTP timestamp to the sender's capture time, from the client's `clock` messages.

The data channel's `{"type":"clock","pts":P,"captured_ms":C}` says: the frame whose RTP timestamp
is P was captured at C (the sender's wall clock, ms). Scripted clients know P because they start
their RTP timestamps at 0 (see `server.loadtest.client`); a browser cannot know its RTP timestamps,
so its analyses carry `captured_ms: null`. Only the newest `CAPACITY` entries are kept.
"""
from __future__ import annotations

from collections import OrderedDict

#: 15 fps for 20 s: enough for any frame still waiting for analysis.
CAPACITY = 300


class CaptureClock:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._map: OrderedDict[int, float] = OrderedDict()

    def record(self, pts: int, captured_ms: float) -> None:
        self._map[pts] = captured_ms
        self._map.move_to_end(pts)
        while len(self._map) > self.capacity:
            self._map.popitem(last=False)

    def captured_ms(self, pts: int) -> float | None:
        return self._map.get(pts)
