"""The candidate's own baseline: neutral head pose, and the gaze seen while working on the screen.

Why: raw angles are relative to the camera, not to the screen. A webcam above a laptop screen, an
external camera beside a monitor or a phone held low puts "looking at the screen" tens of degrees
off the camera axis, and a candidate reading the screen's edges moves the gaze by up to the screen's
half-width (about 16 deg for a 15-inch laptop at 60 cm). So looking away is judged against what
this candidate's gaze did while working, not against fixed labels.

What is kept (`CandidateBaseline`):

- `head`: neutral (yaw, pitch), degrees, `head_pose.py` conventions;
- `gaze`: a `GazeBox`: the neutral gaze angles (h, v: head pose plus eyes, `gaze.py` conventions)
  and how far the gaze may go each way (left, right, down, up) and still be on the screen.

Estimation, when no calibration gave it: from the first *confident* frame (exactly one face, face
confidence at least the policy minimum, head pose present, image assessable), every confident frame
for the next `seconds` (the first minute) is a sample. The baseline exists from `min_seconds` on
(provisional, recomputed as samples arrive) and is fixed at `seconds`, when the samples are dropped.

- neutral head and neutral gaze: the medians of all samples (a glance moves a median only when it
  lasts half the time);
- the gaze box: per side, the distance from the neutral gaze to the 10th / 90th percentile of the
  gaze samples that lie within `max_extent` of it, plus `EXTENT_MARGIN_DEG` (the frame-to-frame
  noise), clamped to [`min_extent`, `max_extent`]. Samples beyond `max_extent` are glances and
  never widen the box; glances within it shorter than a tenth of the minute do not either. The
  floor `min_extent` means a candidate who stared at the centre for a minute can still read the
  screen's edges; the ceiling means a long look away in the first minute cannot teach the box that
  the phone is part of the screen.

Posture changes (`posture_shift`): a candidate who sits differently (leans in, slides lower, tilts
the lid) sees the same screen from elsewhere, so every angle moves and the first minute's baseline
calls the whole new posture "looking away". The estimator therefore also keeps the face box's
position and size (the *posture*: median centre and size of the baseline's samples) and, frame by
frame, how far the face box is from it, in face sizes. What tells "sat differently, still reading
the screen" from "looking at something off the screen for a long time":

- **the head moved, not only turned**. Looking at a phone, notes or a second screen turns the head
  (the box slides a little: turns of 10-17 deg moved it by about an eighth of a face on the
  tuning clips); a posture change translates or scales the face (leaning in 10 cm at 55 cm grows
  it by a fifth). A turn alone never starts an adaptation, so a 20 s look at a phone with the head
  in place is judged against the old baseline and raises `looking_away` as before;
- **the gaze spreads like reading a screen**. After the head moved, its frames are collected for
  `SETTLE_SECONDS`; the new posture is accepted only if the gaze in them spans at least
  `READING_SPREAD_DEG` (10th-90th percentile, horizontally or vertically: fixations over a
  screen's width, not noise around one point) and the new neutral gaze is within the gaze box's
  ceiling (`max_extent`) of the first posture's (a screen seen from a new seat, not a lap). A person who moved *and*
  stares at one point (leaning toward a phone) is not accepted and is judged against the old
  baseline;
- **it held**: the window restarts whenever the face comes back to the old posture, so a lean
  shorter than `SETTLE_SECONDS` never moves the baseline.

While a moved head is being judged (at most `SETTLE_SECONDS` after it moved) the baseline is
`settling`: `looking_away` is cleared when the frame is on the screen for the old baseline and
unknown otherwise (`conditions.py`), never raised by angles measured against a posture the
candidate left. The cost is that a candidate who moves and looks away at once is seen
`SETTLE_SECONDS` later. Once rejected, the window slides (its last `SETTLE_SECONDS`) and is accepted
as soon as it shows reading. Accepted: the new posture is learned again like the first minute, from
the window on (provisional, refined for `seconds`, then fixed), and the first posture's baseline is
kept as `home`: a frame is on the screen when either says so, because people come back to their
usual posture, and the face box does not always show it (a lid tilted back, a head lowered: the gaze
moved 16 deg while the box moved 0.6 of `MOVED_SHARE` on the tuning clips). Values set by a
calibration stay. Frames without a face box (older recordings) never move the baseline.

A calibration may call `set(yaw, pitch, gaze=...)` at any time: the head neutral (and the gaze box
when given) it sets wins and is no longer estimated. Without a gaze box from the calibration, the
gaze box is still estimated (the calibrated gaze itself, `gaze_on_screen`, takes precedence in
`conditions.py` whenever a frame carries it).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: degrees added to the learned gaze extent on each side: the gaze angle's frame-to-frame noise on
#: the test clips is 0.5-1.3 deg (sd), its drift between two fixations of the same point up to 5.
EXTENT_MARGIN_DEG = 3.0
#: the percentiles of the gaze samples that bound the learned extent (a glance shorter than a tenth
#: of the learning window stays outside it).
EXTENT_QUANTILES = (10.0, 90.0)
#: gaze samples needed before a gaze box is given (1 s at the server's 5 fps).
MIN_GAZE_SAMPLES = 5
#: the face moved when its box's centre is this many face sizes from the posture's, or its size
#: differs by this share (either way) ...
MOVED_SHARE = 0.25
#: ... and is back in the posture (the window restarts) when `posture_shift` falls below this.
BACK_SHARE = 0.5
#: how long a moved head is watched before its posture is accepted or rejected (seconds).
SETTLE_SECONDS = 4.0
#: the gaze spread (10th-90th percentile, degrees, horizontal or vertical) that is reading a screen.
READING_SPREAD_DEG = 6.0


@dataclass(frozen=True)
class GazeBox:
    """Gaze angles (degrees) that count as on the screen: a neutral point and an extent each way."""

    h: float
    v: float
    #: allowed deviation from (h, v), each > 0: toward the image's left, right, down, up
    left: float
    right: float
    down: float
    up: float

    def excess(self, h: float, v: float) -> float:
        """How far (h, v) is outside the box, as a share of the extent on its side: <= 1 inside."""
        dh, dv = h - self.h, v - self.v
        return max(-dh / self.left if dh < 0 else dh / self.right,
                   -dv / self.down if dv < 0 else dv / self.up)


@dataclass(frozen=True)
class CandidateBaseline:
    """What this candidate looks like while working: see the module docstring."""

    head: tuple[float, float]
    gaze: GazeBox | None = None
    #: the head moved away from the baseline's posture and the new one is still being judged
    settling: bool = False
    #: the first posture's baseline, once another posture was accepted (None until then): coming
    #: back to one's usual posture is never looking away
    home: CandidateBaseline | None = None

    def judged(self) -> tuple[CandidateBaseline, ...]:
        """The postures a frame is judged against: on the screen if it is within either."""
        return (self,) if self.home is None else (self, self.home)


#: a face box as a posture: centre x, centre y and size (the geometric mean of width and height),
#: all normalised to the frame
Posture = tuple[float, float, float]
#: one sample: yaw, pitch, gaze h, gaze v (NaN without gaze), then the posture (NaN without a box)
_Sample = tuple[float, float, float, float, float, float, float]
_NO_POSTURE: Posture = (math.nan, math.nan, math.nan)


def posture_of(box: tuple[float, float, float, float] | None) -> Posture:
    if box is None:
        return _NO_POSTURE
    x, y, w, h = box
    return (x + w / 2.0, y + h / 2.0, math.sqrt(max(w, 0.0) * max(h, 0.0)))


def posture_shift(posture: Posture, reference: Posture) -> float:
    """How far `posture` is from `reference`, in units of `MOVED_SHARE` (> 1: the head moved): the
    larger of the centre's move in face sizes and the size's change, both over `MOVED_SHARE`."""
    size = reference[2]
    if not (_finite(*posture, *reference) and size > 0 and posture[2] > 0):
        return 0.0
    moved = math.hypot(posture[0] - reference[0], posture[1] - reference[1]) / size / MOVED_SHARE
    scaled = abs(math.log(posture[2] / size)) / math.log1p(MOVED_SHARE)
    return max(moved, scaled)


def reading_spread(h: np.ndarray, v: np.ndarray) -> float:
    """The larger of the gaze's horizontal and vertical 10th-90th percentile ranges (degrees)."""
    lo_q, hi_q = EXTENT_QUANTILES
    return max(float(np.subtract(*np.percentile(h, [hi_q, lo_q]))),
               float(np.subtract(*np.percentile(v, [hi_q, lo_q]))))


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def gaze_box(h: np.ndarray, v: np.ndarray, min_extent: float, max_extent: float) -> GazeBox:
    """The box learned from gaze samples (module docstring); `h`, `v` are equal-length arrays."""
    h0, v0 = float(np.median(h)), float(np.median(v))
    lo_q, hi_q = EXTENT_QUANTILES

    def sides(values: np.ndarray, neutral: float) -> tuple[float, float]:
        near = values[np.abs(values - neutral) <= max_extent]  # never empty: the median is near
        lo, hi = np.percentile(near, [lo_q, hi_q])
        below = min(max(neutral - float(lo) + EXTENT_MARGIN_DEG, min_extent), max_extent)
        above = min(max(float(hi) - neutral + EXTENT_MARGIN_DEG, min_extent), max_extent)
        return below, above

    left, right = sides(h, h0)
    down, up = sides(v, v0)
    return GazeBox(h0, v0, left, right, down, up)


class BaselineEstimator:
    def __init__(self, seconds: float, min_seconds: float, min_face_confidence: float,
                 min_extent: float, max_extent: float) -> None:
        self._seconds = seconds
        self._min_seconds = min(min_seconds, seconds)
        self._min_confidence = min_face_confidence
        self._min_extent = min_extent
        self._max_extent = max_extent
        self._first_t: float | None = None
        self._samples: list[_Sample] = []
        self._fixed = False
        self._head: tuple[float, float] | None = None
        self._head_set = False
        self._gaze: GazeBox | None = None
        self._gaze_set = False
        #: where the face was while the baseline was learned (NaN until known)
        self._posture: Posture = _NO_POSTURE
        #: since when the head has been away from that posture, and its samples since (the window)
        self._moved_t: float | None = None
        self._window: list[tuple[float, _Sample]] = []
        #: the window was judged not reading: the old baseline judges until it shows reading
        self._rejected = False
        #: the first posture's baseline, kept once another is accepted (`CandidateBaseline.home`)
        self._home: CandidateBaseline | None = None

    @property
    def value(self) -> CandidateBaseline | None:
        """The baseline, or None while it has fewer than `min_seconds` of samples."""
        if self._head is None:
            return None
        return CandidateBaseline(self._head, self._gaze, self._moved_t is not None and not self._rejected,
                                 self._home)

    def set(self, yaw: float, pitch: float, gaze: GazeBox | None = None) -> None:
        """From a calibration: the neutral head pose (and the gaze box) no longer estimated."""
        if not _finite(yaw, pitch):
            raise ValueError(f"baseline must be finite degrees, got yaw={yaw!r} pitch={pitch!r}")
        if gaze is not None and not (_finite(*asdict(gaze).values()) and
                                     min(gaze.left, gaze.right, gaze.down, gaze.up) > 0):
            raise ValueError(f"gaze box must be finite with positive extents, got {gaze!r}")
        self._head, self._head_set = (float(yaw), float(pitch)), True
        if gaze is not None:  # the calibration says where the screen is: no other posture stands
            self._gaze, self._gaze_set, self._home = gaze, True, None
        if self._gaze_set:
            self._fix()
            self._restart_window()

    def add(self, t: float, yaw: float, pitch: float, gaze: tuple[float, float] | None,
            faces: int, confidence: float | None,
            face_box: tuple[float, float, float, float] | None = None) -> None:
        """Offer one assessable frame's head pose, gaze angles and face box (module docstring)."""
        if faces != 1 or confidence is None or confidence < self._min_confidence:
            return
        h, v = gaze if gaze is not None else (math.nan, math.nan)
        sample: _Sample = (yaw, pitch, h, v, *posture_of(face_box))
        following = not (self._head_set and self._gaze_set) and self._head is not None
        # a moved head's frames teach the baseline only once its posture is accepted (`_accept`)
        if not (following and self._follow(t, sample)) and not self._fixed:
            self._learn(t, sample)

    def _learn(self, t: float, sample: _Sample) -> None:
        if self._first_t is None:
            self._first_t = t
        elapsed = t - self._first_t
        if elapsed <= self._seconds:
            self._samples.append(sample)
        if elapsed >= self._min_seconds:
            self._estimate(self._samples)
        if elapsed >= self._seconds:
            self._fix()

    def _estimate(self, samples_list: list[_Sample]) -> None:
        samples = np.asarray(samples_list, dtype=np.float64)
        if not self._head_set:
            self._head = (float(np.median(samples[:, 0])), float(np.median(samples[:, 1])))
        if not self._gaze_set:
            gazes = samples[~np.isnan(samples[:, 2])]
            if len(gazes) >= MIN_GAZE_SAMPLES:
                self._gaze = gaze_box(gazes[:, 2], gazes[:, 3], self._min_extent, self._max_extent)
        boxes = samples[~np.isnan(samples[:, 4])]
        if len(boxes):
            self._posture = (float(np.median(boxes[:, 4])), float(np.median(boxes[:, 5])),
                             float(np.median(boxes[:, 6])))

    def _follow(self, t: float, sample: _Sample) -> bool:
        """Watch the posture: open, slide, accept or drop the window (module docstring). True when
        the sample went into the window (so it is not a sample of the current posture)."""
        shift = posture_shift((sample[4], sample[5], sample[6]), self._posture)
        if self._moved_t is None:
            if shift > 1.0:
                self._moved_t, self._window = t, [(t, sample)]
            return self._moved_t is not None
        if shift < BACK_SHARE and not math.isnan(sample[4]):
            self._restart_window()
            return False
        self._window.append((t, sample))
        if t - self._moved_t < SETTLE_SECONDS:
            return True
        if self._rejected:  # slide: judge the last SETTLE_SECONDS only
            self._window = [(u, s) for u, s in self._window if u > t - SETTLE_SECONDS]
        if self._reading(self._window):
            self._accept([s for _, s in self._window])
        else:
            self._rejected = True
        return True

    def _reading(self, window: list[tuple[float, _Sample]]) -> bool:
        """The window's gaze spreads like reading a screen near where the old screen was."""
        gazes = np.asarray([s[2:4] for _, s in window if not math.isnan(s[2])], dtype=np.float64)
        if len(gazes) < MIN_GAZE_SAMPLES:
            return False
        if reading_spread(gazes[:, 0], gazes[:, 1]) < READING_SPREAD_DEG:
            return False
        first = self._home.gaze if self._home is not None else self._gaze
        if first is None:
            return True
        h0, v0 = float(np.median(gazes[:, 0])), float(np.median(gazes[:, 1]))
        return max(abs(h0 - first.h), abs(v0 - first.v)) <= self._max_extent

    def _accept(self, samples: list[_Sample]) -> None:
        """The new posture's baseline: learned again, as in the first minute, from the window on."""
        if self._home is None and self._head is not None:
            self._home = CandidateBaseline(self._head, self._gaze)
        self._first_t, self._samples, self._fixed = self._moved_t, samples, False
        self._estimate(samples)
        self._restart_window()

    def _restart_window(self) -> None:
        self._moved_t, self._window, self._rejected = None, [], False

    def _fix(self) -> None:
        self._fixed = True
        self._samples.clear()

    def snapshot(self) -> dict[str, Any]:
        def safe(sample: _Sample) -> list[float | None]:
            return [None if math.isnan(x) else x for x in sample]

        return {
            "first_t": self._first_t,
            "samples": [safe(s) for s in self._samples],
            "fixed": self._fixed,
            "head": None if self._head is None else list(self._head),
            "head_set": self._head_set,
            "gaze": None if self._gaze is None else asdict(self._gaze),
            "gaze_set": self._gaze_set,
            "posture": [None if math.isnan(x) else x for x in self._posture],
            "moved_t": self._moved_t,
            "window": [[u, safe(s)] for u, s in self._window],
            "rejected": self._rejected,
            "home": None if self._home is None else {
                "head": list(self._home.head),
                "gaze": None if self._home.gaze is None else asdict(self._home.gaze)},
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        def sample(values: list[float | None]) -> _Sample:
            padded = [math.nan if x is None else float(x) for x in values] + [math.nan] * (7 - len(values))
            return tuple(padded[:7])  # type: ignore[return-value]

        if "samples" not in state:  # a snapshot from before the gaze baseline: its head value stands
            value = state.get("value")
            self._head = None if value is None else (value[0], value[1])
            self._head_set = value is not None
            return
        self._first_t = state["first_t"]
        self._samples = [sample(s) for s in state["samples"]]  # a snapshot before postures: 4 values
        self._fixed = state["fixed"]
        head = state["head"]
        self._head = None if head is None else (head[0], head[1])
        self._head_set = state["head_set"]
        self._gaze = None if state["gaze"] is None else GazeBox(**state["gaze"])
        self._gaze_set = state["gaze_set"]
        posture = sample(state.get("posture") or [])
        self._posture = (posture[0], posture[1], posture[2])
        self._moved_t = state.get("moved_t")
        self._window = [(u, sample(s)) for u, s in state.get("window", [])]
        self._rejected = state.get("rejected", False)
        home = state.get("home")
        self._home = None if home is None else CandidateBaseline(
            (home["head"][0], home["head"][1]), None if home["gaze"] is None else GazeBox(**home["gaze"]))
