"""A video jitter buffer that hands a frame to the decoder as soon as its last packet arrives.

aiortc's `JitterBuffer` knows a video frame is complete only when a packet of the *next* frame
arrives (its RTP timestamp changes), so every frame waits one frame interval (66 ms at 15 fps)
before decoding. The sender marks a frame's last packet with the RTP marker bit (RFC 7741 for VP8,
RFC 6184 for H.264; aiortc and browsers set it), so a frame whose packets are all present up to a
marked one is complete: `complete_frame` finds it then. When the marked packet is lost, the
timestamp change still completes the frame, exactly as before; gaps still wait, as before.

Pure: it reads the buffer's slots through a function. The aiortc subclass that uses it, and its
installation at worker start, are in `server/rtc/aiortc_private.py` (it overrides a private method).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar


class RtpPacketLike(Protocol):
    timestamp: int
    marker: int


P = TypeVar("P", bound=RtpPacketLike)


def complete_frame(slot: Callable[[int], P | None], capacity: int) -> tuple[int, list[P]] | None:
    """The first complete frame from the buffer's origin, or None while it is incomplete.

    `slot(count)` is the packet `count` places after the origin (None: not received). Returns how
    many slots to remove and the frame's packets, in order.
    """
    packets: list[P] = []
    timestamp = None
    for count in range(capacity):
        packet = slot(count)
        if packet is None:
            return None
        if timestamp is None:
            timestamp = packet.timestamp
        elif packet.timestamp != timestamp:  # the next frame started: this one is done
            return count, packets
        packets.append(packet)
        if packet.marker:  # the frame's last packet, and none missing before it
            return count + 1, packets
    return None
