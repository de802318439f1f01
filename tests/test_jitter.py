"""A video frame is complete at its marked last packet, or when the next frame starts; never with a gap."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from server.rtc.jitter import complete_frame


@dataclass
class Packet:
    timestamp: int
    marker: int = 0


def ring(*packets: Packet | None) -> Callable[[int], Packet | None]:
    """The buffer's slots from its origin: `packets`, then empty."""
    return lambda count: packets[count] if count < len(packets) else None


def test_the_marked_packet_completes_the_frame_at_once() -> None:
    a, b = Packet(100), Packet(100, marker=1)
    assert complete_frame(ring(a, b), 8) == (2, [a, b])


def test_without_a_marker_the_next_frame_completes_it() -> None:
    a, b, c = Packet(100), Packet(100), Packet(200)
    assert complete_frame(ring(a, b, c), 8) == (2, [a, b])


def test_a_frame_waits_while_a_packet_is_missing_or_unmarked() -> None:
    assert complete_frame(ring(Packet(100), None, Packet(100, marker=1)), 8) is None
    assert complete_frame(ring(Packet(100), Packet(100)), 8) is None
    assert complete_frame(ring(None, Packet(100, marker=1)), 8) is None
