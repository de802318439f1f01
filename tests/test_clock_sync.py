"""Capture times from clock messages, exact or estimated from the newest known frame."""
from server.rtc.clock_sync import CaptureClock


def test_exact_then_estimated_capture_times() -> None:
    clock = CaptureClock(capacity=3)
    assert clock.captured_ms(6000) is None  # nothing known yet
    clock.record(0, 1000.0)
    clock.record(6000, 1066.7)
    assert clock.captured_ms(6000) == 1066.7
    # the clock message of frame 12000 has not arrived: 6000 ticks (66.7 ms) after the newest known
    assert abs(clock.captured_ms(12000) - 1133.3) < 0.1
    assert clock.captured_ms(6000 + 3 * 90000) is None  # too far to guess
    clock.record(2**32 - 3000, 5000.0)  # just before the RTP timestamp wraps
    assert abs(clock.captured_ms(3000) - (5000.0 + 6000 / 90)) < 0.01
    clock.record(9, 1.0)
    clock.record(10, 2.0)
    assert clock.captured_ms(0) is not None and len(clock._map) == 3  # oldest entries dropped
