"""Maps a frame's RTP timestamp to the sender's capture time, from the client's `clock` messages.

The data channel's `{"type":"clock","pts":P,"captured_ms":C}` says: the frame whose RTP timestamp
is P was captured at C (the sender's wall clock, ms). Scripted clients know P because they start
their RTP timestamps at 0 (see `server.tools.loadtest.client`); a browser cannot know its RTP timestamps,
so its analyses carry `captured_ms: null`. Only the newest `CAPACITY` entries are kept.

The data channel (SCTP) can lag behind the video (RTP) under load, so a frame may be analysed before
its own `clock` message arrives. Its capture time is then estimated from the newest known frame:
the scripted clients' pts are their capture schedule in 90 kHz ticks, so the difference in pts is the
difference in capture time.
"""
from __future__ import annotations

from collections import OrderedDict

#: 15 fps for 20 s: enough for any frame still waiting for analysis.
CAPACITY = 300
#: RTP video clock: ticks per millisecond.
TICKS_PER_MS = 90.0
#: how far (in ticks) a frame may be from the nearest known one for an estimate: 2 s.
MAX_EXTRAPOLATION_TICKS = 2 * 90000


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
        exact = self._map.get(pts)
        if exact is not None or not self._map:
            return exact
        known_pts, known_ms = next(reversed(self._map.items()))
        delta = (pts - known_pts) % (1 << 32)
        if delta >= 1 << 31:  # RTP timestamps wrap: a "negative" difference
            delta -= 1 << 32
        if abs(delta) > MAX_EXTRAPOLATION_TICKS:
            return None
        return known_ms + delta / TICKS_PER_MS
