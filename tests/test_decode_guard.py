"""Frames are dropped, not queued, even below the analysis loop: a decode backlog is shed."""
from __future__ import annotations

import asyncio
import time

import aiortc.rtcrtpreceiver as receiver_module
import pytest

from server.rtc.decode_guard import LagMonitor
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP


def test_lag_monitor_measures_backlog_not_offset() -> None:
    lag = LagMonitor()
    # frames every 1/15 s arriving 80 ms after "capture", a constant offset: no lag
    for i in range(30):
        assert lag.observe(100.08 + i / 15, i * 6000) == pytest.approx(0.0, abs=1e-9)
    # a decoder that takes 0.15 s per frame: each frame comes out later than the last
    lags = [lag.observe(102.08 + i * 0.15, (30 + i) * 6000) for i in range(10)]
    assert lags == sorted(lags) and lags[-1] > 0.7
    # RTP timestamps wrap at 2**32 without a jump in lag
    wrap = LagMonitor()
    wrap.observe(0.0, 2**32 - 6000)
    assert wrap.observe(1 / 15, 0) == pytest.approx(0.0, abs=1e-9)


def test_the_baseline_survives_and_creeps_only_by_clock_drift() -> None:
    from server.rtc.decode_guard import CLOCK_DRIFT

    lag = LagMonitor()
    lag.observe(100.0, 0)
    # a backlog the shed could not reach: 0.6 s late a minute on is still 0.6 s of lag, less the
    # baseline's 12 ms creep, never taken as the new normal (a reset would have read 0)
    assert lag.observe(160.6, 60 * 90000) == pytest.approx(0.6 - CLOCK_DRIFT * 60.6, abs=1e-6)
    assert lag.observe(161.6, 61 * 90000) == pytest.approx(0.6 - CLOCK_DRIFT * 61.6, abs=1e-6)
    # a sender whose clock is 100 ppm slow than ours drifts 0.36 s an hour: never more than noise
    slow = LagMonitor()
    lags = [slow.observe(t * 1.0001, int(t * 90000)) for t in range(0, 3600, 10)]
    assert max(lags) < 0.05


class SlowDecoder:
    """A real decoder that takes 150 ms a frame: slower than the 15 fps the client sends."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner

    def decode(self, encoded_frame):  # type: ignore[no-untyped-def]
        time.sleep(0.15)
        return self.inner.decode(encoded_frame)


async def test_a_slow_decoder_does_not_grow_latency_without_bound(vigil_server, monkeypatch) -> None:
    real = receiver_module.get_decoder
    monkeypatch.setattr(receiver_module, "get_decoder",
                        lambda codec: SlowDecoder(real(codec)) if codec.mimeType.startswith("video/") else real(codec))
    client = CandidateClient(vigil_server.url, FACE_CLIP, candidate_id="slow-decoder")
    try:
        await client.connect()
        await client.wait_for(lambda m: m.get("type") == "analysis", timeout=20)
        await asyncio.sleep(12.0)
        session = vigil_server.sessions.live[client.session_id]
        assert session.counters.decode_sheds >= 1
        late = client.latencies_ms()[-5:]
        # without shedding the backlog grows ~1 s for every 2 s streamed (15 fps in, 6.7 fps decoded)
        assert late and max(late) < 2000, late
    finally:
        await client.close()


def test_a_drain_discards_what_waits_in_a_socket_and_never_blocks() -> None:
    import socket

    from server.rtc.socket_buffers import drain_socket

    receiver, sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        receiver.bind(("127.0.0.1", 0))
        for i in range(5):  # five stale RTP-sized packets
            sender.sendto(bytes([i]) * 1200, receiver.getsockname())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not select_readable(receiver):
            time.sleep(0.01)
        assert drain_socket(receiver) == 5
        assert drain_socket(receiver) == 0  # empty: returns at once
        sender.sendto(b"fresh", receiver.getsockname())
        receiver.settimeout(5)
        assert receiver.recv(100) == b"fresh"  # the socket still works after a drain
    finally:
        receiver.close()
        sender.close()


def select_readable(sock) -> bool:  # type: ignore[no-untyped-def]
    import select

    return bool(select.select([sock], [], [], 0)[0])
