"""RiskEngine: one candidate's observations and browser signals in, events, score and verdict out.

Pure and deterministic: no clock reads, no I/O; every input carries its session time. Each call
(`observe`, `browser`, `advance`) does, in order:

1. Move the clock to the input's time. A time earlier than the clock is treated as "now"
   (frames and browser signals arrive on different paths and may cross slightly).
2. Evolve the score over the elapsed time: decay, plus the per-second weight of every open event
   whose condition still holds, capped so one event never adds more than its `max_weight`.
   One absence is charged once (`EventSpec.supersedes`: `left_seat` supersedes `no_face`): an
   event adds nothing, neither its start weight nor per second, while an event that supersedes
   it is open; and an event that starts while one it supersedes is open counts what that one
   already added toward its own weight and cap, so the absence costs the larger of the two
   events' charges, never their sum. Both events are still reported.
3. Feed the condition filters (see `debounce.py`, `conditions.py`). A frame feeds only the vision
   filters and an audio update only the audio filters, so one modality's None fields never
   touch the other's state. The browser's visibility and focus states (`tab_hidden`, `focus_lost`)
   are known between signals and are fed at every call; `fullscreen_exit`, `paste`, `devtools`,
   `copy` and `second_screen` are instant events.
4. Add each started event's weight, and return a `RiskUpdate`.

Coverage (`coverage.py`): every input also accounts the time since the previous one as observed
or unobserved with its reason; `connection(t, connected)` and `advance(t, video_at=...)` tell the
engine about the peer and the newest decoded video frame, and a connected peer without video
raises `video_lost`. The verdict carries the coverage and is never CLEAR for an unwatched session.

`finish(t)` closes open events at t (or where their condition was last seen) and returns the
`Verdict`; the engine accepts nothing after that.

Crash recovery: `snapshot()` returns a JSON-safe dict of the whole state (policy included) and
`RiskEngine.restore(snapshot)` rebuilds an engine that continues exactly as the original would.
Store a snapshot after each update (or every few); after a crash, restore the last one and feed
the inputs received since.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.risk.attention import AttentionWindow
from pipeline.risk.baseline import BaselineEstimator, CandidateBaseline, GazeBox
from pipeline.risk.conditions import assessable, attentive
from pipeline.risk.coverage import CoverageLedger
from pipeline.risk.debounce import DebounceFilter, Reading
from pipeline.risk.events import EVENT_SPECS, INSTANT_EVENTS, SAMPLED
from pipeline.risk.messages import (
    EVENT_TYPES,
    BrowserSignal,
    Event,
    EventType,
    Observation,
    RiskUpdate,
    Verdict,
)
from pipeline.risk.policy import Policy
from pipeline.risk.policy_io import policy_from_dict, policy_to_dict
from pipeline.risk.score import RiskScore
from pipeline.risk.verdict import decide

SNAPSHOT_VERSION = 1
#: for each event type, the types that supersede it (`EventSpec.supersedes`).
_SUPERSEDED_BY: dict[EventType, tuple[EventType, ...]] = {
    kind: tuple(s.type for s in EVENT_SPECS.values() if kind in s.supersedes) for kind in EVENT_TYPES
}
#: browser signals that are instant events of the same name.
_INSTANT_SIGNALS: dict[str, EventType] = {kind: kind for kind in INSTANT_EVENTS}


class RiskEngine:
    """The risk engine for one session; see the module docstring."""

    def __init__(self, policy: Policy | None = None, *, start: float | None = None) -> None:
        """`start`: when the session began (its creation), so time before a first connection counts."""
        self.policy = policy if policy is not None else Policy()
        p = self.policy
        self._coverage = CoverageLedger(p.observation_gap_seconds, start)
        self._score = RiskScore(p.decay_per_second)
        self._baseline = BaselineEstimator(p.baseline_seconds, p.baseline_min_seconds,
                                           p.baseline_min_face_confidence,
                                           p.gaze_min_extent_degrees, p.gaze_max_extent_degrees)
        self._attention = AttentionWindow(p.attention_window_seconds, p.attention_max_gap_seconds)
        self._filters: dict[EventType, DebounceFilter] = {
            kind: DebounceFilter(
                p.condition(kind).debounce_seconds,
                p.condition(kind).release_seconds,
                p.max_sample_gap_seconds,
                # browser state is known between signals, so it has no sample gap to bridge
                continuous=EVENT_SPECS[kind].source in ("browser", "media"),
            )
            for kind in EVENT_TYPES
            if not EVENT_SPECS[kind].instant
        }
        self._clock: float | None = None
        self._hidden: bool | None = None
        self._unfocused: bool | None = None
        self._last_frame_id: int | None = None
        self._open: dict[EventType, Event] = {}
        self._added: dict[EventType, float] = {}
        self._done: list[Event] = []
        self._counters: dict[EventType, int] = {}
        self._finished = False
        self._started: list[Event] = []
        self._ended: list[Event] = []

    # -- inputs --------------------------------------------------------------------------------

    def observe(self, obs: Observation) -> RiskUpdate:
        """Feed one analysed frame or audio update."""
        t = self._tick(obs.t)
        if obs.frame_id is not None:
            self._last_frame_id = obs.frame_id
        frame = obs.frame_id if obs.frame_id is not None else self._last_frame_id
        if obs.has_vision:
            self._coverage.frame(t, obs.image_quality)
            self._offer_baseline(t, obs)
            self._attention.add(t, attentive(obs, self.policy, self._baseline.value))
        has_audio = obs.speaking is not None or obs.other_voice is not None or obs.audio_muted is not None
        baseline = self._baseline.value
        for spec in SAMPLED:
            carried = has_audio if spec.source == "audio" else obs.has_vision
            if carried and spec.reader is not None and self.policy.is_enabled(spec.type):
                self._feed(spec.type, t, spec.reader(obs, self.policy, baseline), frame)
        self._feed_states(t)
        return self._update(t)

    def browser(self, signal: BrowserSignal) -> RiskUpdate:
        """Feed one browser signal; instant kinds become one closed event each."""
        t = self._tick(signal.t)
        if signal.event in ("visibility_hidden", "visibility_visible"):
            self._hidden = signal.event == "visibility_hidden"
        if signal.event in ("focus_lost", "focus_regained"):
            self._unfocused = signal.event == "focus_lost"
        self._feed_states(t)
        kind = _INSTANT_SIGNALS.get(signal.event)
        if kind is not None and self.policy.is_enabled(kind):
            self._start(kind, t, self._last_frame_id, 1.0)
            event = self._close(kind, t)
            self._started.append(event)  # reported already closed: start == end
            self._ended.append(event)
        return self._update(t)

    def advance(self, t: float, *, video_at: float | None = None) -> RiskUpdate:
        """Let time pass without an observation (a tick): decay, and browser/media-state debounce.
        `video_at`: when the newest decoded video frame arrived (None: none yet, or unknown)."""
        t = self._tick(t)
        self._coverage.video(t, video_at)
        self._feed_states(t)
        return self._update(t)

    def connection(self, t: float, connected: bool) -> RiskUpdate:
        """The candidate's peer connected, or went away (coverage and `video_lost`)."""
        t = self._tick(t)
        self._coverage.connection(t, "connected" if connected else "disconnected")
        self._feed_states(t)
        return self._update(t)

    def set_baseline(self, yaw: float, pitch: float, gaze: GazeBox | None = None) -> None:
        """Neutral head pose (and, when given, the on-screen gaze box) from a calibration;
        replaces the estimated one (`baseline.py`)."""
        self._check_open()
        self._baseline.set(yaw, pitch, gaze)

    def finish(self, t: float) -> Verdict:
        """Close every open event at `t` and return the session's verdict."""
        t = self._tick(t)
        self._feed_states(t)
        for kind, filt in self._filters.items():
            end = filt.close(t)
            if end is not None and kind in self._open:
                self._close(kind, end)
        self._finished = True
        score = self._score
        start = score.start if score.start is not None else t
        return decide(
            self.policy.verdict,
            tuple(sorted(self._done, key=lambda e: (e.start, e.id))),
            final_risk=score.value,
            peak_risk=score.peak,
            mean_risk=score.mean(),
            duration=t - start,
            coverage=self._coverage,
        )

    # -- read-only state -----------------------------------------------------------------------

    @property
    def risk_score(self) -> float:
        return self._score.value

    @property
    def baseline(self) -> CandidateBaseline | None:
        return self._baseline.value

    @property
    def coverage(self) -> CoverageLedger:
        """Observed and unobserved seconds so far (read-only use)."""
        return self._coverage

    @property
    def events(self) -> tuple[Event, ...]:
        """Every event so far, closed and open, by start time."""
        return tuple(sorted([*self._done, *self._open.values()], key=lambda e: (e.start, e.id)))

    # -- internals -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._finished:
            raise RuntimeError("risk engine already finished; it accepts no more input")

    def _tick(self, t: float) -> float:
        self._check_open()
        self._started, self._ended = [], []
        if self._clock is not None and t < self._clock:
            t = self._clock
        dt = 0.0 if self._clock is None else t - self._clock
        gain = 0.0
        for kind in self._open:
            cond = self.policy.condition(kind)
            if dt > 0 and cond.weight_per_second > 0 and self._filters[kind].holding and self._charging(kind):
                add = max(0.0, min(cond.weight_per_second * dt, cond.max_weight - self._added[kind]))
                self._added[kind] += add
                gain += add
        self._score.evolve(t, gain)
        self._coverage.advance(t)
        self._clock = t
        return t

    def _charging(self, kind: EventType) -> bool:
        """False while an event that supersedes `kind` is open (one absence charged once)."""
        return not any(other in self._open for other in _SUPERSEDED_BY.get(kind, ()))

    def _offer_baseline(self, t: float, obs: Observation) -> None:
        if obs.head_yaw is None or obs.head_pitch is None or obs.faces is None:
            return
        if assessable(obs, self.policy):
            gaze = None if obs.gaze_h_deg is None or obs.gaze_v_deg is None else (obs.gaze_h_deg, obs.gaze_v_deg)
            self._baseline.add(t, obs.head_yaw, obs.head_pitch, gaze, obs.faces, obs.face_confidence,
                               obs.face_box)

    def _feed_states(self, t: float) -> None:
        """The conditions known between inputs: the page's visibility and focus, and the video's arrival."""
        if self._hidden is not None and self.policy.is_enabled("tab_hidden"):
            self._feed("tab_hidden", t, Reading(self._hidden), self._last_frame_id)
        if self._unfocused is not None and self.policy.is_enabled("focus_lost"):
            self._feed("focus_lost", t, Reading(self._unfocused), self._last_frame_id)
        if self.policy.is_enabled("video_lost"):
            self._feed("video_lost", t, Reading(self._coverage.video_lost(t)), self._last_frame_id)

    def _feed(self, kind: EventType, t: float, reading: Reading | None, frame: int | None) -> None:
        opened, closed_end = self._filters[kind].update(t, reading, frame)
        if closed_end is not None and kind in self._open:
            self._ended.append(self._close(kind, closed_end))
        if opened is not None:
            self._started.append(self._start(kind, opened.start, opened.frame_id, opened.confidence))

    def _start(self, kind: EventType, start: float, frame: int | None, confidence: float) -> Event:
        cond = self.policy.condition(kind)
        n = self._counters[kind] = self._counters.get(kind, 0) + 1
        event = Event(f"{kind}-{n}", kind, cond.severity, start, None, confidence, frame)
        if not self._charging(kind):
            self._open[kind] = event
            self._added[kind] = 0.0
            return event
        # what the open events this one supersedes already charged for the same absence
        already = sum(self._added[k] for k in EVENT_SPECS[kind].supersedes if k in self._open)
        self._open[kind] = event
        self._added[kind] = max(cond.weight, already)
        self._score.bump(max(0.0, cond.weight - already))
        return event

    def _close(self, kind: EventType, end: float) -> Event:
        event = self._open.pop(kind).closed(end)
        del self._added[kind]
        self._done.append(event)
        return event

    def _update(self, t: float) -> RiskUpdate:
        active = tuple(sorted(self._open.values(), key=lambda e: (e.start, e.id)))
        return RiskUpdate(
            t=t,
            risk_score=self._score.value,
            attention=self._attention.value(t),
            started=tuple(self._started),
            ended=tuple(self._ended),
            active=active,
        )

    # -- crash recovery ------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole engine state as a JSON-safe dict (see `restore`)."""
        return {
            "version": SNAPSHOT_VERSION,
            "policy": policy_to_dict(self.policy),
            "clock": self._clock,
            "hidden": self._hidden,
            "unfocused": self._unfocused,
            "last_frame_id": self._last_frame_id,
            "finished": self._finished,
            "score": self._score.snapshot(),
            "baseline": self._baseline.snapshot(),
            "attention": self._attention.snapshot(),
            "filters": {kind: f.snapshot() for kind, f in self._filters.items()},
            "open": {kind: e.to_dict() for kind, e in self._open.items()},
            "added": dict(self._added),
            "done": [e.to_dict() for e in self._done],
            "counters": dict(self._counters),
            "coverage": self._coverage.snapshot(),
        }

    @classmethod
    def restore(cls, state: Mapping[str, Any]) -> RiskEngine:
        """An engine that continues exactly where the snapshotted one stood."""
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported risk snapshot version {state.get('version')!r}")
        engine = cls(policy_from_dict(state["policy"]))
        engine._clock = state["clock"]
        engine._hidden = state["hidden"]
        engine._unfocused = state.get("unfocused")  # absent from snapshots written before focus was sent
        engine._last_frame_id = state["last_frame_id"]
        engine._finished = state["finished"]
        engine._score.restore(state["score"])
        engine._baseline.restore(state["baseline"])
        engine._attention.restore(state["attention"])
        engine._open = {kind: Event.from_dict(e) for kind, e in state["open"].items()}
        engine._added = dict(state["added"])
        engine._done = [Event.from_dict(e) for e in state["done"]]
        engine._counters = dict(state["counters"])
        if "coverage" in state:  # snapshots written before coverage existed start it afresh
            engine._coverage.restore(state["coverage"])
        for kind, filt in engine._filters.items():
            if kind in state["filters"]:
                filt.restore(state["filters"][kind])
        return engine

