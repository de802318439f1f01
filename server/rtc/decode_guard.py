"""Bounded latency below the analysis loop: shed aiortc's decode backlog when it builds up.

The analysis loop drops frames instead of queueing them, but aiortc decodes *every* received frame
in one thread per track, fed by an unbounded queue. When the machine cannot decode as fast as
frames arrive, that queue grows and every frame comes out later than the one before: latency
without bound. `LagMonitor` measures how far decoded frames fall behind their own media clock
(arrival time minus RTP time, against the best seen, a baseline that a shed does not move, so
backlog left where a shed cannot reach it (sockets, the event loop) still counts, and repeated sheds
cannot ratchet latency up by MAX_LAG_S each; it creeps by CLOCK_DRIFT only, to follow a sender
whose clock runs slow); past `MAX_LAG_S`, `DecodeGuard` sheds: it
empties the track's queue of encoded frames waiting for the decoder, and with `drain` (the session
gives `socket_buffers.drain_receive_buffers` of its peer) the packets still waiting in the kernel, and
asks the sender for a keyframe (RTCP PLI), since inter frames cannot be decoded without the ones dropped. Sheds are
counted (`vigil_decode_sheds`) and the frames lost show as drops.

This reaches into aiortc 1.16's receiver (its private decoder queue) through
`server/rtc/aiortc_private.py`, which checks those names at worker start.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from server.core import metrics
from server.rtc.aiortc_private import decoded_frames, decoder_queue, request_keyframe

log = logging.getLogger(__name__)

#: decoded frames this far behind their media clock mean a backlog, not jitter (jitter buffers and
#: network jitter stay well under 200 ms on the networks we serve).
MAX_LAG_S = 0.5
#: after a shed, wait this long for the keyframe before judging again.
SHED_HOLD_S = 1.0
VIDEO_CLOCK_RATE = 90000
#: how fast the baseline may rise, s per s: a sender's clock 200 ppm slow than ours (crystals are
#: within 100) never reads as backlog, while a real backlog cannot hide in 12 ms a minute.
CLOCK_DRIFT = 200e-6


class LagMonitor:
    """Pure: how late a frame arrives compared with the earliest-arriving frame, on the media clock."""

    def __init__(self, clock_rate: int = VIDEO_CLOCK_RATE) -> None:
        self.clock_rate = clock_rate
        self._last_ts: int | None = None
        self._unwrapped = 0
        self._best: float | None = None  # min over frames of (arrival - media time), creeping by CLOCK_DRIFT
        self._last_arrival: float | None = None

    def observe(self, arrival_s: float, rtp_ts: int) -> float:
        if self._last_ts is None:
            self._unwrapped = rtp_ts
        else:
            delta = (rtp_ts - self._last_ts) % (1 << 32)
            if delta >= 1 << 31:
                delta -= 1 << 32
            self._unwrapped += delta
        self._last_ts = rtp_ts
        offset = arrival_s - self._unwrapped / self.clock_rate
        if self._best is not None and self._last_arrival is not None:
            self._best += CLOCK_DRIFT * max(0.0, arrival_s - self._last_arrival)
        self._last_arrival = arrival_s
        if self._best is None or offset < self._best:
            self._best = offset
        return offset - self._best

    def reset(self) -> None:
        self._best = None
        self._last_arrival = None


def drop_decoder_backlog(receiver: Any) -> int:
    """Empty a receiver's queue of encoded frames waiting for its decoder (a stop request stays).

    Also used before a peer closes: aiortc joins the decoder thread on the event loop, which would
    otherwise decode the whole backlog first while every session waits."""
    pending = decoder_queue(receiver)
    if pending is None:
        return 0
    with pending.mutex:
        kept = [task for task in pending.queue if task is None]
        dropped = len(pending.queue) - len(kept)
        pending.queue.clear()
        pending.queue.extend(kept)
    return dropped


def drop_decoded_backlog(track: Any) -> int:
    """Drop decoded frames waiting in the track's queue for the event loop, keeping the newest."""
    items = decoded_frames(track)
    if items is None or len(items) <= 1:
        return 0
    keep = [items[-1]] if items[-1] is not None else [None]
    dropped = len(items) - len(keep)
    items.clear()
    items.extend(keep)
    return dropped


class DecodeGuard:
    def __init__(self, receiver: Any, *, max_lag_s: float = MAX_LAG_S,
                 drain: Callable[[], int] | None = None) -> None:
        self.receiver = receiver
        self.max_lag_s = max_lag_s
        #: discards the packets waiting below aiortc (the peer's socket buffers); returns how many
        self.drain = drain
        self.shed_packets = 0
        self.monitor = LagMonitor()
        self.sheds = 0
        self.shed_frames = 0
        self._hold_until = 0.0

    def check(self, arrival_s: float, rtp_ts: int | None) -> float:
        """Observe one decoded frame; shed the backlog when it lags too far. Returns the lag."""
        if rtp_ts is None:
            return 0.0
        lag = self.monitor.observe(arrival_s, rtp_ts)
        if lag > self.max_lag_s and arrival_s >= self._hold_until:
            self.shed(arrival_s)
        return lag

    def shed(self, now_s: float) -> int:
        dropped = drop_decoder_backlog(self.receiver) + drop_decoded_backlog(getattr(self.receiver, "track", None))
        packets = self.drain() if self.drain is not None else 0
        self.shed_packets += packets
        self.sheds += 1
        self.shed_frames += dropped
        metrics.DECODE_SHEDS.inc()
        self._hold_until = now_s + SHED_HOLD_S  # the baseline stays: see the module docstring
        asyncio.get_running_loop().create_task(self._request_keyframe())
        log.warning("decode backlog shed: %d encoded frames and %d waiting packets dropped, keyframe requested",
                    dropped, packets)
        return dropped

    async def _request_keyframe(self) -> None:
        try:
            for source in self.receiver.getSynchronizationSources():
                await request_keyframe(self.receiver, source.source)
        except Exception as exc:  # the peer may be closing
            log.debug("PLI failed: %s", exc)
