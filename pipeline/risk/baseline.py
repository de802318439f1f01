"""Per-candidate neutral head pose, so an off-centre camera is not "looking away".

Collection: from the first *confident* frame (exactly one face, face confidence at least the
policy minimum, yaw and pitch present, image assessable), every confident frame within the next
`seconds` is a sample; at the first confident frame at or beyond `seconds` the baseline is fixed
as the median yaw and median pitch of the samples (the median ignores a few glances away).
Until then the baseline is None and head pose is "unable to assess" (gaze still counts).

A calibration may call `set(yaw, pitch)` at any time; that value wins and collection stops.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import median
from typing import Any


class BaselineEstimator:
    def __init__(self, seconds: float, min_face_confidence: float) -> None:
        self._seconds = seconds
        self._min_confidence = min_face_confidence
        self._first_t: float | None = None
        self._yaws: list[float] = []
        self._pitches: list[float] = []
        self._value: tuple[float, float] | None = None

    @property
    def value(self) -> tuple[float, float] | None:
        """(yaw, pitch) in degrees, or None while still collecting."""
        return self._value

    def set(self, yaw: float, pitch: float) -> None:
        if not (math.isfinite(yaw) and math.isfinite(pitch)):
            raise ValueError(f"baseline must be finite degrees, got yaw={yaw!r} pitch={pitch!r}")
        self._value = (float(yaw), float(pitch))
        self._yaws.clear()
        self._pitches.clear()

    def add(self, t: float, yaw: float, pitch: float, faces: int, confidence: float | None) -> None:
        """Offer one assessable frame's pose; ignored once the baseline is fixed."""
        if self._value is not None or faces != 1:
            return
        if confidence is None or confidence < self._min_confidence:
            return
        if self._first_t is None:
            self._first_t = t
        elapsed = t - self._first_t
        if elapsed <= self._seconds:
            self._yaws.append(yaw)
            self._pitches.append(pitch)
        if elapsed >= self._seconds:
            self._value = (float(median(self._yaws)), float(median(self._pitches)))
            self._yaws.clear()
            self._pitches.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "first_t": self._first_t,
            "yaws": list(self._yaws),
            "pitches": list(self._pitches),
            "value": None if self._value is None else list(self._value),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self._first_t = state["first_t"]
        self._yaws = list(state["yaws"])
        self._pitches = list(state["pitches"])
        value = state["value"]
        self._value = None if value is None else (value[0], value[1])
