"""One event type's policy (`ConditionPolicy`), `PolicyError`, and the range checks they share.

Apart from `policy.py` because the event registry (`events.py`) holds each type's default
`ConditionPolicy` and checks it at import, while `Policy` takes its defaults from the registry:
this module is the part both need, so neither imports the other in a cycle.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.risk.messages import SEVERITIES, Severity


class PolicyError(ValueError):
    """A policy value or key is invalid; the message names the dotted key and the reason."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"policy key '{key}': {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class ConditionPolicy:
    """How one event type is debounced and weighted."""

    enabled: bool = True
    severity: Severity = "medium"
    debounce_seconds: float = 1.0
    release_seconds: float = 1.0
    weight: float = 10.0
    weight_per_second: float = 0.0
    max_weight: float = 10.0


def check_number(
    key: str, value: float, *, low: float = 0.0, high: float = math.inf, open_low: bool = False
) -> None:
    """Raise `PolicyError` naming `key` unless `value` is finite and within [low, high]."""
    if not math.isfinite(value):
        raise PolicyError(key, f"must be a finite number, got {value!r}")
    if value < low or (open_low and value == low):
        raise PolicyError(key, f"must be {'>' if open_low else '>='} {low:g}, got {value!r}")
    if value > high:
        raise PolicyError(key, f"must be <= {high:g}, got {value!r}")


def validate_condition(prefix: str, cond: ConditionPolicy) -> None:
    """Check one event type's values; `prefix` is its dotted key, e.g. `conditions.phone`."""
    if cond.severity not in SEVERITIES:
        raise PolicyError(f"{prefix}.severity", f"must be one of {SEVERITIES}, got {cond.severity!r}")
    for key in ("debounce_seconds", "release_seconds", "weight", "weight_per_second", "max_weight"):
        check_number(f"{prefix}.{key}", getattr(cond, key))
    if cond.max_weight < cond.weight:
        reason = f"must be >= weight ({cond.weight:g}), got {cond.max_weight:g}"
        raise PolicyError(f"{prefix}.max_weight", reason)
