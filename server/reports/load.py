"""A session's report and review, read from Redis (`Store`) and the evidence folder."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from server.reports.build import ai_suggestion, build_report, stream_verdict
from server.reports.document import Report
from server.reports.review import review_state
from server.reports.stream_fold import fold_stream
from server.store.store import Store


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
    state = review_state(sid, folded["events"], folded["reviews"], ai_suggestion(stream_verdict(folded, session)))
    return state, folded["events"]
