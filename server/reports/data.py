"""The content of a session report, built only from what outlives the worker: the session hash, its
event stream in Redis and the evidence files on disk. So a report works after a restart, on any worker.

Stream items read (oldest first; see `server.live.risk`, `server.live.evidence`, `server.live.manager`):
`event_started` / `event_ended` (joined by event id into one row with its duration), `browser`
(counted by signal), `score` (the once-a-second risk and attention: the timeline), `evidence`,
`evidence_skipped`, `evidence_error` (joined to their events, counted), `verdict` (its summary; the
session hash's `summary` field when the stream has none). Unknown kinds are ignored.

The timeline is downsampled to at most `MAX_TIMELINE_POINTS` buckets of equal time: each keeps its
peak risk (a short spike must stay visible) and its mean attention. A two-hour session (~7,200 score
items) becomes 720 points, one per 10 s.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from server.store.evidence_files import evidence_file
from server.store.store import Store

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
    verdict: dict[str, Any] | None
    calibration: dict[str, Any]
    browser: dict[str, int]
    events: list[ReportEvent]
    evidence: dict[str, Any]
    timeline: list[TimelinePoint]
    timeline_source_points: int
    generated_at: float
    counters: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def calibration_summary(raw: str | None) -> dict[str, Any]:
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
    return out


def fold_stream(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One pass over the stream: events by id, timeline, browser counts, evidence, verdict."""
    events: dict[str, dict[str, Any]] = {}
    points: list[TimelinePoint] = []
    browser: Counter[str] = Counter()
    files: dict[str, str] = {}
    notes: dict[str, str] = {}
    skipped: Counter[str] = Counter()
    errors: list[str] = []
    verdict: dict[str, Any] | None = None
    last_t: float | None = None
    for item in items:
        kind = item.get("kind")
        t = item.get("t")
        if isinstance(t, (int, float)):
            last_t = float(t)
        if kind == "score":
            risk = item.get("risk")
            if isinstance(t, (int, float)) and isinstance(risk, (int, float)):
                att = item.get("attention")
                att = float(att) if isinstance(att, (int, float)) else None
                points.append(TimelinePoint(float(t), float(risk), att))
        elif kind in ("event_started", "event_ended"):
            ev = item.get("event")
            if isinstance(ev, Mapping) and ev.get("id"):
                row = events.setdefault(str(ev["id"]), dict(ev))
                if kind == "event_ended":
                    row.update(ev)
        elif kind == "browser":
            browser[str(item.get("event"))] += 1
        elif kind == "evidence":
            files[str(item.get("event_id"))] = str(item.get("file"))
        elif kind == "evidence_skipped":
            reason = str(item.get("reason"))
            skipped[reason] += 1
            notes[str(item.get("event_id"))] = f"skipped: {reason}"
        elif kind == "evidence_error":
            errors.append(str(item.get("error")))
            notes[str(item.get("event_id"))] = "error writing snapshot"
        elif kind == "verdict" and isinstance(item.get("summary"), Mapping):
            verdict = dict(item["summary"])
    return {"events": events, "points": points, "browser": dict(browser), "files": files, "notes": notes,
            "skipped": dict(skipped), "errors": errors, "verdict": verdict, "last_t": last_t}


def build_report(session: Mapping[str, str], items: Iterable[Mapping[str, Any]], *, exam_title: str | None,
                 evidence_root: Path, now: float) -> Report:
    sid = session.get("session_id", "")
    folded = fold_stream(items)
    verdict = folded["verdict"]
    if verdict is None and session.get("summary"):
        try:
            verdict = json.loads(session["summary"])
        except ValueError:
            verdict = None
    created = _num(session.get("created_at"))
    started = _num(session.get("started_at")) or _num(session.get("connected_at")) or created
    ended = _num(session.get("ended_at"))
    duration = None
    if verdict is not None and isinstance(verdict.get("duration_seconds"), (int, float)):
        duration = float(verdict["duration_seconds"])
    elif started is not None:
        duration = round(max(0.0, (ended or folded["last_t"] or now) - started), 1)

    rows = []
    present = 0
    for ev_id, ev in folded["events"].items():
        start = float(ev.get("start") or ev.get("at") or 0.0)
        end = ev.get("end")
        end = float(end) if isinstance(end, (int, float)) else None
        name: str | None = folded["files"].get(ev_id)
        note: str | None  # why there is no snapshot
        if name is not None and evidence_file(evidence_root, sid, name) is None:
            name, note = None, "snapshot file missing"
        else:
            note = folded["notes"].get(ev_id) if name is None else None
        present += name is not None
        conf = ev.get("confidence")
        frame = ev.get("evidence_frame_id")
        rows.append(ReportEvent(
            id=ev_id, type=str(ev.get("type", "")), severity=str(ev.get("severity", "")), start=start,
            end=end, duration_s=None if end is None else round(max(0.0, end - start), 1),
            confidence=float(conf) if isinstance(conf, (int, float)) else None,
            evidence_frame_id=int(frame) if isinstance(frame, int) else None, evidence=name,
            evidence_note=note))
    rows.sort(key=lambda r: (r.start, r.id))

    counters = {k: int(v) for k, v in session.items() if k in COUNTERS and v.isdigit()}
    return Report(
        session_id=sid, candidate_id=session.get("candidate_id", ""), exam_id=session.get("exam_id", ""),
        exam_title=exam_title, status=session.get("status", ""), created_at=created, started_at=started,
        ended_at=ended, duration_s=duration, verdict=verdict,
        calibration=calibration_summary(session.get("calibration")), browser=folded["browser"], events=rows,
        evidence={"files": present, "skipped": sum(folded["skipped"].values()),
                  "skipped_by_reason": folded["skipped"], "errors": len(folded["errors"]),
                  "error_messages": folded["errors"][:MAX_ERROR_LINES]},
        timeline=downsample(folded["points"]), timeline_source_points=len(folded["points"]),
        generated_at=now, counters=counters)


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
