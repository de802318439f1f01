"""Quality: can the camera image be assessed at all? Judged from the frame alone, no model.

Measured on the frame's *active area*: black letterbox/pillarbox bars (rows/columns that are black
from edge to edge, `BAR_MAX_LUMA`) are trimmed first, since a phone's portrait video pillarboxed to
4:3 would otherwise read as dark (the test clip: mean luma 48 with bars, ~100 without).

* `luma`: mean BT.601 luma, 0..255; `contrast`: its standard deviation;
* `sharpness`: variance of the Laplacian (a focus measure: high for edges, low for blur);
* frozen: the frame is identical to the previous one of this session (mean absolute difference of
  80x60 thumbnails under `FROZEN_MAX_DIFF`) for at least `FROZEN_AFTER_S`; per-session state.

* `relative_contrast`, `relative_edges`: the picture's structure whatever its brightness: the
  standard deviation and the 90th percentile of the gradient magnitude of a 160x120 thumbnail,
  each divided by its mean luma. Dimming a scene scales all three together, so a dim face keeps
  them (0.5-1.2 and 2-4 on the test photos at any exposure); a lens cap, tape or a finger is
  out of focus and near uniform (under 0.2 and 0.6), and the thumbnail averages sensor noise out.

`status`, first match wins: covered (very dark, low contrast *and* no structure: a lens cap, tape,
a finger), frozen, dark (too dark: a dim room; the picture still has the structure of a scene),
overexposed, blurred, ok. When the status is not `ok`, consumers treat vision as "unable to
assess" rather than as evidence of absence (no face on a covered camera is not the same as an
empty seat). A detected face is never `covered`: the structure rule keeps a dim face `dark` here,
and the risk engine never counts a frame with a face in it as a blocked camera
(`pipeline/risk/conditions.py`), since this stage runs before the faces stage and judges pixels only.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

from pipeline.frame import VideoFrame
from pipeline.stages.base import Stage, StageOutput

QualityStatus = Literal["ok", "dark", "overexposed", "blurred", "frozen", "covered"]

#: a row/column of the 160x120 thumbnail whose brightest pixel is at most this is a black bar
#: (video black is 16 in limited range; coding noise adds a few levels).
BAR_MAX_LUMA = 24
#: covered: mean luma under this and ...
COVERED_MAX_LUMA = 35.0
#: ... contrast under this. A covered lens gives a near-uniform dark image; a dim room still shows
#: edges (std > 20 on the test media).
COVERED_MAX_CONTRAST = 12.0
#: ... and no structure: relative contrast under this *and* relative edges under the next. A real
#: photograph dimmed to luma 5-35 keeps 0.48-1.26 and 2.0-4.3 (the test photos); a black frame, a
#: blurred dark frame, a smooth light leak and dark sensor noise measure 0-0.17 and 0-0.58.
COVERED_MAX_RELATIVE_CONTRAST = 0.3
COVERED_MAX_RELATIVE_EDGES = 1.0
#: mean luma under this is too dark to find a face reliably (mediapipe's detectors lose faces in
#: such frames); real indoor webcam frames sit at 80-160.
DARK_MAX_LUMA = 45.0
#: mean luma over this, or more than `OVEREXPOSED_MAX_CLIPPED` of the pixels clipped at 250+,
#: washes a face out (a window behind the candidate, a lamp into the lens).
OVEREXPOSED_MIN_LUMA = 215.0
OVEREXPOSED_MAX_CLIPPED = 0.35
#: variance of the Laplacian under this is blurred. Sharp 640x480 webcam frames measure 150-900 on
#: the test media (an upscaled 320x240 video still ~175, a soft photo 56); a Gaussian blur of
#: sigma 3 brings a face frame under 10.
BLURRED_MAX_SHARPNESS = 25.0
#: mean absolute thumbnail difference (luma levels) under which two frames are the same picture. A
#: live camera's sensor noise and a person's small movements keep it above 0.1 (the test clip's
#: minimum is 0.14 at 5 fps); a stalled stream or a still image fed as a camera gives ~0.
FROZEN_MAX_DIFF = 0.05
#: identical frames for this long (session seconds) is frozen: an encoder may repeat a frame
#: briefly on a still scene, a camera does not repeat for seconds.
FROZEN_AFTER_S = 3.0

_THUMB = (80, 60)
_BAR_THUMB = (160, 120)


@dataclass(frozen=True)
class QualityResult:
    status: QualityStatus
    luma: float
    contrast: float
    sharpness: float
    clipped: float
    #: seconds this session's picture has been unchanged (0 when it changed on this frame)
    unchanged_s: float
    relative_contrast: float = 0.0
    relative_edges: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def message_fields(self) -> dict[str, Any]:
        return {"quality": {"status": self.status, "luma": round(self.luma, 1),
                            "sharpness": round(self.sharpness, 1)}}


@dataclass
class _QualitySession:
    prev_thumb: np.ndarray | None = None
    prev_t: float = 0.0
    unchanged_since: float | None = None


def active_area(gray: np.ndarray, thumb: np.ndarray | None = None) -> tuple[slice, slice]:
    """Rows and columns inside black bars along the frame edges (the whole frame when none).
    `thumb`: the frame already resized to `_BAR_THUMB`, if the caller has it."""
    h, w = gray.shape
    if thumb is None:
        thumb = cv2.resize(gray, _BAR_THUMB, interpolation=cv2.INTER_AREA)
    cols = np.flatnonzero(thumb.max(axis=0) > BAR_MAX_LUMA)
    rows = np.flatnonzero(thumb.max(axis=1) > BAR_MAX_LUMA)
    if cols.size == 0 or rows.size == 0:
        return slice(0, h), slice(0, w)  # all black: nothing to trim, the frame *is* the picture
    sx, sy = w / _BAR_THUMB[0], h / _BAR_THUMB[1]
    # step one thumbnail cell inside so the bar's edge does not count as an image edge
    x0, x1 = int((cols[0] + (cols[0] > 0)) * sx), int((cols[-1] + 1 - (cols[-1] < _BAR_THUMB[0] - 1)) * sx)
    y0, y1 = int((rows[0] + (rows[0] > 0)) * sy), int((rows[-1] + 1 - (rows[-1] < _BAR_THUMB[1] - 1)) * sy)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return slice(0, h), slice(0, w)
    return slice(y0, y1), slice(x0, x1)


def structure(area: np.ndarray, small: np.ndarray | None = None) -> tuple[float, float]:
    """(relative contrast, relative edges) of a grey picture: see the module docstring.
    `small`: the picture already resized to `_BAR_THUMB`, if the caller has it."""
    if small is None:
        small = cv2.resize(area, _BAR_THUMB, interpolation=cv2.INTER_AREA)
    thumb = small.astype(np.float32)
    mean = max(float(thumb.mean()), 1.0)  # a black frame: 0 / 1, no structure
    gx = cv2.Sobel(thumb, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(thumb, cv2.CV_32F, 0, 1)
    edges = float(np.percentile(cv2.magnitude(gx, gy), 90))
    return float(thumb.std()) / mean, edges / mean


def assess(gray: np.ndarray, unchanged_s: float) -> QualityResult:
    small = cv2.resize(gray, _BAR_THUMB, interpolation=cv2.INTER_AREA)
    ys, xs = active_area(gray, small)
    area = gray[ys, xs]
    whole = area.shape == gray.shape  # no bars (the usual case): the thumbnail is the area's too
    mean, std = cv2.meanStdDev(area)
    luma, contrast = float(mean[0, 0]), float(std[0, 0])
    # the Laplacian of 8-bit pixels fits 16 bits exactly; its variance as OpenCV's std squared, one
    # pass in C (numpy's float var made four and cost a third of the stage)
    sharpness = float(cv2.meanStdDev(cv2.Laplacian(area, cv2.CV_16S))[1][0, 0]) ** 2
    clipped = float(np.count_nonzero(area >= 250)) / area.size
    rel_contrast, rel_edges = structure(area, small if whole else None)
    shapeless = rel_contrast < COVERED_MAX_RELATIVE_CONTRAST and rel_edges < COVERED_MAX_RELATIVE_EDGES
    status: QualityStatus
    if luma < COVERED_MAX_LUMA and contrast < COVERED_MAX_CONTRAST and shapeless:
        status = "covered"
    elif unchanged_s >= FROZEN_AFTER_S:
        status = "frozen"
    elif luma < DARK_MAX_LUMA:
        status = "dark"
    elif luma > OVEREXPOSED_MIN_LUMA or clipped > OVEREXPOSED_MAX_CLIPPED:
        status = "overexposed"
    elif sharpness < BLURRED_MAX_SHARPNESS:
        status = "blurred"
    else:
        status = "ok"
    return QualityResult(status, luma, contrast, sharpness, clipped, unchanged_s, rel_contrast, rel_edges)


class QualityStage(Stage):
    name = "quality"

    def new_state(self) -> _QualitySession:
        return _QualitySession()

    def process(self, frame: VideoFrame, upstream: Mapping[str, StageOutput], state: Any) -> QualityResult:
        session: _QualitySession = state if state is not None else _QualitySession()
        gray = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2GRAY)
        thumb = cv2.resize(gray, _THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)
        prev = session.prev_thumb
        same = (prev is not None and prev.shape == thumb.shape
                and float(np.abs(thumb - prev).mean()) < FROZEN_MAX_DIFF)
        if same:
            if session.unchanged_since is None:
                # the picture has been the same since the previous frame was taken
                session.unchanged_since = session.prev_t
        else:
            session.unchanged_since = None
        session.prev_thumb, session.prev_t = thumb, frame.t
        unchanged = 0.0 if session.unchanged_since is None else max(0.0, frame.t - session.unchanged_since)
        return assess(gray, unchanged)
