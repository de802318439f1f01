"""Whether a session this worker answers for was abandoned, and if not, when to look again. Pure: the
session hash, the time and what this worker holds of the session are passed in."""
from __future__ import annotations

import math
from collections.abc import Mapping


def abandonment(data: Mapping[str, str], now: float, *, worker_id: str, created_ttl_s: float,
                abandon_after_s: float, held: bool, gone_at: float | None) -> tuple[str | None, float | None]:
    """(why it is abandoned, or None; else when to look again, None: no longer ours to watch). `held`: this
    worker holds the session's peer; `gone_at`: when that peer went (this worker's own, finer time)."""
    status = data.get("status")
    if data.get("worker") != worker_id:
        return None, None  # ended and deleted, or offered on another worker, which watches it now
    if status == "created":
        if now - float(data.get("created_at") or now) >= created_ttl_s:
            return "never connected", None
        return None, float(data.get("created_at") or now) + created_ttl_s
    if status == "disconnected":
        since = float(data.get("disconnected_at") or now)
        if gone_at is not None:
            since = gone_at or since
        if now - since >= abandon_after_s:
            return "disconnected and not resumed", None
        return None, since + abandon_after_s
    if status in ("connecting", "live") and held:
        return None, math.inf
    return None, None  # ended
