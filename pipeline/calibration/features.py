"""One frame's regression input: `GazeFeatures` normalised for head position, scale and rotation.

The gaze stage already measures each iris in its own eye's frame (the corner-to-corner line), in
eye widths, so the iris offsets do not change with head roll or distance. What is left to
normalise is where the head is and how it is turned, because the same eye-in-head angle lands on a
different screen point when the head moves:

| feature     | from                                    | why |
|-------------|-----------------------------------------|-----|
| `eye_h`     | mean of both eyes' `h`                  | horizontal eye-in-head rotation (the signal) |
| `eye_v`     | mean of both eyes' `v`                  | vertical eye-in-head rotation |
| `yaw`       | head yaw, radians                       | head turn adds to the gaze angle |
| `pitch`     | head pitch, radians                     | head tilt adds to the vertical angle |
| `head_x`    | face x - 0.5 (frame widths)             | a head moved sideways shifts the gaze point |
| `head_y`    | face y - 0.5 (frame heights)            | likewise vertically |
| `log_scale` | log(face span / frame width)            | distance: the same angle covers more screen further away |

Roll is not a feature: the per-eye frames already remove it, and with a level screen a tilted head
does not move the gaze point. Averaging the two eyes halves the landmark noise and cancels each
eye's own bias.

A frame is rejected (never enters a fit) when the face is not confidently the only one, when the
eyes are shut (a blink, as the landmarker's `eyeBlink*` blendshapes say: `LandmarksResult.blink`),
or when the two eyes disagree by more than a real vergence allows (a landmark glitch). A blink is
`blink`, not `no_face`: the gaze stage has no result on a blink frame, but the landmarks do.

There is no lid-openness threshold: looking at the bottom of the screen lowers the lids (eye
aspect ratio 0.12-0.16 on real people), and a 0.16 threshold rejected 14 % of the bottom-row dots'
frames (issue 17), so fits rarely saw the screen's bottom. The blendshape blink detector is
trained to tell a blink from a lowered lid; a half-closed lid's bias on `v` is what the
calibration is there to learn.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from pipeline.analysis import FrameAnalysis
from pipeline.stages.faces import FacesResult
from pipeline.stages.gaze import GazeFeatures, GazeResult
from pipeline.stages.landmarks import LandmarksResult

#: below this face-detector confidence the mesh may be fitted to something that is not a face.
MIN_FACE_CONFIDENCE = 0.6
#: the two eyes' horizontal offsets differ by more than this (eye widths): not a real gaze but a
#: mesh glitch. Each iris sits toward its own outer corner, so the difference is not zero: on the
#: test clip a_h - b_h reads -0.13 to -0.18 (vergence at 50 cm adds only ~0.02); 0.35 is beyond
#: any real pair of eyes.
MAX_EYE_DISAGREEMENT = 0.35

Rejection = Literal["no_face", "several_faces", "low_confidence", "blink", "eyes_disagree", "stale"]

#: indices of the head terms in `FeatureSample.NAMES` (the rest, 0 and 1, are the eyes).
HEAD_TERMS: tuple[int, ...] = (2, 3, 4, 5, 6)
#: a seated candidate's typical head movement between sittings and over an exam, per head term:
#: about 5 deg of yaw and pitch (0.087 rad), 3 cm sideways or up at 60 cm (a 60 deg webcam sees
#: about 69 x 52 cm there: 0.04 and 0.06 of the frame) and 5 cm nearer or further (log 0.08). The
#: fit measures head coefficients in these units (fit.py) and a stored map's reuse is judged in
#: them (transfer.py).
HEAD_TYPICAL_MOVE: tuple[float, ...] = (0.087, 0.087, 0.04, 0.06, 0.08)


@dataclass(frozen=True)
class FeatureSample:
    """A frame's normalised features (`NAMES` order) and when it was seen (seconds)."""

    NAMES: ClassVar[tuple[str, ...]] = ("eye_h", "eye_v", "yaw", "pitch", "head_x", "head_y", "log_scale")

    t: float
    values: tuple[float, ...]
    #: face span / frame width, kept for the viewing-distance estimate
    face_scale: float
    yaw_deg: float

    def array(self) -> np.ndarray:
        return np.asarray(self.values, dtype=np.float64)


def normalise(g: GazeFeatures) -> tuple[float, ...]:
    """The `FeatureSample.NAMES` vector of one frame's gaze features."""
    return (
        (g.eye_a.h + g.eye_b.h) / 2.0,
        (g.eye_a.v + g.eye_b.v) / 2.0,
        math.radians(g.yaw),
        math.radians(g.pitch),
        g.face_x - 0.5,
        g.face_y - 0.5,
        math.log(max(g.face_scale, 1e-4)),
    )


def frame_sample(t: float, gaze: GazeFeatures | None, *, faces: int | None,
                 face_confidence: float | None, blink: bool = False) -> FeatureSample | Rejection:
    """The frame's `FeatureSample`, or why it cannot be used (`blink`: the landmarker saw shut eyes)."""
    if not faces:
        return "no_face"
    if faces > 1:
        return "several_faces"
    if face_confidence is not None and face_confidence < MIN_FACE_CONFIDENCE:
        return "low_confidence"
    if blink:
        return "blink"
    if gaze is None:
        return "no_face"
    if abs(gaze.eye_a.h - gaze.eye_b.h) > MAX_EYE_DISAGREEMENT:
        return "eyes_disagree"
    values = normalise(gaze)
    if not all(math.isfinite(v) for v in values):
        return "low_confidence"
    return FeatureSample(t, values, gaze.face_scale, gaze.yaw)


def analysis_sample(analysis: FrameAnalysis, t: float) -> FeatureSample | Rejection:
    """`frame_sample` of one analysed frame, read the same way by the live calibration and `vigil
    eval`; a gaze carried forward from an earlier frame (not computed on this one) is `stale`."""
    gaze = analysis.result("gaze", GazeResult)
    out = analysis.outputs.get("gaze")
    if gaze is not None and out is not None and not out.fresh:
        return "stale"
    faces = analysis.result("faces", FacesResult)
    landmarks = analysis.result("landmarks", LandmarksResult)
    primary = faces.primary if faces is not None else None
    return frame_sample(t, gaze.features if gaze is not None else None,
                        faces=faces.count if faces is not None else None,
                        face_confidence=primary.confidence if primary is not None else None,
                        blink=landmarks is not None and landmarks.blink)
