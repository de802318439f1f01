"""What a live session says of itself once a second: its score point in the event stream (the report's
timeline) and its row of the proctors' dashboard grid, published to every worker."""
from __future__ import annotations

from typing import Any

from server.live.risk import RiskSession
from server.live.session import LiveSession


def score_item(risk: RiskSession, now: float) -> dict[str, Any]:
    """The session's `score` stream item: its risk and attention at `now`."""
    return {"kind": "score", "t": round(now, 3), "risk": round(risk.risk_score, 1),
            "attention": None if risk.attention is None else round(risk.attention, 1)}


def status_message(session: LiveSession, worker_id: str, now: float) -> dict[str, Any]:
    """The session's `status` pub/sub message: the dashboard's grid row."""
    return {
        "type": "status", "session_id": session.session_id, "exam_id": session.exam_id,
        "candidate_id": session.candidate_id, "status": session.status, "worker": worker_id,
        "risk_score": round(session.risk.risk_score, 1), "attention": session.risk.attention,
        "faces": session.faces(now), "flags": session.risk.active_types(),
    }
