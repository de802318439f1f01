"""The risk timeline chart: risk and attention over time, with the session's events beneath, as PNG.

Time nobody watched is shaded across both plots and has its own strip row: disconnections dark grey,
other unobserved time (camera covered, frozen, too dark, not analysed) light grey, so a quiet risk
line over a gap never reads as good behaviour. The score axis runs a little past 100 so a line at
100 (full attention) stays visible above the frame's top border.

Matplotlib's object API on the Agg canvas (no pyplot, no global figure state), so charts can be drawn
in executor threads; a lock serialises them anyway because matplotlib's text and font caches are not
documented as thread-safe. The timeline arrives downsampled (`server.reports.timeline`), so a two-hour
session draws as fast as a short one.
"""
from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from server.reports.document import ReportEvent, TimelinePoint, UnobservedSpan  # noqa: E402

RISK_COLOUR = "#c62828"
ATTENTION_COLOUR = "#1565c0"
SEVERITY_COLOURS = {"high": "#d32f2f", "medium": "#f57c00", "low": "#fbc02d"}
SEVERITY_ROWS = ("high", "medium", "low")
#: unobserved time by kind: the peer gone after it connected, else (not yet connected, camera unusable)
DISCONNECTED_COLOUR, UNOBSERVED_COLOUR = "#424242", "#9e9e9e"
CONNECTION_REASONS = frozenset({"disconnected"})
UNOBSERVED_ROW = "unobserved"
STRIP_ROWS = (*SEVERITY_ROWS, UNOBSERVED_ROW)
#: the score axis's top: above 100 so a line at 100 is not drawn on the frame's border
SCORE_TOP = 104
#: an instant event (paste, fullscreen exit) still gets a visible tick: this share of the time axis.
MIN_EVENT_WIDTH_SHARE = 0.004
WIDTH_IN, HEIGHT_IN, DPI = 7.2, 3.3, 150

_LOCK = threading.Lock()


def _unit(span_s: float) -> tuple[str, float]:
    return ("min", 60.0) if span_s > 300 else ("s", 1.0)


def risk_timeline_png(points: Sequence[TimelinePoint], events: Sequence[ReportEvent], *, t0: float | None,
                      t_end: float | None, unobserved: Sequence[UnobservedSpan] = ()) -> bytes:
    """The chart as PNG bytes. Times are shown relative to `t0` (the session's start)."""
    with _LOCK:
        return _draw(points, events, t0, t_end, unobserved)


@dataclass(frozen=True)
class _TimeAxis:
    """Seconds since `t0` drawn in `unit`s (`scale` seconds each); `last` is the latest time shown."""

    t0: float
    last: float
    span: float
    unit: str
    scale: float

    def x(self, t: float) -> float:
        return (t - self.t0) / self.scale


def _time_axis(points: Sequence[TimelinePoint], events: Sequence[ReportEvent], t0: float | None,
               t_end: float | None) -> _TimeAxis:
    times = [p.t for p in points] + [e.start for e in events]
    if t0 is None:
        t0 = min(times) if times else 0.0
    last = max([*times, *(e.end for e in events if e.end is not None), t_end or t0])
    span = max(1.0, last - t0)
    unit, scale = _unit(span)
    return _TimeAxis(t0, last, span, unit, scale)


def _draw(points: Sequence[TimelinePoint], events: Sequence[ReportEvent], t0: float | None,
          t_end: float | None, unobserved: Sequence[UnobservedSpan]) -> bytes:
    axis = _time_axis(points, events, t0, t_end)
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 1, height_ratios=(4.2, 1.0), hspace=0.08, left=0.1, right=0.98, top=0.9,
                            bottom=0.15)
    ax = fig.add_subplot(grid[0])
    strip = fig.add_subplot(grid[1], sharex=ax)
    _plot_scores(ax, points, axis)
    _plot_events(ax, strip, events, axis)
    _plot_unobserved(ax, strip, unobserved, axis)
    _legend(ax, unobserved)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _plot_scores(ax: Axes, points: Sequence[TimelinePoint], axis: _TimeAxis) -> None:
    """Risk (filled) and attention lines on the upper plot, or a note that there are none."""
    xs = [axis.x(p.t) for p in points]
    if points:
        ax.plot(xs, [p.risk for p in points], color=RISK_COLOUR, lw=1.4, label="risk")
        ax.fill_between(xs, [p.risk for p in points], color=RISK_COLOUR, alpha=0.08, lw=0)
        att = [(x, p.attention) for x, p in zip(xs, points, strict=True) if p.attention is not None]
        if att:
            ax.plot([a[0] for a in att], [a[1] for a in att], color=ATTENTION_COLOUR, lw=1.1,
                    label="attention")
    else:
        ax.text(0.5, 0.5, "no risk samples recorded", transform=ax.transAxes, ha="center", va="center",
                color="#777777", fontsize=9)
    ax.set_ylim(0, SCORE_TOP)
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.set_xlim(0, axis.span / axis.scale)
    ax.set_ylabel("score (0-100)", fontsize=8)
    ax.grid(True, color="#e0e0e0", lw=0.6)
    ax.tick_params(labelsize=7, labelbottom=False)


def _plot_events(ax: Axes, strip: Axes, events: Sequence[ReportEvent], axis: _TimeAxis) -> None:
    """One strip row per severity, and the same spans shaded on the score plot."""
    for row, severity in enumerate(SEVERITY_ROWS):
        bars = [_bar(axis, e.start, e.end if e.end is not None else axis.last)
                for e in events if e.severity == severity]
        if bars:
            strip.broken_barh(bars, (_row_y(row), 0.7), facecolors=SEVERITY_COLOURS[severity], edgecolor="none")
            # the events' spans shaded on the score plot too: one collection, not a patch per event
            ax.broken_barh(bars, (0, SCORE_TOP), facecolors=SEVERITY_COLOURS[severity], alpha=0.10,
                           edgecolor="none")
    strip.set_ylim(0, len(STRIP_ROWS))
    strip.set_yticks([len(STRIP_ROWS) - 1 - i + 0.5 for i in range(len(STRIP_ROWS))], list(STRIP_ROWS), fontsize=6)
    strip.set_xlabel(f"time since start ({axis.unit})", fontsize=8)
    strip.tick_params(labelsize=7)
    strip.grid(True, axis="x", color="#e0e0e0", lw=0.6)


def _bar(axis: _TimeAxis, start: float, end: float) -> tuple[float, float]:
    """(x, width) of a span in axis units; an instant still gets a visible tick."""
    return axis.x(start), max(axis.span * MIN_EVENT_WIDTH_SHARE, end - start) / axis.scale


def _row_y(row: int) -> float:
    return len(STRIP_ROWS) - 1 - row + 0.15


def _plot_unobserved(ax: Axes, strip: Axes, spans: Sequence[UnobservedSpan], axis: _TimeAxis) -> None:
    """Unobserved time shaded over the scores and drawn in the strip's last row, by kind."""
    row = STRIP_ROWS.index(UNOBSERVED_ROW)
    for colour, gone in ((UNOBSERVED_COLOUR, False), (DISCONNECTED_COLOUR, True)):
        bars = [_bar(axis, s.start, s.end) for s in spans if (s.reason in CONNECTION_REASONS) == gone]
        if bars:
            strip.broken_barh(bars, (_row_y(row), 0.7), facecolors=colour, edgecolor="none")
            ax.broken_barh(bars, (0, SCORE_TOP), facecolors=colour, alpha=0.28, edgecolor="none")


def _legend(ax: Axes, unobserved: Sequence[UnobservedSpan]) -> None:
    handles, _ = ax.get_legend_handles_labels()
    handles += [Patch(color=SEVERITY_COLOURS[s], label=f"{s} event") for s in SEVERITY_ROWS]
    reasons = {s.reason in CONNECTION_REASONS for s in unobserved}
    if False in reasons:
        handles.append(Patch(color=UNOBSERVED_COLOUR, label="unobserved"))
    if True in reasons:
        handles.append(Patch(color=DISCONNECTED_COLOUR, label="disconnected"))
    ax.legend(handles=handles, fontsize=6.5, loc="lower left", ncol=len(handles), frameon=False, borderaxespad=0.2,
              bbox_to_anchor=(0.0, 1.0), handlelength=1.2, columnspacing=1.0)
