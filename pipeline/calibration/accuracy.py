"""Calibration accuracy in screen pixels, millimetres and degrees of visual angle.

* **px**: distance from a point's mean predicted gaze (the mean of its frames' predictions) to its
  target, in the page's CSS px. This is how eye trackers state accuracy (the offset of the average
  gaze point, not the scatter of single frames, which is precision).
* **mm**: px times the screen's mm per CSS px, known only when the page or the candidate gave the
  screen's physical size (`ScreenGeometry.mm_per_px`); otherwise None, never a guess.
* **screen fraction**: px over the screen's diagonal in px; needs no physical size, so it is the
  measure when the size is unknown.
* **degrees**: the angle at the eye between the rays to the target and to the prediction. The eye
  is assumed on the normal through the screen's centre at the viewing distance (the camera sits at
  the screen's edge, so this is the usual approximation). Without a physical size the CSS
  reference pixel (`CSS_PX_MM`, 1/96 inch) stands in for it and the result says so
  (`assumed_pixel_size`); such degrees are not claimed to the candidate or in reports: laptops have
  0.16-0.2 mm per CSS px, not 0.2646, so the stand-in inflates degrees by 34-67 % (issue 17).
* **viewing distance**: given, or estimated from the face by the pinhole model: the outer eye
  corners are `BIOCULAR_WIDTH_MM` apart on an adult face; a camera whose horizontal field of view
  is `CAMERA_HFOV_DEG` has a focal length of (W/2)/tan(HFOV/2) px, so the distance is
  f * width_mm / span_px = BIOCULAR_WIDTH_MM / (2 tan(HFOV/2) * span / W), with the span divided
  by cos(yaw) because a turned face shows a shorter span. Faces and webcams vary: treat it as
  +-25% (adult biocular width spans roughly 80-100 mm; webcam HFOV roughly 50-78 deg).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: assumed webcam horizontal field of view when the camera's is unknown: typical laptop webcams
#: are 55-65 deg (external ones up to 78).
CAMERA_HFOV_DEG = 60.0
#: adult outer-eye-corner (ex-ex) width, mm: ~90 (anthropometric means are 86-92 mm). The gaze
#: stage's `face_scale` is exactly this span over the frame width.
BIOCULAR_WIDTH_MM = 90.0
#: the CSS reference pixel, 1/96 inch: the stand-in for mm per CSS px when the screen is unmeasured.
CSS_PX_MM = 25.4 / 96.0
#: estimates outside this are clamped (closer than 25 cm or further than 1.5 m is not a seated
#: candidate at a screen, it is a bad face measurement).
MIN_DISTANCE_MM, MAX_DISTANCE_MM = 250.0, 1500.0
#: used when neither a distance nor a face measurement is available.
DEFAULT_DISTANCE_MM = 600.0


@dataclass(frozen=True)
class ScreenGeometry:
    """The calibrated area (the page's viewport, full screen during calibration), in CSS px."""

    width_px: float
    height_px: float
    dpr: float = 1.0
    #: physical size of that area, when known (page-measured with a card, or typed in)
    width_mm: float | None = None
    height_mm: float | None = None

    @property
    def mm_per_px(self) -> float | None:
        if self.width_mm and self.height_mm:
            return (self.width_mm / self.width_px + self.height_mm / self.height_px) / 2.0
        if self.width_mm:
            return self.width_mm / self.width_px
        if self.height_mm:
            return self.height_mm / self.height_px
        return None


def viewing_distance_mm(face_scale: float, *, yaw_deg: float = 0.0, hfov_deg: float = CAMERA_HFOV_DEG) -> float:
    """Camera-to-face distance (mm) from the outer-eye-corner span as a fraction of frame width."""
    span = face_scale / max(math.cos(math.radians(yaw_deg)), 0.5)
    if not span > 0:
        return DEFAULT_DISTANCE_MM
    d = BIOCULAR_WIDTH_MM / (2.0 * math.tan(math.radians(hfov_deg) / 2.0) * span)
    return min(MAX_DISTANCE_MM, max(MIN_DISTANCE_MM, d))


def visual_angle_deg(target_px: tuple[float, float], gaze_px: tuple[float, float], *, screen: ScreenGeometry,
                     distance_mm: float) -> float:
    """Angle at the eye (on the normal through the screen centre) between target and gaze."""
    mmpp = screen.mm_per_px or CSS_PX_MM
    cx, cy = screen.width_px / 2.0, screen.height_px / 2.0
    a = ((target_px[0] - cx) * mmpp, (target_px[1] - cy) * mmpp, distance_mm)
    b = ((gaze_px[0] - cx) * mmpp, (gaze_px[1] - cy) * mmpp, distance_mm)
    dot = sum(p * q for p, q in zip(a, b, strict=True))
    na, nb = math.sqrt(sum(p * p for p in a)), math.sqrt(sum(q * q for q in b))
    return math.degrees(math.acos(max(-1.0, min(1.0, dot / (na * nb)))))


@dataclass(frozen=True)
class PointError:
    index: int
    target: tuple[float, float]
    predicted: tuple[float, float]
    px: float
    mm: float | None
    deg: float
    validation: bool  # True: a held-out validation dot; False: a fit dot's leave-one-point-out error
    samples: int


@dataclass(frozen=True)
class Accuracy:
    mean_px: float
    max_px: float
    mean_mm: float | None
    max_mm: float | None
    mean_deg: float
    max_deg: float
    distance_mm: float
    distance_estimated: bool
    #: True when mm per px is the CSS reference pixel (degrees are then approximate)
    assumed_pixel_size: bool
    #: mean and max error as a fraction of the screen's diagonal
    mean_fraction: float
    max_fraction: float


def point_error(index: int, target: tuple[float, float], predicted: tuple[float, float], *,
                screen: ScreenGeometry, distance_mm: float, validation: bool, samples: int) -> PointError:
    px = math.hypot(predicted[0] - target[0], predicted[1] - target[1])
    mmpp = screen.mm_per_px
    return PointError(index, target, predicted, px, None if mmpp is None else px * mmpp,
                      visual_angle_deg(target, predicted, screen=screen, distance_mm=distance_mm),
                      validation, samples)


def summarise(errors: Sequence[PointError], *, screen: ScreenGeometry, distance_mm: float,
              distance_estimated: bool) -> Accuracy:
    if not errors:
        raise ValueError("no point errors to summarise")
    px = [e.px for e in errors]
    deg = [e.deg for e in errors]
    mm = [e.mm for e in errors if e.mm is not None]
    diagonal = math.hypot(screen.width_px, screen.height_px)
    return Accuracy(sum(px) / len(px), max(px), sum(mm) / len(mm) if mm else None, max(mm) if mm else None,
                    sum(deg) / len(deg), max(deg), distance_mm, distance_estimated, screen.mm_per_px is None,
                    sum(px) / len(px) / diagonal, max(px) / diagonal)
