"""Coverage: every second observed or not (with the reason), video_lost, and no CLEAR for the unwatched."""
from __future__ import annotations

import json

import pytest

from pipeline.risk import Observation, Policy, RiskEngine
from pipeline.risk.coverage import CoverageLedger


def frame(t: float, n: int, quality: str = "ok") -> Observation:
    return Observation(t=t, frame_id=n, faces=1, face_confidence=0.9, head_yaw=0.0, head_pitch=0.0,
                       gaze_direction="center", gaze_on_screen=True, persons=1, left_seat=False,
                       image_quality=quality, identity_changed=False)  # type: ignore[arg-type]


def stream(engine: RiskEngine, start: float, stop: float, first_id: int = 1, quality: str = "ok") -> int:
    """Analysed frames at 5 fps in [start, stop) with ticks once a second, as a live session feeds them."""
    n, t = first_id, start
    while t < stop - 1e-9:
        engine.observe(frame(round(t, 3), n, quality))
        if abs(t - round(t)) < 1e-9:
            engine.advance(round(t, 3), video_at=round(t, 3))
        n, t = n + 1, t + 0.2
    return n


def stall(engine: RiskEngine, start: float, stop: float, last_video: float) -> list[str]:
    """Ticks once a second while no video arrives; returns the event changes seen."""
    changes = []
    t = start
    while t <= stop:
        update = engine.advance(t, video_at=last_video)
        changes += [f"start {e.type} {e.start:g}" for e in update.started]
        changes += [f"end {e.type} {e.end:g}" for e in update.ended]
        t += 1.0
    return changes


def test_a_stalled_camera_is_unobserved_and_raises_video_lost_until_frames_return() -> None:
    engine = RiskEngine(Policy(), start=0.0)
    engine.connection(0.5, True)
    n = stream(engine, 1.0, 11.0)
    changes = stall(engine, 11.0, 20.0, last_video=10.8)
    assert changes == ["start video_lost 12"], changes  # holds past 1 s without video, confirmed 2 s later
    update = engine.observe(frame(20.2, n))
    assert [e.type for e in update.ended] == ["video_lost"]
    stream(engine, 20.4, 40.0, first_id=n + 1)
    verdict = engine.finish(40.0)
    # 0-0.5 not connected, 0.5-1.0 connected before the first frame, 11.8-20.2 without video
    assert verdict.unobserved["not_connected"] == pytest.approx(0.5)
    assert verdict.unobserved["no_video"] == pytest.approx(0.5 + 8.4, abs=0.01)
    assert verdict.observed_seconds == pytest.approx(40.0 - 0.5 - 8.9, abs=0.01)
    assert verdict.coverage == pytest.approx(verdict.observed_seconds / 40.0)
    assert [s[2] for s in verdict.unobserved_spans] == ["not_connected", "no_video", "no_video"]
    assert verdict.counts["video_lost"] == 1


def test_a_long_unobserved_session_is_never_clear_and_says_why() -> None:
    # the reproduction: 161 s, about 100 s of it with the camera stalled while the peer stays up
    engine = RiskEngine(Policy(), start=0.0)
    engine.connection(0.0, True)
    n = stream(engine, 0.0, 40.0)
    stall(engine, 40.0, 140.0, last_video=39.8)
    stream(engine, 140.0, 161.0, first_id=n)
    verdict = engine.finish(161.0)
    assert verdict.verdict == "REVIEW"
    assert verdict.reasons[0].startswith("unobserved 99")
    assert "of 161 s" in verdict.reasons[0] and "no video frames" in verdict.reasons[0]


def test_a_session_never_connected_is_review_not_clear() -> None:
    engine = RiskEngine(Policy(), start=100.0)
    verdict = engine.finish(112.0)
    assert verdict.verdict == "REVIEW"
    assert verdict.reasons[0] == "never observed: no usable video in 12 s (not connected 12 s)"
    assert verdict.coverage == 0.0


def test_a_watched_session_with_a_short_gap_stays_clear() -> None:
    engine = RiskEngine(Policy(), start=0.0)
    engine.connection(1.0, True)
    stream(engine, 1.5, 120.0)
    verdict = engine.finish(120.0)
    assert verdict.verdict == "CLEAR", verdict.reasons
    assert verdict.coverage is not None and verdict.coverage > 0.98


def test_unusable_frames_and_lagging_analysis_are_unobserved_with_their_reason() -> None:
    ledger = CoverageLedger(frame_gap_s=1.0, start=0.0)
    ledger.connection(0.0, "connected")
    for i in range(10):  # covered lens, 5 fps for 2 s
        ledger.frame(i * 0.2, "covered")
    ledger.frame(2.0, "ok")
    for t in (3.0, 4.0, 5.0):  # decoded video arrives, but nothing is analysed (overload)
        ledger.video(t, received_at=t)
    ledger.connection(6.0, "disconnected")
    ledger.advance(10.0)
    assert ledger.seconds["covered"] == pytest.approx(2.0)
    assert ledger.seconds["observed"] == pytest.approx(1.0)
    assert ledger.seconds["not_analysed"] == pytest.approx(3.0)
    assert ledger.seconds["disconnected"] == pytest.approx(4.0)
    assert not ledger.video_lost(10.0)  # disconnected is not video lost


def test_coverage_survives_a_snapshot_and_restore() -> None:
    engine = RiskEngine(Policy(), start=0.0)
    engine.connection(0.0, True)
    stream(engine, 0.0, 10.0)
    stall(engine, 10.0, 14.0, last_video=9.8)
    revived = RiskEngine.restore(json.loads(json.dumps(engine.snapshot())))
    assert revived.finish(20.0).to_dict() == engine.finish(20.0).to_dict()


def test_min_coverage_is_a_validated_share() -> None:
    from pipeline.risk import PolicyError, policy_from_dict

    assert policy_from_dict({"verdict": {"min_coverage": 0.5}}).verdict.min_coverage == 0.5
    with pytest.raises(PolicyError, match="verdict.min_coverage"):
        policy_from_dict({"verdict": {"min_coverage": 1.5}})
