"""The gaze calibration's messages from server to page (`server.live.calibration` sends them)."""
from __future__ import annotations

from typing import Literal

from server.protocol.base import Absent, Outbound
from server.protocol.versions import Version


class CalibrationTarget(Outbound):
    """Draw the dot now at (x, y), CSS px of the calibrated area; it stays `duration_ms`."""

    type: Literal["calibration.target"]
    v: Version
    index: int
    x: float
    y: float
    total: int
    validation: bool
    duration_ms: int
    #: only on the single centre dot of a recentre
    recentre: Absent[Literal[True]] = None


class Point(Outbound):
    x: float
    y: float


class PointError(Outbound):
    index: int
    x: float
    y: float
    validation: bool
    samples: int
    error_px: float
    #: null when the screen's physical size is unknown (degrees are then not claimed)
    error_deg: float | None
    error_mm: float | None
    predicted: Point


class CalibrationResult(Outbound):
    """The end of a calibration (`mode: calibration`), of a recentre (`mode: recentre`), or the check
    of a stored calibration against the new sitting's head (`mode: stored`: reused, recentre needed
    or new calibration needed).

    The error fields are null when nothing was measured (a refused screen, too few frames); the
    degree fields are also null when the screen's physical size is unknown. The keys marked absent
    appear only after a fit (`limit_deg` ... `assumed_pixel_size`), only on a recentre (`shift_px`,
    `samples`) or only on a stored check (`head_outside`).
    """

    type: Literal["calibration.result"]
    v: Version
    mode: Literal["calibration", "recentre", "stored"]
    ok: bool
    status: Literal["accepted", "refused", "failed", "recentred", "reused", "recentre_needed", "recalibrate_needed"]
    #: stable across languages, for a page to translate by: `{mode}.{status}` (e.g. `calibration.accepted`,
    #: `stored.recentre_needed`), or a more precise reason (`calibration.screen_implausible`,
    #: `recentre.not_calibrated`); `message` says the same in English with the details
    code: str
    message: str
    mean_error_px: float | None
    max_error_px: float | None
    mean_error_deg: float | None
    max_error_deg: float | None
    mean_error_mm: float | None
    max_error_mm: float | None
    points: list[PointError]
    limit_deg: Absent[float] = None
    basis: Absent[Literal["validation", "leave-one-point-out", "none"]] = None
    #: frames skipped while collecting, by reason (blink, faces, stale, ...)
    rejected_frames: Absent[dict[str, int]] = None
    viewing_distance_mm: Absent[int] = None
    distance_estimated: Absent[bool] = None
    assumed_pixel_size: Absent[bool] = None
    #: mean and max error over the screen's diagonal, and the acceptance limit used without a size
    mean_error_screen_fraction: Absent[float] = None
    max_error_screen_fraction: Absent[float] = None
    limit_screen_fraction: Absent[float] = None
    #: per head term, how far outside the calibration's head range the new sitting is (typical movements)
    head_outside: Absent[dict[str, float]] = None
    shift_px: Absent[Point] = None
    samples: Absent[int] = None
