"""A debounce / release filter: turns a noisy per-sample condition into one event per episode.

Each update carries a `Reading`: the condition holds (True), is absent (False), or could not be
assessed (the caller passes None). The filter keeps at most one *run*:

- A run opens at the first holding sample; its `start` and evidence frame are that sample's.
- While pending, the run is confirmed (becomes an event) at a holding sample `t` with
  `t - start >= debounce`. The event's start stays the run's start, not the confirmation time.
  Unknown samples never confirm a run. A sampled (per-frame) condition must be seen holding at
  least every `max(release, max_gap)` seconds, else continuity cannot be claimed and the run
  restarts at the new holding sample. A continuous condition (browser state, known between
  updates) has no such gap limit.
- The run ends once the condition has been *observed absent* for `release` seconds, measured from
  the first absent sample, so a single missed detection does not split an episode. Unknown
  samples neither extend nor cut the absence: with no face, `looking_away` stays as it was.
- The event's end time is the first sample after the last holding one (the condition is known
  to have held until then, not beyond), even though the closure is reported `release` later.

Times are compared with a small tolerance so frames at `i / fps` meet thresholds exactly.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

#: float tolerance for time comparisons: 10 * 0.2 s summed in floats is 1.9999999999999998.
TIME_EPSILON = 1e-6


@dataclass(frozen=True)
class Reading:
    """One sample of a condition: whether it holds, and how sure the detector was."""

    holding: bool
    confidence: float = 1.0


@dataclass(frozen=True)
class Opened:
    """A run was confirmed: the event starts at `start` with this evidence."""

    start: float
    frame_id: int | None
    confidence: float


@dataclass
class _Run:
    start: float
    frame_id: int | None
    confidence: float
    last_true: float
    #: first sample time after the last holding one (the event's end if it closes now).
    held_until: float | None = None
    #: first absent sample since the last holding one.
    absent_since: float | None = None
    confirmed: bool = False


class DebounceFilter:
    """Debounce/release state machine for one condition; see the module docstring."""

    def __init__(self, debounce: float, release: float, max_gap: float, *, continuous: bool = False) -> None:
        self._debounce = debounce
        self._release = release
        self._gap = None if continuous else max(release, max_gap)
        self._run: _Run | None = None

    @property
    def holding(self) -> bool:
        """True when the latest known sample says the condition holds."""
        run = self._run
        return run is not None and run.held_until is None and run.absent_since is None

    @property
    def confirmed(self) -> bool:
        return self._run is not None and self._run.confirmed

    def update(
        self, t: float, reading: Reading | None, frame_id: int | None
    ) -> tuple[Opened | None, float | None]:
        """Feed one sample. Returns (opened, closed_end): `opened` when an event starts now,
        `closed_end` (the event's end time) when a confirmed event closes now."""
        run = self._run
        if reading is None:
            if run is not None and run.held_until is None and t > run.last_true:
                run.held_until = t
            return None, None
        if reading.holding:
            return self._hold(t, reading, frame_id), None
        if run is None:
            return None, None
        if run.held_until is None:
            run.held_until = t
        if run.absent_since is None:
            run.absent_since = t
        if t - run.absent_since >= self._release - TIME_EPSILON:
            self._run = None
            return None, run.held_until if run.confirmed else None
        return None, None

    def _hold(self, t: float, reading: Reading, frame_id: int | None) -> Opened | None:
        run = self._run
        gap = self._gap
        stale = run is not None and not run.confirmed and gap is not None and t - run.last_true > gap
        if run is None or stale:
            run = self._run = _Run(start=t, frame_id=frame_id, confidence=reading.confidence, last_true=t)
        else:
            run.last_true = t
            run.held_until = None
            run.absent_since = None
            if not run.confirmed:
                run.confidence = max(run.confidence, reading.confidence)
        if not run.confirmed and t - run.start >= self._debounce - TIME_EPSILON:
            run.confirmed = True
            return Opened(run.start, run.frame_id, run.confidence)
        return None

    def close(self, t: float) -> float | None:
        """Force the run closed at `t` (session end); returns the event end if one was open."""
        run, self._run = self._run, None
        if run is None or not run.confirmed:
            return None
        return run.held_until if run.held_until is not None else t

    def snapshot(self) -> dict[str, Any] | None:
        return None if self._run is None else asdict(self._run)

    def restore(self, state: Mapping[str, Any] | None) -> None:
        self._run = None if state is None else _Run(**state)
