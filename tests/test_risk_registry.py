"""The event registry: it covers EventType exactly, and its completeness check refuses broken registries."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.risk import (
    EVENT_SPECS,
    EVENT_TYPES,
    INSTANT_EVENTS,
    BrowserSignal,
    Policy,
    PolicyError,
    RiskEngine,
)
from pipeline.risk.events import RegistryError, check_registry

EXAMPLE = Path(__file__).parents[1] / "pipeline" / "risk" / "policy.example.toml"


def test_registry_covers_event_type_exactly() -> None:
    assert sorted(EVENT_SPECS) == sorted(EVENT_TYPES)
    assert all(kind == spec.type for kind, spec in EVENT_SPECS.items())


def test_policy_defaults_and_instant_events_come_from_the_registry() -> None:
    policy = Policy()
    for kind, spec in EVENT_SPECS.items():
        assert policy.condition(kind) == spec.default
    assert {kind for kind, spec in EVENT_SPECS.items() if spec.instant} == INSTANT_EVENTS


def test_verdict_reason_uses_the_spec_phrase() -> None:
    engine = RiskEngine()
    engine.browser(BrowserSignal(t=1.0, event="paste"))
    verdict = engine.finish(2.0)
    assert f"{EVENT_SPECS['paste'].phrase} 1 time" in verdict.reasons


def test_the_real_registry_passes_the_check() -> None:
    assert check_registry(EVENT_SPECS.values()) == EVENT_SPECS


def test_a_missing_spec_is_refused() -> None:
    specs = [s for s in EVENT_SPECS.values() if s.type != "book"]
    with pytest.raises(RegistryError, match="no spec for event type.*book"):
        check_registry(specs)


def test_a_duplicate_spec_is_refused() -> None:
    specs = [*EVENT_SPECS.values(), EVENT_SPECS["phone"]]
    with pytest.raises(RegistryError, match="'phone': more than one spec"):
        check_registry(specs)


def test_a_spec_without_a_phrase_is_refused() -> None:
    specs = [replace(s, phrase="") if s.type == "phone" else s for s in EVENT_SPECS.values()]
    with pytest.raises(RegistryError, match="'phone': no verdict phrase"):
        check_registry(specs)


def test_a_spec_with_an_invalid_default_policy_is_refused() -> None:
    broken = replace(EVENT_SPECS["book"].default, weight=50.0, max_weight=10.0)
    specs = [replace(s, default=broken) if s.type == "book" else s for s in EVENT_SPECS.values()]
    with pytest.raises(PolicyError) as err:
        check_registry(specs)
    assert err.value.key == "conditions.book.max_weight"


def test_a_vision_spec_without_a_reader_is_refused() -> None:
    specs = [replace(s, reader=None) if s.type == "no_face" else s for s in EVENT_SPECS.values()]
    with pytest.raises(RegistryError, match="'no_face': a reader is required"):
        check_registry(specs)


def test_an_instant_spec_that_is_not_a_browser_signal_is_refused() -> None:
    specs = [replace(s, instant=True) if s.type == "tab_hidden" else s for s in EVENT_SPECS.values()]
    with pytest.raises(RegistryError, match="'tab_hidden': an instant event must be a browser signal"):
        check_registry(specs)


def test_policy_example_names_every_event_type() -> None:
    tables = set(re.findall(r"^\[conditions\.(\w+)\]", EXAMPLE.read_text(), flags=re.MULTILINE))
    assert tables == set(EVENT_TYPES)


def test_focus_lost_holds_past_its_debounce_and_ends_when_focus_returns() -> None:
    engine = RiskEngine()
    engine.browser(BrowserSignal(t=1.0, event="focus_lost"))
    assert not engine.advance(3.5).started  # a glance at a notification is not an event
    started = engine.advance(4.5).started
    assert [(e.type, e.start) for e in started] == [("focus_lost", 1.0)]
    ended = engine.browser(BrowserSignal(t=9.0, event="focus_regained")).ended
    assert [(e.type, e.end) for e in ended] == [("focus_lost", 9.0)]
    # a hidden tab blurs the window too: that absence is charged once, by tab_hidden
    assert "focus_lost" in EVENT_SPECS["tab_hidden"].supersedes


def test_focus_state_survives_a_snapshot() -> None:
    engine = RiskEngine()
    engine.browser(BrowserSignal(t=1.0, event="focus_lost"))
    revived = RiskEngine.restore(engine.snapshot())
    assert [e.type for e in revived.advance(5.0).started] == ["focus_lost"]


def test_copy_and_second_screen_are_instant_events_of_their_weight() -> None:
    for kind in ("copy", "second_screen"):
        engine = RiskEngine()
        update = engine.browser(BrowserSignal(t=1.0, event=kind))
        assert [(e.type, e.start, e.end) for e in update.started] == [(kind, 1.0, 1.0)]
        assert update.risk_score == pytest.approx(EVENT_SPECS[kind].default.weight)
    assert EVENT_SPECS["copy"].default.weight < EVENT_SPECS["paste"].default.weight
    assert EVENT_SPECS["second_screen"].default.severity == "medium"
