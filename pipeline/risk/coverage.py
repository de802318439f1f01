"""Coverage: every second of a session is either observed or unobserved, with the reason.

A verdict is worth only what was watched: a candidate whose camera stalls, who never connects,
or who covers the lens must not get a CLEAR verdict for the time nobody could see them. The
ledger attributes each interval between two inputs to one state:

- `observed`: an analysed frame of usable quality is at most `frame_gap_s` old;
- `covered`, `frozen`, `dark`: analysed frames arrive, but the image shows nothing usable;
- `not_analysed`: decoded video arrives, but no frame was analysed within `frame_gap_s` (the
  server is overloaded): unobserved, and honest about whose fault it is;
- `no_video`: the peer is connected, but no decoded video frame arrived within `frame_gap_s`;
- `disconnected`: the peer went away (resumable);
- `not_connected`: the session exists but its peer never connected (yet).

`video_lost(t)` says whether the peer is connected while no decoded video arrived for more than
`frame_gap_s`; the engine debounces it into the `video_lost` event.

Pure: every input carries its session time; `snapshot()` / `restore()` for crash recovery.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, get_args

ObservationState = Literal[
    "observed", "covered", "frozen", "dark", "not_analysed", "no_video", "disconnected", "not_connected"
]
OBSERVATION_STATES: Final[tuple[ObservationState, ...]] = get_args(ObservationState)
ConnectionState = Literal["not_connected", "connected", "disconnected"]

#: how each unobserved state reads in a verdict's reasons and a report's timeline.
REASON_PHRASES: Final[Mapping[ObservationState, str]] = {
    "covered": "camera covered",
    "frozen": "video frozen",
    "dark": "too dark",
    "not_analysed": "not analysed (server busy)",
    "no_video": "no video frames",
    "disconnected": "disconnected",
    "not_connected": "not connected",
}
#: image qualities (from the quality stage) that make an analysed frame unobserved.
_UNUSABLE_QUALITY: Final[Mapping[str, ObservationState]] = {"covered": "covered", "frozen": "frozen", "dark": "dark"}
#: a report shows at most this many unobserved spans (a flapping camera cannot grow state unbounded);
#: the seconds per reason stay exact beyond it.
MAX_SPANS: Final = 500


def state_of_frame(image_quality: str | None) -> ObservationState:
    """The observation state an analysed frame of this quality stands for."""
    return _UNUSABLE_QUALITY.get(image_quality or "", "observed")


class CoverageLedger:
    """Seconds per observation state and the unobserved spans; see the module docstring."""

    def __init__(self, frame_gap_s: float, start: float | None = None) -> None:
        self.frame_gap_s = frame_gap_s
        self._t = start
        self._connection: ConnectionState = "not_connected"
        self._connected_at: float | None = None
        self._last_video: float | None = None
        self._last_frame: float | None = None
        self._frame_state: ObservationState = "observed"
        self.seconds: dict[ObservationState, float] = {}
        #: unobserved spans, [start, end, state], adjacent ones of one state merged
        self.spans: list[list[Any]] = []

    # -- inputs --------------------------------------------------------------------------------
    def connection(self, t: float, state: ConnectionState) -> None:
        self.advance(t)
        self._connection = state
        if state == "connected":
            self._connected_at = t

    def video(self, t: float, received_at: float | None) -> None:
        """The newest decoded (not necessarily analysed) video frame arrived at `received_at`."""
        self.advance(t)
        if received_at is not None and (self._last_video is None or received_at > self._last_video):
            self._last_video = received_at

    def frame(self, t: float, image_quality: str | None) -> None:
        """An analysed frame of this quality at `t` (it was decoded too). Frames imply a connection
        when none was reported (the engine fed without a peer: `vigil eval`, tests); after a
        reported disconnection a late frame in flight does not reconnect."""
        self.advance(t)
        if self._connection == "not_connected":
            self._connection, self._connected_at = "connected", t
        self._last_frame = t
        self._frame_state = state_of_frame(image_quality)
        if self._last_video is None or t > self._last_video:
            self._last_video = t

    def advance(self, t: float) -> None:
        """Account the time up to `t`."""
        if self._t is None or t <= self._t:
            self._t = t if self._t is None else self._t
            return
        start = self._t
        if self._connection == "connected":
            start = self._account_fresh(start, t, self._last_frame, self._frame_state)
            start = self._account_fresh(start, t, self._last_video, "not_analysed")
        if start < t:
            self._add(start, t, "no_video" if self._connection == "connected" else self._connection)
        self._t = t

    # -- reading -------------------------------------------------------------------------------
    def video_lost(self, t: float) -> bool:
        """Connected, yet no decoded video for more than `frame_gap_s`."""
        if self._connection != "connected" or self._connected_at is None:
            return False
        since = max(self._connected_at, self._last_video if self._last_video is not None else self._connected_at)
        return t - since > self.frame_gap_s

    @property
    def observed_seconds(self) -> float:
        return self.seconds.get("observed", 0.0)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    def coverage(self) -> float | None:
        """The observed share of the accounted time; None before any time has passed."""
        total = self.total_seconds
        return None if total <= 0 else self.observed_seconds / total

    def unobserved(self) -> dict[ObservationState, float]:
        return {s: v for s, v in self.seconds.items() if s != "observed" and v > 0}

    # -- internals -----------------------------------------------------------------------------
    def _account_fresh(self, start: float, t: float, last: float | None, state: ObservationState) -> float:
        """Attribute [start, last + gap) to `state` while `last` is fresh; return where it stops."""
        if last is None:
            return start
        fresh_until = min(t, last + self.frame_gap_s)
        if fresh_until > start:
            self._add(start, fresh_until, state)
            return fresh_until
        return start

    def _add(self, start: float, end: float, state: ObservationState) -> None:
        self.seconds[state] = self.seconds.get(state, 0.0) + (end - start)
        if state == "observed":
            return
        last = self.spans[-1] if self.spans else None
        if last is not None and last[2] == state and abs(last[1] - start) < 1e-9:
            last[1] = end
        elif len(self.spans) < MAX_SPANS:
            self.spans.append([start, end, state])

    # -- crash recovery ------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"t": self._t, "connection": self._connection, "connected_at": self._connected_at,
                "last_video": self._last_video, "last_frame": self._last_frame,
                "frame_state": self._frame_state, "seconds": dict(self.seconds),
                "spans": [list(s) for s in self.spans]}

    def restore(self, state: Mapping[str, Any]) -> None:
        self._t = state["t"]
        self._connection = state["connection"]
        self._connected_at = state["connected_at"]
        self._last_video = state["last_video"]
        self._last_frame = state["last_frame"]
        self._frame_state = state["frame_state"]
        self.seconds = dict(state["seconds"])
        self.spans = [list(s) for s in state["spans"]]
