"""The human review of a session, folded from its `review` stream items (`server.protocol.stream.ReviewItem`).

"AI flags, humans decide": the risk engine raises flags (events) and suggests a verdict; a proctor or
admin confirms or dismisses each flag with a note and records the session's decision (cleared,
violation, inconclusive). Reviews are appended to the event stream, never edited in place, so the
stream keeps the history: here a later mark of a flag replaces an earlier one, and the last decision
is the decision. Pure: the events (by id, as `server.reports.stream_fold` joins them) and the review items
are passed in; the answer is the JSON of `server.protocol.http.ReviewState`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def unknown_flags(events: Mapping[str, Any], event_ids: Iterable[str]) -> list[str]:
    """The ids among `event_ids` that name no event of the session, sorted."""
    return sorted(set(event_ids) - set(events))


def _start(ev: Mapping[str, Any]) -> float:
    start = ev.get("start")
    return float(start) if isinstance(start, (int, float)) else 0.0


def review_state(session_id: str, events: Mapping[str, Mapping[str, Any]], reviews: Sequence[Mapping[str, Any]],
                 ai_suggestion: str | None) -> dict[str, Any]:
    """The latest mark of each flag (in the events' order), the flags nobody marked, the decision."""
    marks: dict[str, dict[str, Any]] = {}
    decision: dict[str, Any] | None = None
    for item in reviews:
        by, at = item.get("by"), item.get("t")
        for event_id, mark in (item.get("flags") or {}).items():
            if event_id in events and isinstance(mark, Mapping):
                marks[event_id] = {"status": mark.get("status"), "note": mark.get("note", ""), "by": by, "at": at}
        if isinstance(item.get("decision"), Mapping):
            decision = {**item["decision"], "by": by, "at": at}
    order = sorted(events, key=lambda eid: (_start(events[eid]), eid))
    flags = [{"event_id": eid, "type": str(events[eid].get("type", "")),
              "severity": str(events[eid].get("severity", "")), **marks[eid]} for eid in order if eid in marks]
    return {"session_id": session_id, "flags": flags, "unreviewed": [eid for eid in order if eid not in marks],
            "decision": decision, "ai_suggestion": ai_suggestion}
