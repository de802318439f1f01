"""Attention: the share of the trailing window the candidate spent looking at the screen.

Time-weighted sample-and-hold: each frame's attention sample (True / False / None) holds from its
time until the next frame, but at most `max_gap` seconds, so a stalled stream is not counted as
attentive (or inattentive) forever. Unknown samples (None) are left out of both numerator and
denominator. `value(now)` is attentive time / known time over [now - window, now], as 0..100,
or None when nothing in the window was known.

Intervals are kept as merged segments (adjacent equal states fuse), pruned as they leave the
window, so memory stays small at any frame rate.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_Segment = tuple[float, float, bool]  # (start, end, attentive)


class AttentionWindow:
    def __init__(self, window: float, max_gap: float) -> None:
        self._window = window
        self._max_gap = max_gap
        self._segments: list[_Segment] = []
        self._last: tuple[float, bool | None] | None = None

    def add(self, t: float, state: bool | None) -> None:
        """Record one frame's sample at `t` (times must not decrease)."""
        if self._last is not None:
            self._close_open(t)
        self._last = (t, state)
        self._prune(t)

    def _close_open(self, t: float) -> None:
        assert self._last is not None
        start, state = self._last
        end = min(t, start + self._max_gap)
        if state is None or end <= start:
            return
        if self._segments and self._segments[-1][2] == state and self._segments[-1][1] == start:
            self._segments[-1] = (self._segments[-1][0], end, state)
        else:
            self._segments.append((start, end, state))

    def _prune(self, now: float) -> None:
        horizon = now - self._window
        while self._segments and self._segments[0][1] <= horizon:
            self._segments.pop(0)

    def value(self, now: float) -> float | None:
        """Attention 0..100 over the window ending at `now`, or None when unknown."""
        horizon = now - self._window
        segments = list(self._segments)
        if self._last is not None:
            start, last_state = self._last
            if last_state is not None:
                segments.append((start, min(now, start + self._max_gap), last_state))
        attentive = inattentive = 0.0
        for start, end, state in segments:
            span = min(end, now) - max(start, horizon)
            if span > 0:
                if state:
                    attentive += span
                else:
                    inattentive += span
        if attentive + inattentive <= 0:
            return None
        # a / (a + b) with both sums kept apart cannot round above 1.
        return 100.0 * (attentive / (attentive + inattentive))

    def snapshot(self) -> dict[str, Any]:
        return {
            "segments": [list(s) for s in self._segments],
            "last": None if self._last is None else list(self._last),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self._segments = [(s[0], s[1], s[2]) for s in state["segments"]]
        last = state["last"]
        self._last = None if last is None else (last[0], last[1])
