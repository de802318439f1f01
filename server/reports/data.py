"""The content of a session report, built only from what outlives the worker: the session hash, its
event stream in Redis and the evidence files on disk. So a report works after a restart, on any worker.

Stream items read (oldest first; see `server.live.risk`, `server.live.evidence`, `server.live.manager`):
`event_started` / `event_ended` (joined by event id into one row with its duration), `browser`
(counted by signal), `score` (the once-a-second risk and attention: the timeline), `evidence`,
`evidence_skipped`, `evidence_error`, `clip`, `clip_skipped` (joined to their events, counted), `verdict` (its summary; the
session hash's `summary` field when the stream has none), `review` (the human review,
`server.reports.review`; its time is not the session's), `proctor_message` (what a proctor told the
candidate during the session, in order). Unknown kinds are ignored.

The timeline is downsampled to at most `MAX_TIMELINE_POINTS` buckets of equal time: each keeps its
peak risk (a short spike must stay visible) and its mean attention. A two-hour session (~7,200 score
items) becomes 720 points, one per 10 s.
"""
from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic reads TypedDicts from here before Python 3.12

from server.protocol.events import VerdictSummary
from server.protocol.http import ReviewState
from server.reports.review import review_state
from server.store.evidence_files import evidence_file
from server.store.store import Store

log = logging.getLogger(__name__)

MAX_TIMELINE_POINTS = 720
#: evidence error messages quoted in the report; the rest are only counted.
MAX_ERROR_LINES = 5
#: the session hash's counters the report carries
COUNTERS = ("frames_received", "frames_analysed", "frames_dropped", "analysis_errors")


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


def _num(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def downsample(points: list[TimelinePoint], max_points: int = MAX_TIMELINE_POINTS) -> list[TimelinePoint]:
    """At most `max_points` buckets of equal time: peak risk and mean attention in each."""
    if len(points) <= max_points:
        return points
    t0, t1 = points[0].t, points[-1].t
    width = (t1 - t0) / max_points or 1.0
    buckets: dict[int, list[TimelinePoint]] = {}
    for p in points:
        buckets.setdefault(min(max_points - 1, int((p.t - t0) / width)), []).append(p)
    out = []
    for _, group in sorted(buckets.items()):
        att = [p.attention for p in group if p.attention is not None]
        out.append(TimelinePoint(t=round(sum(p.t for p in group) / len(group), 3),
                                 risk=max(p.risk for p in group),
                                 attention=round(sum(att) / len(att), 1) if att else None))
    return out


#: accuracy fields of the calibration summary (`server.live.calibration.GazeCalibration.summary`) the report shows
CALIBRATION_FIELDS = ("mean_error_px", "max_error_px", "mean_error_deg", "mean_error_mm", "mean_error_screen_fraction",
                      "limit_deg",
                      "source", "attempts", "recentres", "message")


def calibration_summary(raw: str | None) -> CalibrationSummary:
    """The session hash's `calibration` field (JSON written by gaze calibration) in report form:
    `status` is "not calibrated", "calibrated" or the state it ended in (refused, failed, running)."""
    if not raw:
        return {"status": "not calibrated"}
    try:
        data = json.loads(raw)
    except ValueError:
        return {"status": "unreadable", "detail": raw[:200]}
    if not isinstance(data, Mapping):
        return {"status": "unreadable", "detail": str(data)[:200]}
    state = data.get("state")
    if state in (None, "none") and data.get("ok") is None and data.get("mean_error_px") is None:
        status = str(data.get("status") or "not calibrated")
    else:
        status = str(state or data.get("status") or ("calibrated" if data.get("ok") else "not calibrated"))
    out: dict[str, Any] = {"status": status}
    out.update({k: data[k] for k in CALIBRATION_FIELDS
                if data.get(k) is not None and not isinstance(data[k], (list, dict))})
    if isinstance(data.get("points"), list) and data["points"]:
        out["points"] = len(data["points"])
    elif isinstance(data.get("points"), int):
        out["points"] = data["points"]
    return out  # type: ignore[return-value]  # the keys of CalibrationSummary, picked above


@dataclass
class _StreamFold:
    """What `fold_stream` gathers while it walks the stream, one method per kind of item."""

    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    points: list[TimelinePoint] = field(default_factory=list)
    browser: Counter[str] = field(default_factory=Counter)
    files: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    clips: dict[str, str] = field(default_factory=dict)
    clip_notes: dict[str, str] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    verdict: dict[str, Any] | None = None
    reviews: list[Mapping[str, Any]] = field(default_factory=list)
    messages: list[ProctorMessage] = field(default_factory=list)
    last_t: float | None = None

    def add(self, item: Mapping[str, Any]) -> None:
        kind = item.get("kind")
        t = item.get("t")
        if kind == "review":  # written whenever a reviewer acts: not a time of the session
            self.reviews.append(item)
            return
        if isinstance(t, (int, float)):
            self.last_t = float(t)
        if kind == "score":
            self._score(item, t)
        elif kind in ("event_started", "event_ended"):
            self._event(item, ended=kind == "event_ended")
        elif kind == "browser":
            self.browser[str(item.get("event"))] += 1
        elif kind in ("evidence", "evidence_skipped", "evidence_error"):
            self._evidence(kind, item)
        elif kind == "clip":
            self.clips[str(item.get("event_id"))] = str(item.get("file"))
        elif kind == "clip_skipped":
            self.clip_notes[str(item.get("event_id"))] = f"skipped: {item.get('reason')}"
        elif kind == "verdict" and isinstance(item.get("summary"), Mapping):
            self.verdict = dict(item["summary"])
        elif kind == "proctor_message" and isinstance(t, (int, float)):
            self._message(item, float(t))

    def _message(self, item: Mapping[str, Any], t: float) -> None:
        by = item.get("by")
        who = {"user_id": str(by.get("user_id", "")), "email": str(by.get("email", ""))} \
            if isinstance(by, Mapping) else {"user_id": "", "email": ""}
        self.messages.append(ProctorMessage(t=t, by=who, text=str(item.get("text", "")),
                                            delivered=bool(item.get("delivered"))))

    def _score(self, item: Mapping[str, Any], t: Any) -> None:
        risk = item.get("risk")
        if isinstance(t, (int, float)) and isinstance(risk, (int, float)):
            att = item.get("attention")
            att = float(att) if isinstance(att, (int, float)) else None
            self.points.append(TimelinePoint(float(t), float(risk), att))

    def _event(self, item: Mapping[str, Any], *, ended: bool) -> None:
        """Start and end of one event share its id: one row, the end's fields over the start's."""
        ev = item.get("event")
        if isinstance(ev, Mapping) and ev.get("id"):
            row = self.events.setdefault(str(ev["id"]), dict(ev))
            if ended:
                row.update(ev)

    def _evidence(self, kind: str, item: Mapping[str, Any]) -> None:
        event_id = str(item.get("event_id"))
        if kind == "evidence":
            self.files[event_id] = str(item.get("file"))
        elif kind == "evidence_skipped":
            reason = str(item.get("reason"))
            self.skipped[reason] += 1
            self.notes[event_id] = f"skipped: {reason}"
        else:
            self.errors.append(str(item.get("error")))
            self.notes[event_id] = "error writing snapshot"

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "points": self.points, "browser": dict(self.browser),
                "files": self.files, "notes": self.notes, "clips": self.clips, "clip_notes": self.clip_notes,
                "skipped": dict(self.skipped), "errors": self.errors,
                "verdict": self.verdict, "reviews": self.reviews, "messages": self.messages, "last_t": self.last_t}


def fold_stream(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One pass over the stream: events by id, timeline, browser counts, evidence, verdict, reviews,
    proctor messages."""
    fold = _StreamFold()
    for item in items:
        fold.add(item)
    return fold.as_dict()


def _verdict(folded: Mapping[str, Any], session: Mapping[str, str]) -> dict[str, Any] | None:
    """The stream's verdict, else the session hash's `summary` field, else None."""
    verdict: dict[str, Any] | None = folded["verdict"]
    if verdict is None and session.get("summary"):
        try:
            verdict = json.loads(session["summary"])
        except ValueError:
            verdict = None
    return verdict


def _duration(verdict: Mapping[str, Any] | None, started: float | None, ended: float | None,
              last_t: float | None, now: float) -> float | None:
    """The verdict's duration; without one, from the start to the end, the last item or now."""
    if verdict is not None and isinstance(verdict.get("duration_seconds"), (int, float)):
        return float(verdict["duration_seconds"])
    if started is not None:
        return round(max(0.0, (ended or last_t or now) - started), 1)
    return None


def unobserved_spans(verdict: Mapping[str, Any] | None, session: Mapping[str, str],
                     t_end: float) -> list[UnobservedSpan]:
    """The verdict's `unobserved_spans` (disconnections among them); a session without a verdict that is
    disconnected now shows that disconnection, from the session hash's `disconnected_at` to `t_end`."""
    spans = []
    for raw in (verdict or {}).get("unobserved_spans") or []:
        if isinstance(raw, (list, tuple)) and len(raw) == 3 and all(isinstance(v, (int, float)) for v in raw[:2]):
            spans.append(UnobservedSpan(float(raw[0]), float(raw[1]), str(raw[2])))
    gone = _num(session.get("disconnected_at"))
    if verdict is None and session.get("status") == "disconnected" and gone is not None:
        spans.append(UnobservedSpan(gone, max(gone, t_end), "disconnected"))
    return spans


def _on_disk(folded: Mapping[str, Any], files: str, notes: str, what: str, ev_id: str, evidence_root: Path,
             sid: str) -> tuple[str | None, str | None]:
    """The event's evidence file (`files`: "files" for snapshots, "clips") when it is on disk, else None and
    why there is none."""
    name: str | None = folded[files].get(ev_id)
    if name is not None and evidence_file(evidence_root, sid, name) is None:
        return None, f"{what} file missing"
    return name, folded[notes].get(ev_id) if name is None else None


def _report_event(ev_id: str, ev: Mapping[str, Any], evidence: tuple[str | None, str | None],
                  clip: tuple[str | None, str | None]) -> ReportEvent:
    start = float(ev.get("start") or ev.get("at") or 0.0)
    end = ev.get("end")
    end = float(end) if isinstance(end, (int, float)) else None
    conf = ev.get("confidence")
    frame = ev.get("evidence_frame_id")
    return ReportEvent(
        id=ev_id, type=str(ev.get("type", "")), severity=str(ev.get("severity", "")), start=start,
        end=end, duration_s=None if end is None else round(max(0.0, end - start), 1),
        confidence=float(conf) if isinstance(conf, (int, float)) else None,
        evidence_frame_id=int(frame) if isinstance(frame, int) else None, evidence=evidence[0],
        evidence_note=evidence[1], clip=clip[0], clip_note=clip[1])


def _report_events(folded: Mapping[str, Any], evidence_root: Path, sid: str) -> list[ReportEvent]:
    rows = [_report_event(ev_id, ev, _on_disk(folded, "files", "notes", "snapshot", ev_id, evidence_root, sid),
                          _on_disk(folded, "clips", "clip_notes", "clip", ev_id, evidence_root, sid))
            for ev_id, ev in folded["events"].items()]
    rows.sort(key=lambda r: (r.start, r.id))
    return rows


def _evidence_summary(folded: Mapping[str, Any], rows: list[ReportEvent]) -> EvidenceSummary:
    return {"files": sum(r.evidence is not None for r in rows), "clips": sum(r.clip is not None for r in rows),
            "skipped": sum(folded["skipped"].values()),
            "skipped_by_reason": folded["skipped"], "errors": len(folded["errors"]),
            "error_messages": folded["errors"][:MAX_ERROR_LINES]}


def build_report(session: Mapping[str, str], items: Iterable[Mapping[str, Any]], *, exam_title: str | None,
                 evidence_root: Path, now: float) -> Report:
    sid = session.get("session_id", "")
    folded = fold_stream(items)
    verdict = _verdict(folded, session)
    created = _num(session.get("created_at"))
    started = _num(session.get("started_at")) or _num(session.get("connected_at")) or created
    ended = _num(session.get("ended_at"))
    rows = _report_events(folded, evidence_root, sid)
    counters = {k: int(v) for k, v in session.items() if k in COUNTERS and v.isdigit()}
    return Report(
        session_id=sid, candidate_id=session.get("candidate_id", ""), exam_id=session.get("exam_id", ""),
        exam_title=exam_title, status=session.get("status", ""), created_at=created, started_at=started,
        ended_at=ended, duration_s=_duration(verdict, started, ended, folded["last_t"], now),
        verdict=_verdict_summary(sid, verdict),
        calibration=calibration_summary(session.get("calibration")), browser=folded["browser"], events=rows,
        evidence=_evidence_summary(folded, rows),
        timeline=downsample(folded["points"]), timeline_source_points=len(folded["points"]),
        generated_at=now, counters=counters, unobserved_spans=unobserved_spans(verdict, session, ended or now),
        proctor_messages=folded["messages"],
        review=ReviewState.model_validate(review_state(sid, folded["events"], folded["reviews"], ai_suggestion(verdict))))


def _verdict_summary(sid: str, verdict: Mapping[str, Any] | None) -> VerdictSummary | None:
    """The verdict as its model; a stored summary that no longer fits it is logged and left out."""
    if verdict is None:
        return None
    try:
        return VerdictSummary.model_validate(verdict)
    except ValidationError as exc:
        log.warning("unreadable verdict of %s left out of its report: %s", sid, exc.errors()[0]["msg"])
        return None


def ai_suggestion(verdict: Mapping[str, Any] | None) -> str | None:
    """The automatic verdict's name (CLEAR, REVIEW, CHEATING): a suggestion to the reviewer, never the decision."""
    name = (verdict or {}).get("verdict")
    return str(name) if name else None


async def load_report(store: Store, sid: str, *, evidence_root: Path, now: float) -> Report | None:
    """The report of session `sid` from Redis and the evidence folder, or None for an unknown session."""
    session = await store.session(sid)
    if session is None:
        return None
    session = {**session, "session_id": session.get("session_id") or sid}
    items = await store.events(sid)
    title = None
    if session.get("exam_id"):
        title = await store.exam_field(session["exam_id"], "title")
    return build_report(session, items, exam_title=title, evidence_root=evidence_root, now=now)


async def load_review(store: Store, sid: str, session: Mapping[str, str]
                      ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The session's review (`server.reports.review.review_state`) and its events by id, from its stream."""
    folded = fold_stream(await store.events(sid))
    state = review_state(sid, folded["events"], folded["reviews"], ai_suggestion(_verdict(folded, session)))
    return state, folded["events"]
