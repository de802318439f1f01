"""A video jitter buffer that hands a frame to the decoder as soon as its last packet arrives.

aiortc's `JitterBuffer` knows a video frame is complete only when a packet of the *next* frame
arrives (its RTP timestamp changes), so every frame waits one frame interval (66 ms at 15 fps)
before decoding. The sender marks a frame's last packet with the RTP marker bit (RFC 7741 for VP8,
RFC 6184 for H.264; aiortc and browsers set it), so a frame whose packets are all present up to a
marked one is complete. `MarkerJitterBuffer` emits it then. When the marked packet is lost, the
timestamp change still completes the frame, exactly as before; gaps still wait, as before.
"""
from __future__ import annotations

from typing import Any

import aiortc.rtcrtpreceiver as receiver_module
from aiortc.jitterbuffer import JitterBuffer, JitterFrame


class MarkerJitterBuffer(JitterBuffer):
    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        packets: list[Any] = []
        timestamp = None
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self._capacity]  # type: ignore[operator]
            if packet is None:
                return None
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:  # the next frame started: this one is done
                frame = JitterFrame(data=b"".join(p._data for p in packets), timestamp=timestamp)
                self.remove(count)
                return frame
            packets.append(packet)
            if packet.marker:  # the frame's last packet, and none missing before it
                frame = JitterFrame(data=b"".join(p._data for p in packets), timestamp=timestamp)
                self.remove(count + 1)
                return frame
        return None


def _jitter_buffer(capacity: int, prefetch: int = 0, is_video: bool = False) -> JitterBuffer:
    cls = MarkerJitterBuffer if is_video and prefetch == 0 else JitterBuffer
    return cls(capacity=capacity, prefetch=prefetch, is_video=is_video)


def install_marker_jitter_buffer() -> None:
    """Make this process's aiortc receivers use `MarkerJitterBuffer` for video. Idempotent."""
    receiver_module.JitterBuffer = _jitter_buffer  # type: ignore[assignment, misc]
