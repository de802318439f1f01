"""The risk score: jumps when events start, drifts while they last, decays, stays in 0..100.

Between two engine times the score moves linearly by `gain - decay * dt` (gain: the per-second
weights of events still holding, already capped per event by the engine) and is clamped to
0..100. At an event's start it jumps by the event's weight, clamped. The score's exact time
integral is kept (the clamped linear piece integrates in closed form), so the session's mean risk
is `integral / duration` rather than an average of irregular samples. Peak is the maximum value.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_SCORE = 100.0


def _clamp(value: float) -> float:
    return min(MAX_SCORE, max(0.0, value))


def _integral(v0: float, slope: float, dt: float) -> float:
    """Integral over [0, dt] of clamp(v0 + slope * x), for v0 in 0..100."""
    if slope == 0.0 or dt <= 0.0:
        return v0 * max(dt, 0.0)
    bound = 0.0 if slope < 0 else MAX_SCORE
    reach = (bound - v0) / slope  # time at which the line hits the bound
    if reach >= dt:
        return (v0 + (v0 + slope * dt)) / 2.0 * dt
    return (v0 + bound) / 2.0 * reach + bound * (dt - reach)


class RiskScore:
    def __init__(self, decay_per_second: float) -> None:
        self._decay = decay_per_second
        self.value = 0.0
        self.peak = 0.0
        self.integral = 0.0
        self.start: float | None = None
        self.last: float | None = None

    def evolve(self, t: float, gain: float) -> None:
        """Move to time `t`, adding `gain` points spread over the interval, minus decay."""
        if self.last is None:
            self.start = self.last = t
            return
        dt = t - self.last
        if dt <= 0:
            return
        delta = gain - self._decay * dt
        self.integral += _integral(self.value, delta / dt, dt)
        self.value = _clamp(self.value + delta)
        self.peak = max(self.peak, self.value)
        self.last = t

    def bump(self, weight: float) -> None:
        """An event started now: add its weight."""
        self.value = _clamp(self.value + weight)
        self.peak = max(self.peak, self.value)

    def mean(self) -> float:
        if self.start is None or self.last is None or self.last <= self.start:
            return self.value
        return self.integral / (self.last - self.start)

    def snapshot(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("value", "peak", "integral", "start", "last")}

    def restore(self, state: Mapping[str, Any]) -> None:
        for key in ("value", "peak", "integral", "start", "last"):
            setattr(self, key, state[key])
