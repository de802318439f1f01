"""Risk policy: defaults, loading, round trips, and validation errors that name the key."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.risk import (
    EVENT_TYPES,
    Policy,
    PolicyError,
    load_policy,
    policy_from_dict,
    policy_from_toml,
    policy_to_dict,
    policy_to_toml,
)
from pipeline.risk.policy import CALIBRATION_MODES, SYSTEM_CHECK_MODES

EXAMPLE = Path(__file__).parents[1] / "pipeline" / "risk" / "policy.example.toml"


def test_example_file_documents_exactly_the_defaults() -> None:
    assert load_policy(EXAMPLE) == Policy()
    text = EXAMPLE.read_text()
    for key, value in policy_to_dict(Policy()).items():
        tables = value.items() if isinstance(value, dict) else [(key, None)]
        for sub, _ in tables:
            assert f"{sub}" in text, f"{sub} not documented in policy.example.toml"


def test_partial_dict_overrides_only_what_it_names() -> None:
    policy = policy_from_dict({"decay_per_second": 1, "conditions": {"phone": {"debounce_seconds": 0.5}}})
    assert policy.decay_per_second == 1.0
    assert policy.condition("phone").debounce_seconds == 0.5
    assert policy.condition("phone").weight == Policy().condition("phone").weight
    assert policy.condition("book") == Policy().condition("book")


def test_json_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "exam.json"
    path.write_text(json.dumps({"speaking_forbidden": True, "verdict": {"review_peak_risk": 30}}))
    policy = load_policy(path)
    assert policy.speaking_forbidden and policy.verdict.review_peak_risk == 30.0


@pytest.mark.parametrize(
    ("data", "key", "why"),
    [
        ({"decay": 2}, "decay", "unknown key"),
        ({"conditions": {"phone": {"wieght": 3}}}, "conditions.phone.wieght", "unknown key"),
        ({"conditions": {"telepathy": {}}}, "conditions.telepathy", "unknown event type"),
        ({"verdict": {"review_peak": 3}}, "verdict.review_peak", "unknown key"),
        (
            {"conditions": {"no_face": {"debounce_seconds": -1}}},
            "conditions.no_face.debounce_seconds",
            ">= 0",
        ),
        ({"attention_window_seconds": 0}, "attention_window_seconds", "> 0"),
        ({"decay_per_second": -0.5}, "decay_per_second", ">= 0"),
        ({"object_min_confidence": 1.5}, "object_min_confidence", "<= 1"),
        ({"verdict": {"cheating_peak_risk": 120}}, "verdict.cheating_peak_risk", "<= 100"),
        ({"verdict": {"review_mean_risk": 50}}, "verdict.review_mean_risk", "must not exceed"),
        ({"conditions": {"paste": {"severity": "severe"}}}, "conditions.paste.severity", "must be one of"),
        ({"conditions": {"paste": {"weight": 20}}}, "conditions.paste.max_weight", "must be >= weight"),
        ({"decay_per_second": "fast"}, "decay_per_second", "must be a number"),
        ({"speaking_forbidden": 1}, "speaking_forbidden", "must be true or false"),
        ({"verdict": {"review_high_events": 1.5}}, "verdict.review_high_events", "must be an integer"),
        ({"phone_labels": "cell phone"}, "phone_labels", "list of strings"),
        ({"conditions": {"phone": 3}}, "conditions.phone", "table"),
        ({"blocked_image_qualities": ["ok"]}, "blocked_image_qualities", "not an image quality problem"),
        ({"max_head_yaw_degrees": float("nan")}, "max_head_yaw_degrees", "finite"),
        ({"candidate": {"system_check": "off"}}, "candidate.system_check", "must be one of"),
        ({"candidate": {"calibration": "sometimes"}}, "candidate.calibration", "must be one of"),
        ({"candidate": {"calibrate": "off"}}, "candidate.calibrate", "unknown key"),
        ({"candidate": "optional"}, "candidate", "table"),
    ],
)
def test_bad_policies_name_the_key_and_the_reason(data: dict[str, Any], key: str, why: str) -> None:
    with pytest.raises(PolicyError) as info:
        policy_from_dict(data)
    assert info.value.key == key
    assert why in str(info.value)
    assert f"'{key}'" in str(info.value)


def test_bad_toml_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="invalid TOML"):
        policy_from_toml("decay_per_second = = 2")


def test_constructing_a_policy_in_code_is_validated_too() -> None:
    with pytest.raises(PolicyError, match="baseline_seconds"):
        Policy(baseline_seconds=-3.0)


_seconds = st.floats(min_value=0, max_value=30, allow_nan=False)
_weights = st.floats(min_value=0, max_value=50, allow_nan=False)


@st.composite
def policy_dicts(draw: st.DrawFn) -> dict[str, Any]:
    conditions = {}
    for kind in draw(st.lists(st.sampled_from(EVENT_TYPES), unique=True)):
        weight = draw(_weights)
        conditions[kind] = {
            "enabled": draw(st.booleans()),
            "severity": draw(st.sampled_from(["low", "medium", "high"])),
            "debounce_seconds": draw(_seconds),
            "release_seconds": draw(_seconds),
            "weight": weight,
            "weight_per_second": draw(_weights),
            "max_weight": weight + draw(_weights),
        }
    review = draw(st.floats(min_value=0, max_value=100))
    return {
        "decay_per_second": draw(st.floats(min_value=0, max_value=10)),
        "attention_window_seconds": draw(st.floats(min_value=0.1, max_value=120)),
        "max_head_yaw_degrees": draw(st.floats(min_value=1, max_value=90)),
        "phone_labels": draw(st.lists(st.text(min_size=1, max_size=12), max_size=3)),
        "person_label": draw(st.text(max_size=10)),
        "speaking_forbidden": draw(st.booleans()),
        "candidate": {"system_check": draw(st.sampled_from(SYSTEM_CHECK_MODES)),
                      "calibration": draw(st.sampled_from(CALIBRATION_MODES))},
        "verdict": {
            "review_peak_risk": review,
            "cheating_peak_risk": draw(st.floats(min_value=review, max_value=100)),
            "review_low_events": draw(st.integers(min_value=0, max_value=50)),
        },
        "conditions": conditions,
    }


@settings(max_examples=60, deadline=None)
@given(policy_dicts())
def test_policy_round_trips_through_dict_json_and_toml(data: dict[str, Any]) -> None:
    policy = policy_from_dict(data)
    assert policy_from_dict(policy_to_dict(policy)) == policy
    assert policy_from_dict(json.loads(json.dumps(policy_to_dict(policy)))) == policy
    assert policy_from_toml(policy_to_toml(policy)) == policy
