"""The shape of a session report: what `server.reports.build` fills in, the PDF lays out
(`server.reports.pdf`) and `report.json` sends (OpenAPI `Report`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter
from typing_extensions import TypedDict  # pydantic reads TypedDicts from here before Python 3.12

from server.protocol.events import VerdictSummary
from server.protocol.http import ReviewState


@dataclass(frozen=True)
class TimelinePoint:
    t: float
    risk: float
    attention: float | None


@dataclass(frozen=True)
class UnobservedSpan:
    """Time the session was not watched, and why (`pipeline.risk.coverage`: disconnected, covered, ...)."""

    start: float
    end: float
    reason: str


@dataclass(frozen=True)
class ReportEvent:
    id: str
    type: str
    severity: str
    start: float
    end: float | None  # None: still open when the report was made
    duration_s: float | None
    confidence: float | None
    evidence_frame_id: int | None
    evidence: str | None = None  # snapshot file name, when it exists on disk
    evidence_note: str | None = None  # why there is none ("skipped: per_type", "error: ...")
    clip: str | None = None  # clip file name (`server.live.clips`), when it exists on disk
    clip_note: str | None = None  # why there is none ("skipped: busy", "file missing")


@dataclass(frozen=True)
class ProctorMessage:
    """A message a proctor sent the candidate (`server.protocol.stream.ProctorMessageItem`): when, who
    (`{"user_id","email"}`), the text, and whether the candidate's channel took it."""

    t: float
    by: dict[str, str]
    text: str
    delivered: bool


class _CalibrationStatus(TypedDict):
    status: str


class CalibrationSummary(_CalibrationStatus, total=False):
    """The gaze calibration in report form (`calibration_summary`): `status` always; the accuracy only
    once measured; `detail` only when the stored record is unreadable. (Optional keys by `total=False`:
    `NotRequired` is not seen under `from __future__ import annotations` before Python 3.12.)"""

    mean_error_px: float
    max_error_px: float
    mean_error_deg: float
    mean_error_mm: float
    mean_error_screen_fraction: float
    limit_deg: float
    source: str
    attempts: int
    recentres: int
    message: str
    #: calibration points used
    points: int
    detail: str


class EvidenceSummary(TypedDict):
    """Evidence kept, skipped (by reason) and failed, for the report's evidence line."""

    files: int
    clips: int
    skipped: int
    skipped_by_reason: dict[str, int]
    errors: int
    error_messages: list[str]


@dataclass(frozen=True)
class Report:
    session_id: str
    candidate_id: str
    exam_id: str
    exam_title: str | None
    status: str
    created_at: float | None
    started_at: float | None
    ended_at: float | None
    duration_s: float | None
    verdict: VerdictSummary | None
    calibration: CalibrationSummary
    browser: dict[str, int]
    events: list[ReportEvent]
    evidence: EvidenceSummary
    timeline: list[TimelinePoint]
    timeline_source_points: int
    generated_at: float
    counters: dict[str, int] = field(default_factory=dict)
    #: the human review (`server.protocol.http.ReviewState`): flag marks, unreviewed flags, the decision
    review: ReviewState = field(default_factory=lambda: ReviewState(session_id="", flags=[], unreviewed=[],
                                                                    decision=None, ai_suggestion=None))
    #: the verdict's unobserved spans; without a verdict, a disconnection still open (session hash)
    unobserved_spans: list[UnobservedSpan] = field(default_factory=list)
    #: what proctors told the candidate during the session, oldest first
    proctor_messages: list[ProctorMessage] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON data (`report.json`), typed by this class's schema (OpenAPI `Report`)."""
        data: dict[str, Any] = REPORT_JSON.dump_python(self, mode="json")
        return data


#: dumps a `Report` (its models and dataclasses) to JSON data
REPORT_JSON = TypeAdapter(Report)
