"""Shapes shared by several surfaces: an event's change (data channel, fan-out, event stream) and
the verdict summary (end of session over HTTP, and the stream's last item)."""
from __future__ import annotations

from typing import Literal

from pipeline.risk.coverage import ObservationState
from pipeline.risk.messages import Decision, EventType, Severity
from server.protocol.base import Outbound


class EventChange(Outbound):
    """An event that started or ended (`pipeline.risk.messages.Event.to_dict()` plus `state`, `at`).

    `id` is `"{type}-{n}"`; `start` is when the condition began holding, `end` null while open;
    `at` is `start` for a start and `end` for an end. Instant events (paste, fullscreen_exit, copy,
    devtools, second_screen) have `end == start`.
    """

    id: str
    type: EventType
    severity: Severity
    start: float
    end: float | None
    confidence: float
    evidence_frame_id: int | None
    state: Literal["started", "ended"]
    at: float


class VerdictSummary(Outbound):
    """The answer of `POST /api/sessions/{id}/end` and the `summary` of the stream's `verdict` item."""

    session_id: str
    final_risk_score: float
    verdict: Decision
    total_violations: int
    duration_seconds: float
    reasons: list[str]
    peak_risk: float
    mean_risk: float
    #: events per type, types with none left out
    counts: dict[EventType, int]
    #: seconds of usable analysed video, and their share of the session (null: no time passed)
    observed_seconds: float
    coverage: float | None
    #: unobserved seconds by reason (not_connected, disconnected, no_video, not_analysed, covered, frozen, dark)
    unobserved: dict[ObservationState, float]
    #: unobserved spans [start, end, reason], session clock (epoch seconds), at most 500
    unobserved_spans: list[tuple[float, float, ObservationState]]
