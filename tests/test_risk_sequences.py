"""Risk engine on recorded sequences: given these observations, exactly these events and scores."""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pipeline.risk import BrowserSignal, Observation, Policy, RiskEngine, RiskUpdate, policy_from_dict

DATA = Path(__file__).parent / "data" / "risk"
FPS = 5

#: A candidate at the screen, as the vision stages report it.
CLEAN: dict[str, Any] = {
    "faces": 1,
    "face_confidence": 0.95,
    "head_yaw": 0.0,
    "head_pitch": 0.0,
    "gaze_direction": "center",
    "persons": 1,
    "image_quality": "ok",
}


def frames(start: float, end: float, fps: int = FPS, **fields: Any) -> list[Observation]:
    """Frames at i / fps for start <= t < end, clean unless `fields` say otherwise."""
    first, last = round(start * fps), round(end * fps)
    return [Observation(t=i / fps, frame_id=i, **{**CLEAN, **fields}) for i in range(first, last)]


def run(engine: RiskEngine, items: Iterable[Observation | BrowserSignal]) -> list[RiskUpdate]:
    return [engine.observe(x) if isinstance(x, Observation) else engine.browser(x) for x in items]


def started(updates: list[RiskUpdate]) -> list[tuple[float, str]]:
    return [(u.t, e.id) for u in updates for e in u.started]


def ended(updates: list[RiskUpdate]) -> list[tuple[float, str]]:
    return [(u.t, e.id) for u in updates for e in u.ended]


def load(name: str) -> list[Observation]:
    lines = (DATA / name).read_text().splitlines()
    return [Observation.from_dict(json.loads(line)) for line in lines if line.strip()]


# -- debounce and release ------------------------------------------------------------------------


def test_no_face_for_4s_is_one_event_from_first_frame_to_release() -> None:
    engine = RiskEngine(Policy())
    updates = run(engine, frames(0, 4, faces=0) + frames(4, 8))

    assert started(updates) == [(3.0, "no_face-1")]  # confirmed after the 3 s debounce
    assert ended(updates) == [(5.0, "no_face-1")]  # reported after the 1 s release
    event = engine.events[0]
    assert (event.type, event.start, event.end, event.evidence_frame_id) == ("no_face", 0.0, 4.0, 0)
    assert len(engine.events) == 1
    by_t = {u.t: u.risk_score for u in updates}
    # +15 at start; +2/s while it holds offsets the 2/s decay; then plain decay.
    assert by_t[3.0] == pytest.approx(15.0)
    assert by_t[4.0] == pytest.approx(15.0)
    assert by_t[5.0] == pytest.approx(13.0)
    assert by_t[7.8] == pytest.approx(15.0 - 2 * 3.8)


def test_single_missed_frame_does_not_split_an_event() -> None:
    engine = RiskEngine(Policy())
    seq = frames(0, 2, faces=0) + frames(2, 2.2) + frames(2.2, 6, faces=0) + frames(6, 9)
    run(engine, seq)
    assert [(e.id, e.start, e.end) for e in engine.events] == [("no_face-1", 0.0, 6.0)]


def test_look_away_shorter_than_debounce_gives_no_event() -> None:
    engine = RiskEngine(Policy())
    engine.set_baseline(0.0, 0.0)
    # 10 fps, gaze left from 2.0 s to 3.5 s: held 1.5 s < the 2 s debounce.
    seq = frames(0, 2, fps=10) + frames(2, 3.6, fps=10, gaze_direction="left") + frames(3.6, 8, fps=10)
    updates = run(engine, seq)
    assert engine.events == ()
    assert all(u.risk_score == 0.0 for u in updates)


def test_look_away_for_debounce_time_starts_when_it_began() -> None:
    engine = RiskEngine(Policy())
    engine.set_baseline(0.0, 0.0)
    seq = frames(0, 2) + frames(2, 4.2, gaze_direction="right") + frames(4.2, 8)
    updates = run(engine, seq)
    assert started(updates) == [(4.0, "looking_away-1")]
    assert [(e.start, e.end, e.evidence_frame_id) for e in engine.events] == [(2.0, 4.2, 10)]


@pytest.mark.parametrize("yaw", [25.0, 40.0, -55.0])
def test_off_centre_camera_is_not_looking_away(yaw: float) -> None:
    engine = RiskEngine(Policy())
    run(engine, frames(0, 30, head_yaw=yaw, head_pitch=-10.0, gaze_direction=None))
    assert engine.baseline is not None and engine.baseline.head == (yaw, -10.0)
    assert engine.events == ()


def test_head_turn_is_measured_from_the_baseline() -> None:
    engine = RiskEngine(Policy())
    seq = (
        frames(0, 10, head_yaw=40.0, gaze_direction=None)
        + frames(10, 13, head_yaw=70.0, gaze_direction=None)  # 30 deg from baseline > 25
        + frames(13, 16, head_yaw=40.0, gaze_direction=None)
    )
    run(engine, seq)
    assert [(e.type, e.start, e.end) for e in engine.events] == [("looking_away", 10.0, 13.0)]


def test_without_the_baseline_the_same_camera_would_look_away() -> None:
    engine = RiskEngine(Policy())
    engine.set_baseline(0.0, 0.0)  # a calibration that says straight ahead is 0 deg
    run(engine, frames(0, 5, head_yaw=40.0, gaze_direction=None))
    assert [(e.type, e.start) for e in engine.events] == [("looking_away", 0.0)]


def test_no_face_leaves_looking_away_unknown_not_cleared() -> None:
    engine = RiskEngine(Policy())
    engine.set_baseline(0.0, 0.0)
    seq = frames(0, 3, gaze_direction="left") + frames(3, 5, faces=0) + frames(5, 6, gaze_direction="left")
    seq += frames(6, 9)
    updates = run(engine, seq)
    looking = [e for e in engine.events if e.type == "looking_away"]
    assert [(e.start, e.end) for e in looking] == [(0.0, 6.0)]
    assert ended(updates) == [(7.0, "looking_away-1")]


# -- objects, people, camera ---------------------------------------------------------------------


def test_phone_detected_at_1hz_and_carried_forward_is_one_event() -> None:
    engine = RiskEngine(Policy())
    updates = run(engine, load("phone_1hz_carried.jsonl"))
    assert started(updates) == [(3.0, "phone-1")]
    assert ended(updates) == [(9.0, "phone-1")]
    (event,) = engine.events
    assert (event.start, event.end, event.evidence_frame_id) == (2.0, 7.0, 10)
    assert event.confidence == pytest.approx(0.81)  # best confidence up to confirmation


def test_phone_detected_at_1hz_without_carry_forward_is_one_event() -> None:
    # Frames between detections have no detector output (persons None): unknown, not absent.
    carried = load("phone_1hz_carried.jsonl")
    seq = [o if o.t == int(o.t) else replace(o, objects=(), persons=None) for o in carried]
    engine = RiskEngine(Policy())
    updates = run(engine, seq)
    assert started(updates) == [(3.0, "phone-1")]
    assert [(e.start, e.end) for e in engine.events] == [(2.0, 6.2)]
    assert ended(updates) == [(9.0, "phone-1")]


def test_covered_camera_is_camera_blocked_not_no_face() -> None:
    engine = RiskEngine(Policy())
    seq = frames(0, 2) + frames(2, 7, faces=0, persons=0, image_quality="covered") + frames(7, 10)
    run(engine, seq)
    assert [(e.type, e.start, e.end) for e in engine.events] == [("camera_blocked", 2.0, 7.0)]


def test_blurred_frames_raise_nothing() -> None:
    engine = RiskEngine(Policy())
    run(engine, frames(0, 10, faces=0, persons=3, image_quality="blurred"))
    assert engine.events == ()


# -- audio and browser ---------------------------------------------------------------------------


def test_audio_updates_do_not_disturb_vision_filters() -> None:
    engine_a, engine_b = RiskEngine(Policy()), RiskEngine(Policy())
    video = frames(0, 3, faces=0) + frames(3, 3.4) + frames(3.4, 8, faces=0) + frames(8, 12)
    audio = [Observation(t=i / 2 + 0.05, speaking=True, other_voice=False) for i in range(24)]
    run(engine_a, video)
    run(engine_b, sorted(video + audio, key=lambda o: o.t))
    assert engine_a.events == engine_b.events
    assert [e.id for e in engine_a.events] == ["no_face-1"]


def test_frames_do_not_disturb_audio_filters() -> None:
    engine = RiskEngine(Policy())
    audio = [Observation(t=i / 2, other_voice=True) for i in range(0, 8)]
    audio += [Observation(t=i / 2, other_voice=False) for i in range(8, 16)]
    run(engine, sorted(frames(0, 8) + audio, key=lambda o: o.t))
    assert [(e.id, e.start, e.end) for e in engine.events] == [("other_voice-1", 0.0, 4.0)]


def test_speaking_and_muted_microphone_follow_the_exam_switches() -> None:
    seq = [Observation(t=i / 2, speaking=True, audio_muted=True) for i in range(20)]
    relaxed = RiskEngine(policy_from_dict({"audio_required": False}))
    run(relaxed, seq)
    assert relaxed.events == ()
    strict = RiskEngine(policy_from_dict({"speaking_forbidden": True}))
    run(strict, seq)
    assert sorted(e.type for e in strict.events) == ["audio_muted", "speaking"]


def test_paste_is_one_instant_event_and_jumps_by_its_weight() -> None:
    policy = Policy()
    engine = RiskEngine(policy)
    run(engine, frames(0, 2))
    update = engine.browser(BrowserSignal(t=2.0, event="paste"))
    assert [e.id for e in update.started] == ["paste-1"] == [e.id for e in update.ended]
    assert update.started[0].start == update.started[0].end == 2.0
    assert update.started[0].evidence_frame_id == 9  # the newest frame at the time
    assert update.risk_score == pytest.approx(policy.condition("paste").weight) == pytest.approx(10.0)
    assert update.active == ()


def test_decay_is_exactly_2_points_per_second() -> None:
    engine = RiskEngine(Policy())
    engine.browser(BrowserSignal(t=0.0, event="devtools"))  # +15
    assert engine.advance(1.0).risk_score == pytest.approx(13.0)
    assert engine.advance(3.5).risk_score == pytest.approx(8.0)
    assert engine.advance(7.0).risk_score == pytest.approx(1.0)
    assert engine.advance(100.0).risk_score == 0.0


def test_tab_hidden_lasts_from_hidden_to_visible() -> None:
    engine = RiskEngine(Policy())
    engine.browser(BrowserSignal(t=10.0, event="visibility_hidden"))
    assert engine.advance(10.5).started == ()
    update = engine.advance(11.0)
    assert [e.id for e in update.started] == ["tab_hidden-1"]
    assert update.risk_score == pytest.approx(15.0)
    update = engine.browser(BrowserSignal(t=15.0, event="visibility_visible"))
    assert [(e.start, e.end) for e in update.ended] == [(10.0, 15.0)]
    # +2/s while hidden offsets decay (cap 50 not reached), then decay only.
    assert update.risk_score == pytest.approx(15.0)
    assert engine.advance(20.0).risk_score == pytest.approx(5.0)


# -- attention -----------------------------------------------------------------------------------


def test_attention_is_the_time_weighted_attentive_share_of_the_window() -> None:
    engine = RiskEngine(Policy())
    engine.set_baseline(0.0, 0.0)
    updates = run(engine, frames(0, 10) + frames(10, 20, gaze_direction="left") + frames(20, 50))
    by_t = {u.t: u.attention for u in updates}
    assert by_t[0.0] is None  # nothing known yet
    assert by_t[10.0] == pytest.approx(100.0)
    assert by_t[20.0] == pytest.approx(50.0)
    assert by_t[30.0] == pytest.approx(200 / 3)  # 20 of 30 s attentive
    assert by_t[45.0] == pytest.approx(100 * 25 / 30)  # window 15..45: 5 s away, 25 s at screen


def test_attention_ignores_unassessable_frames() -> None:
    engine = RiskEngine(Policy())
    updates = run(engine, frames(0, 5, image_quality="dark", faces=0) + frames(5, 10, faces=0))
    by_t = {u.t: u.attention for u in updates}
    assert by_t[4.8] is None
    assert by_t[9.8] == 0.0


# -- verdict -------------------------------------------------------------------------------------


def test_clean_session_is_clear() -> None:
    engine = RiskEngine(Policy())
    run(engine, frames(0, 60))
    verdict = engine.finish(60.0)
    assert verdict.verdict == "CLEAR"
    assert verdict.reasons[0] == "no violations"
    assert (verdict.total_violations, verdict.peak_risk, verdict.mean_risk) == (0, 0.0, 0.0)
    assert verdict.duration_seconds == 60.0
    assert set(verdict.counts.values()) == {0}


def test_phone_and_other_person_is_cheating_with_reasons() -> None:
    engine = RiskEngine(Policy())
    run(engine, load("phone_and_other_person.jsonl"))
    verdict = engine.finish(60.0)
    assert verdict.verdict == "CHEATING"
    assert [(e.id, e.start, e.end) for e in verdict.events] == [
        ("phone-1", 10.0, 20.0),
        ("other_person-1", 30.0, 36.0),
    ]
    assert "high-severity violations of 2 kinds: phone, other_person" in verdict.reasons
    assert "phone seen 1 time (total 10 s)" in verdict.reasons
    assert "other person seen 1 time (total 6 s)" in verdict.reasons
    assert verdict.counts["phone"] == verdict.counts["other_person"] == 1
    assert verdict.total_violations == 2
    assert verdict.severity_counts == {"low": 0, "medium": 0, "high": 2}
    assert 0 < verdict.mean_risk < verdict.peak_risk <= 100
    json.dumps(verdict.to_dict())


def test_reason_line_sums_episodes() -> None:
    engine = RiskEngine(Policy())
    phone = {"objects": (("cell phone", 0.9),)}
    seq = frames(0, 5) + frames(5, 12, **phone) + frames(12, 30) + frames(30, 37, **phone) + frames(37, 45)
    run(engine, seq)
    verdict = engine.finish(45.0)
    assert "phone seen 2 times (total 14 s)" in verdict.reasons
    assert verdict.verdict == "REVIEW"  # two high events: review, not yet cheating (3)


def test_finish_closes_open_events_and_stops_the_engine() -> None:
    engine = RiskEngine(Policy())
    run(engine, frames(0, 10, faces=0))
    verdict = engine.finish(12.0)
    assert [(e.id, e.start, e.end) for e in verdict.events] == [("no_face-1", 0.0, 12.0)]
    with pytest.raises(RuntimeError):
        engine.advance(13.0)


def test_late_timestamps_are_treated_as_now() -> None:
    engine = RiskEngine(Policy())
    run(engine, frames(0, 5))
    update = engine.browser(BrowserSignal(t=3.0, event="paste"))
    assert update.t == 4.8 and update.started[0].start == 4.8


def test_snapshot_restores_mid_event_through_json() -> None:
    seq = load("phone_and_other_person.jsonl")
    whole = RiskEngine(Policy())
    expected = run(whole, seq)
    first = RiskEngine(Policy())
    run(first, seq[:200])  # mid-phone
    revived = RiskEngine.restore(json.loads(json.dumps(first.snapshot())))
    assert run(revived, seq[200:]) == expected[200:]
    assert revived.finish(60.0) == whole.finish(60.0)
