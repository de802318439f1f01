"""Properties of the risk engine that hold for any input sequence (hypothesis)."""
from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.risk import (
    BROWSER_EVENTS,
    EVENT_TYPES,
    INSTANT_EVENTS,
    BrowserSignal,
    Observation,
    Policy,
    RiskEngine,
    RiskUpdate,
    policy_from_dict,
)

Item = Observation | BrowserSignal | float  # a float is an advance(t) tick

_maybe_bool = st.one_of(st.none(), st.booleans())
_conf = st.floats(min_value=0.0, max_value=1.0)


@st.composite
def frame_fields(draw: st.DrawFn) -> dict[str, Any]:
    objects = draw(
        st.lists(st.tuples(st.sampled_from(["cell phone", "book", "person", "cup"]), _conf), max_size=3)
    )
    return {
        "frame_id": draw(st.integers(min_value=0, max_value=10**6)),
        "faces": draw(st.one_of(st.none(), st.integers(min_value=0, max_value=3))),
        "face_confidence": draw(st.one_of(st.none(), _conf)),
        "head_yaw": draw(st.one_of(st.none(), st.floats(min_value=-90, max_value=90))),
        "head_pitch": draw(st.one_of(st.none(), st.floats(min_value=-60, max_value=60))),
        "gaze_direction": draw(st.sampled_from([None, "center", "left", "right", "up", "down"])),
        "gaze_on_screen": draw(_maybe_bool),
        "objects": tuple(objects),
        "persons": draw(st.one_of(st.none(), st.integers(min_value=0, max_value=3))),
        "left_seat": draw(_maybe_bool),
        "image_quality": draw(st.sampled_from([None, "ok", "ok", "dark", "blurred", "frozen", "covered"])),
        "identity_changed": draw(_maybe_bool),
    }


@st.composite
def sessions(draw: st.DrawFn, max_size: int = 40) -> list[Item]:
    """A time-ordered mix of frames, audio updates, browser signals and ticks."""
    t = 0.0
    items: list[Item] = []
    for _ in range(draw(st.integers(min_value=0, max_value=max_size))):
        t += draw(st.sampled_from([0.0, 0.1, 0.2, 0.2, 0.2, 0.5, 1.0, 3.0]))
        kind = draw(st.sampled_from(["frame", "frame", "frame", "audio", "browser", "tick"]))
        if kind == "frame":
            items.append(Observation(t=t, **draw(frame_fields())))
        elif kind == "audio":
            audio = {k: draw(_maybe_bool) for k in ("speaking", "other_voice", "audio_muted")}
            items.append(Observation(t=t, **audio))
        elif kind == "browser":
            skew = draw(st.sampled_from([0.0, 0.0, -0.3]))  # browser signals may arrive slightly late
            items.append(BrowserSignal(t=max(0.0, t + skew), event=draw(st.sampled_from(BROWSER_EVENTS))))
        else:
            items.append(t)
    return items


def feed(engine: RiskEngine, items: list[Item]) -> list[RiskUpdate]:
    out = []
    for item in items:
        if isinstance(item, Observation):
            out.append(engine.observe(item))
        elif isinstance(item, BrowserSignal):
            out.append(engine.browser(item))
        else:
            out.append(engine.advance(item))
    return out


def _end(items: list[Item]) -> float:
    return max([0.0] + [x if isinstance(x, float) else x.t for x in items]) + 1.0


_SETTINGS = settings(max_examples=60, deadline=None)


@_SETTINGS
@given(sessions())
def test_risk_and_attention_stay_in_range(items: list[Item]) -> None:
    engine = RiskEngine(Policy(speaking_forbidden=True))
    for update in feed(engine, items):
        assert 0.0 <= update.risk_score <= 100.0
        assert update.attention is None or 0.0 <= update.attention <= 100.0
        assert all(e.end is None for e in update.active)
    verdict = engine.finish(_end(items))
    assert 0.0 <= verdict.final_risk_score <= verdict.peak_risk <= 100.0
    assert 0.0 <= verdict.mean_risk <= verdict.peak_risk + 1e-9
    assert verdict.total_violations == len(verdict.events) == sum(verdict.counts.values())
    assert all(e.end is not None and e.start <= e.end for e in verdict.events)


@_SETTINGS
@given(sessions())
def test_score_never_rises_without_an_event(items: list[Item]) -> None:
    """With nothing open and nothing starting, only decay acts on the score."""
    engine = RiskEngine(Policy())
    previous: RiskUpdate | None = None
    for update in feed(engine, items):
        if previous is not None and not update.started and not previous.active:
            assert update.risk_score <= previous.risk_score
        previous = update


@_SETTINGS
@given(sessions())
def test_without_per_second_weights_only_starting_events_raise_the_score(items: list[Item]) -> None:
    flat = {k: {"weight_per_second": 0.0} for k in EVENT_TYPES}
    engine = RiskEngine(policy_from_dict({"conditions": flat}))
    previous = 0.0
    for update in feed(engine, items):
        if not update.started:
            assert update.risk_score <= previous
        previous = update.risk_score


#: For each sampled condition, the fields of a frame (or audio update) where it holds.
HOLDS: dict[str, dict[str, Any]] = {
    "no_face": {"faces": 0},
    "multiple_faces": {"faces": 2},
    "looking_away": {"gaze_direction": "left"},
    "phone": {"objects": (("cell phone", 0.9),)},
    "book": {"objects": (("book", 0.9),)},
    "other_person": {"persons": 2},
    "left_seat": {"left_seat": True},
    "identity_changed": {"identity_changed": True},
    "camera_blocked": {"image_quality": "frozen"},
    "other_voice": {"other_voice": True},
    "speaking": {"speaking": True},
    "audio_muted": {"audio_muted": True},
}
CLEAN = {"faces": 1, "face_confidence": 0.9, "gaze_direction": "center", "persons": 1, "image_quality": "ok"}
AUDIO_CLEAN = {"speaking": False, "other_voice": False, "audio_muted": False}


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(sorted(HOLDS)),
    debounce=st.floats(min_value=0.2, max_value=5.0),
    release=st.floats(min_value=0.0, max_value=3.0),
    fraction=st.floats(min_value=0.0, max_value=0.99),
    fps=st.integers(min_value=1, max_value=15),
)
def test_a_condition_shorter_than_its_debounce_never_makes_an_event(
    kind: str, debounce: float, release: float, fraction: float, fps: int
) -> None:
    policy = policy_from_dict(
        {
            "speaking_forbidden": True,
            "conditions": {kind: {"debounce_seconds": debounce, "release_seconds": release}},
        }
    )
    engine = RiskEngine(policy)
    engine.set_baseline(0.0, 0.0)
    audio = kind in ("other_voice", "speaking", "audio_muted")
    clean = AUDIO_CLEAN if audio else CLEAN
    begin, stop = 2.0, 2.0 + fraction * debounce
    for i in range(int(20 * fps)):
        t = i / fps
        fields = {**clean, **HOLDS[kind]} if begin <= t < stop else clean
        engine.observe(Observation(t=t, frame_id=None if audio else i, **fields))
    verdict = engine.finish(20.0)
    assert verdict.counts[kind] == 0


@settings(max_examples=100, deadline=None)
@given(debounce=st.floats(min_value=0.2, max_value=5.0), fraction=st.floats(min_value=0.0, max_value=0.99))
def test_a_tab_hidden_shorter_than_its_debounce_never_makes_an_event(
    debounce: float, fraction: float
) -> None:
    engine = RiskEngine(policy_from_dict({"conditions": {"tab_hidden": {"debounce_seconds": debounce}}}))
    engine.browser(BrowserSignal(t=1.0, event="visibility_hidden"))
    for i in range(1, 10):
        engine.advance(1.0 + fraction * debounce * i / 10)
    engine.browser(BrowserSignal(t=1.0 + fraction * debounce, event="visibility_visible"))
    assert engine.finish(30.0).counts["tab_hidden"] == 0


@_SETTINGS
@given(sessions())
def test_the_same_inputs_give_the_same_results(items: list[Item]) -> None:
    first, second = RiskEngine(Policy()), RiskEngine(Policy())
    assert feed(first, items) == feed(second, items)
    a, b = first.finish(_end(items)), second.finish(_end(items))
    assert a == b
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())


@_SETTINGS
@given(sessions(), st.data())
def test_restoring_a_snapshot_continues_exactly(items: list[Item], data: st.DataObject) -> None:
    split = data.draw(st.integers(min_value=0, max_value=len(items)))
    whole = RiskEngine(Policy(speaking_forbidden=True))
    expected = feed(whole, items)
    before = RiskEngine(Policy(speaking_forbidden=True))
    feed(before, items[:split])
    revived = RiskEngine.restore(json.loads(json.dumps(before.snapshot())))
    assert feed(revived, items[split:]) == expected[split:]
    assert revived.finish(_end(items)) == whole.finish(_end(items))


def test_instant_events_are_exactly_the_browser_ones() -> None:
    assert INSTANT_EVENTS == {"fullscreen_exit", "paste", "devtools", "copy", "second_screen"}
    # tab_hidden, focus_lost and video_lost are states fed between inputs (page visibility and focus,
    # video arrival)
    assert set(HOLDS) | INSTANT_EVENTS | {"tab_hidden", "focus_lost", "video_lost"} == set(EVENT_TYPES)
