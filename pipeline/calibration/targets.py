"""Calibration target layouts: where the dots go, in fractions of the screen.

Fit points form a regular pattern inside a `MARGIN` border (eye trackers lose accuracy at the
extreme edges, and a dot at the very edge is half hidden by bezels and browser chrome):

* 5:  the four corners of the inner rectangle and its centre;
* 9:  a 3x3 grid;
* 13: the 3x3 grid plus the four centres of its quadrants;
* 16: a 4x4 grid.

`VALIDATION_POINTS` are never used for fitting: they sit between fit points, where a map that only
memorised its training dots would show its error. They are interleaved with the fit points
(`sequence`) so slow drift during the run affects both alike rather than only the validation dots
shown at the end. The presentation order is fixed (no randomness: runs are reproducible) and jumps
across the screen so the next dot's place is not predictable from the last.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PointCount = Literal[5, 9, 13, 16]
POINT_COUNTS: tuple[int, ...] = (5, 9, 13, 16)
DEFAULT_POINTS = 9
#: border kept free of dots on every side, as a fraction of the screen's width / height.
MARGIN = 0.10
#: held-out points (fractions of the screen): between the fit points of every layout above.
VALIDATION_POINTS: tuple[tuple[float, float], ...] = ((0.3, 0.4), (0.7, 0.4), (0.5, 0.75))


@dataclass(frozen=True)
class Target:
    index: int  # position in the presentation sequence, 0-based
    fx: float  # fraction of the screen width, 0 = left edge
    fy: float  # fraction of the screen height, 0 = top edge
    validation: bool

    def px(self, screen_w: float, screen_h: float) -> tuple[float, float]:
        return self.fx * screen_w, self.fy * screen_h


def _grid(n: int, margin: float) -> list[float]:
    return [margin + (1.0 - 2.0 * margin) * i / (n - 1) for i in range(n)]


def fit_points(points: int = DEFAULT_POINTS, *, margin: float = MARGIN) -> tuple[tuple[float, float], ...]:
    """The fit points of a layout, row by row (top-left first)."""
    if points not in POINT_COUNTS:
        raise ValueError(f"points must be one of {POINT_COUNTS}, got {points}")
    if not 0.0 <= margin < 0.5:
        raise ValueError(f"margin must be in [0, 0.5), got {margin}")
    if points == 5:
        lo, hi = margin, 1.0 - margin
        return ((lo, lo), (hi, lo), (0.5, 0.5), (lo, hi), (hi, hi))
    if points == 16:
        g = _grid(4, margin)
        return tuple((x, y) for y in g for x in g)
    g = _grid(3, margin)
    grid = [(x, y) for y in g for x in g]
    if points == 13:
        q = [(g[0] + g[1]) / 2.0, (g[1] + g[2]) / 2.0]
        grid += [(x, y) for y in q for x in q]
        grid.sort(key=lambda p: (p[1], p[0]))
    return tuple(grid)


def _spread_order(pts: tuple[tuple[float, float], ...]) -> list[int]:
    """A deterministic order that starts at the point nearest the centre and then always jumps to
    the farthest remaining point from the last one (ties: lowest index)."""
    remaining = list(range(len(pts)))
    first = min(remaining, key=lambda i: ((pts[i][0] - 0.5) ** 2 + (pts[i][1] - 0.5) ** 2, i))
    order = [first]
    remaining.remove(first)
    while remaining:
        lx, ly = pts[order[-1]]
        nxt = max(remaining, key=lambda i: ((pts[i][0] - lx) ** 2 + (pts[i][1] - ly) ** 2, -i))
        order.append(nxt)
        remaining.remove(nxt)
    return order


def sequence(points: int = DEFAULT_POINTS, *, margin: float = MARGIN,
             validation: tuple[tuple[float, float], ...] = VALIDATION_POINTS) -> tuple[Target, ...]:
    """Fit and validation targets in presentation order; validation points are spread evenly
    through the run (never first: the first dot also teaches the candidate what to do)."""
    fit = fit_points(points, margin=margin)
    ordered = [fit[i] for i in _spread_order(fit)]
    n_fit, n_val = len(ordered), len(validation)
    # validation point k goes after fit point round((k + 1) * n_fit / (n_val + 1)) - 1
    slots = {max(0, round((k + 1) * n_fit / (n_val + 1)) - 1): k for k in range(n_val)}
    out: list[Target] = []
    for i, (x, y) in enumerate(ordered):
        out.append(Target(len(out), x, y, False))
        if i in slots:
            vx, vy = validation[slots[i]]
            out.append(Target(len(out), vx, vy, True))
    return tuple(out)


def centre_target() -> Target:
    """The single dot of a recentre (drift correction)."""
    return Target(0, 0.5, 0.5, True)
