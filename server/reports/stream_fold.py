"""One pass over a session's event stream, gathering what its report needs.

Stream items read (oldest first; see `server.live.risk`, `server.live.evidence`,
`server.live.status_messages`):
`event_started` / `event_ended` (joined by event id into one row with its duration), `browser`
(counted by signal), `score` (the once-a-second risk and attention: the timeline), `evidence`,
`evidence_skipped`, `evidence_error`, `clip`, `clip_skipped` (joined to their events, counted), `verdict` (its summary; the
session hash's `summary` field when the stream has none), `review` (the human review,
`server.reports.review`; its time is not the session's), `proctor_message` (what a proctor told the
candidate during the session, in order). Unknown kinds are ignored.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from server.reports.document import ProctorMessage, TimelinePoint


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
