"""A session's state for `GET /api/sessions/{id}` and `GET /api/sessions`, typed from its hash.

The hash holds strings (numbers as text, structures as JSON, None as empty: `server.store.store`);
this turns them back into one JSON type per field in every state, so a client never sees a number
as a string after the end, or an object as JSON inside a string. Values the worker holding the
peer knows better (counters of the last frame, the status it follows) override the hash's.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from server.protocol.http import SessionRow, SessionState

_INTS = ("frames_received", "frames_analysed", "frames_dropped", "analysis_errors", "dc_sent", "dc_dropped",
         "dc_bad_messages", "dc_rate_limited", "decode_sheds", "audio_chunks")
_OPTIONAL_FLOATS = ("started_at", "connected_at", "disconnected_at", "ended_at", "attention", "coverage",
                    "final_risk_score")
_OPTIONAL_STRS = ("disconnect_reason", "verdict", "ended_by", "end_reason", "identity", "peer_error", "source")


def _float(raw: Any) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def _int(raw: Any) -> int | None:
    value = _float(raw)
    return None if value is None else int(value)


def _object(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, dict):
        return raw
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _fields(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "session_id": str(data.get("session_id") or ""),
        "candidate_id": str(data.get("candidate_id") or ""),
        "exam_id": str(data.get("exam_id") or ""),
        "status": data.get("status") or "created",
        "worker": str(data.get("worker") or ""),
        "created_at": _float(data.get("created_at")) or 0.0,
        "risk_score": _float(data.get("risk_score")) or 0.0,
        "observed_seconds": _float(data.get("observed_seconds")) or 0.0,
        "total_violations": _int(data.get("total_violations")),
        "calibration": _object(data.get("calibration")),
        # the review workspace sorts by it: the summary's peak, without the whole summary
        "peak_risk": _float((_object(data.get("summary")) or {}).get("peak_risk")),
    }
    out.update({name: _int(data.get(name)) or 0 for name in _INTS})
    out.update({name: _float(data.get(name)) for name in _OPTIONAL_FLOATS})
    out.update({name: (str(data[name]) if data.get(name) not in (None, "") else None) for name in _OPTIONAL_STRS})
    return out


def session_row(data: Mapping[str, str]) -> SessionRow:
    """A listing's row, from the hash alone."""
    return SessionRow.model_validate(_fields(data))


def session_state(data: Mapping[str, str], live: Mapping[str, Any]) -> SessionState:
    """The full state: the hash, overridden by `live` (what the worker holding the peer knows)."""
    fields = _fields({**data, **live})
    fields["summary"] = _object(data.get("summary"))
    return SessionState.model_validate(fields)
