"""The risk engine: observations and browser signals in; events, risk, attention and a verdict out.

Pure: no I/O (except `load_policy`), no clock reads; every input carries its session time.
Modules, one job each:

- `messages`: the frozen input/output types (`Observation`, `BrowserSignal`, `Event`, ...).
- `events`: the registry, one `EventSpec` per event type (source, reader, default policy,
  phrase, instant), checked complete at import.
- `policy`, `condition_policy`, `policy_io`: the one `Policy` object, one event type's
  `ConditionPolicy`, their validation, and TOML/JSON/dict loading.
- `conditions`: what each observation says about each condition (holds / absent / unknown).
- `debounce`: debounce and release, turning per-frame readings into one event per episode.
- `baseline`: the candidate's own baseline: neutral head pose and the gaze seen while working.
- `attention`: the attentive share of the trailing window.
- `score`: the decaying, clamped risk score and its time integral.
- `verdict`: CLEAR / REVIEW / CHEATING with reasons.
- `engine`: `RiskEngine`, which wires them together, with `snapshot()` / `restore()`.
"""
from pipeline.risk.engine import RiskEngine
from pipeline.risk.events import EVENT_SPECS, INSTANT_EVENTS, EventSpec
from pipeline.risk.messages import (
    BROWSER_EVENTS,
    EVENT_TYPES,
    BrowserSignal,
    Event,
    EventType,
    Observation,
    RiskUpdate,
    Severity,
    Verdict,
)
from pipeline.risk.policy import ConditionPolicy, Policy, PolicyError, VerdictPolicy
from pipeline.risk.policy_io import (
    load_policy,
    policy_from_dict,
    policy_from_toml,
    policy_to_dict,
    policy_to_toml,
)

__all__ = [
    "BROWSER_EVENTS",
    "EVENT_SPECS",
    "EVENT_TYPES",
    "INSTANT_EVENTS",
    "BrowserSignal",
    "ConditionPolicy",
    "Event",
    "EventSpec",
    "EventType",
    "Observation",
    "Policy",
    "PolicyError",
    "RiskEngine",
    "RiskUpdate",
    "Severity",
    "Verdict",
    "VerdictPolicy",
    "load_policy",
    "policy_from_dict",
    "policy_from_toml",
    "policy_to_dict",
    "policy_to_toml",
]
