"""The report's risk timeline, downsampled to at most `MAX_TIMELINE_POINTS` buckets of equal time: each
keeps its peak risk (a short spike must stay visible) and its mean attention. A two-hour session (~7,200
score items) becomes 720 points, one per 10 s.
"""
from __future__ import annotations

from server.reports.document import TimelinePoint

MAX_TIMELINE_POINTS = 720


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
