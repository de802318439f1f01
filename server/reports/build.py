"""A session report built only from what outlives the worker: the session hash, its event stream
(folded by `server.reports.stream_fold`) and the evidence files on disk. So a report works after a
restart, on any worker. Pure but for the look at the evidence folder; `now` is passed in.
"""
from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from server.protocol.events import VerdictSummary
from server.protocol.http import ReviewState
from server.reports.calibration_summary import calibration_summary
from server.reports.document import EvidenceSummary, Report, ReportEvent, UnobservedSpan
from server.reports.review import review_state
from server.reports.stream_fold import fold_stream
from server.reports.timeline import downsample
from server.store.evidence_files import evidence_file

log = logging.getLogger(__name__)

#: evidence error messages quoted in the report; the rest are only counted.
MAX_ERROR_LINES = 5
#: the session hash's counters the report carries
COUNTERS = ("frames_received", "frames_analysed", "frames_dropped", "analysis_errors")


def _num(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def stream_verdict(folded: Mapping[str, Any], session: Mapping[str, str]) -> dict[str, Any] | None:
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
    verdict = stream_verdict(folded, session)
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
