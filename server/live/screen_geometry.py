"""Screen descriptions from the page or the HTTP API: plausible, or refused in plain words."""
from __future__ import annotations

import math

# -- screen plausibility (CSS px, mm) -----------------------------------------------------------
#: CSS px per side: a phone in landscape is ~640 x 360; an 8K display at dpr 1 is 7680 x 4320.
MIN_SCREEN_PX, MAX_SCREEN_PX = 320.0, 8192.0
MIN_DPR, MAX_DPR = 0.25, 8.0
#: physical sides, mm: a 7-inch tablet to a large TV.
MIN_SCREEN_MM, MAX_SCREEN_MM = 80.0, 2500.0
#: mm per CSS px: from a dense phone (~0.1) to a TV seen at dpr 1 (~1.0).
MIN_MM_PER_PX, MAX_MM_PER_PX = 0.08, 1.2
#: the physical and pixel aspect ratios must agree within this factor (square pixels).
MAX_ASPECT_MISMATCH = 1.2
MIN_DISTANCE_MM, MAX_DISTANCE_MM = 200.0, 2000.0


def physical_size_fields(screen_w: float, width_mm: float | None, height_mm: float | None) -> dict[str, float]:
    """What a screen's physical size gives: `mm_per_px` (with its width) and `diagonal_in` (with both sides)."""
    out: dict[str, float] = {}
    if width_mm:
        out["mm_per_px"] = round(width_mm / screen_w, 5)
        if height_mm:
            out["diagonal_in"] = round((width_mm ** 2 + height_mm ** 2) ** 0.5 / 25.4, 1)
    return out


def sides_from_diagonal(screen_w: float, screen_h: float, diagonal_in: float) -> tuple[float, float]:
    """The physical width and height (mm) of a screen of this diagonal whose pixels are square."""
    diagonal_mm, diagonal_px = diagonal_in * 25.4, math.hypot(screen_w, screen_h)
    return diagonal_mm * screen_w / diagonal_px, diagonal_mm * screen_h / diagonal_px


def screen_problems(*, screen_w: float | None, screen_h: float | None, dpr: float | None = None,
                    width_mm: float | None = None, height_mm: float | None = None,
                    viewing_distance_mm: float | None = None) -> list[str]:
    """Why a screen description is implausible, in plain words (empty: plausible)."""
    out: list[str] = []
    for name, v in (("screen_w", screen_w), ("screen_h", screen_h)):
        if v is None or not math.isfinite(v) or not MIN_SCREEN_PX <= v <= MAX_SCREEN_PX:
            out.append(f"{name} must be {MIN_SCREEN_PX:g}-{MAX_SCREEN_PX:g} CSS px, got {v}")
    if dpr is not None and not (math.isfinite(dpr) and MIN_DPR <= dpr <= MAX_DPR):
        out.append(f"dpr must be {MIN_DPR:g}-{MAX_DPR:g}, got {dpr}")
    for name, v in (("width_mm", width_mm), ("height_mm", height_mm)):
        if v is not None and not (math.isfinite(v) and MIN_SCREEN_MM <= v <= MAX_SCREEN_MM):
            out.append(f"{name} must be {MIN_SCREEN_MM:g}-{MAX_SCREEN_MM:g} mm, got {v}")
    if viewing_distance_mm is not None and not (math.isfinite(viewing_distance_mm)
                                                and MIN_DISTANCE_MM <= viewing_distance_mm <= MAX_DISTANCE_MM):
        out.append(f"viewing_distance_mm must be {MIN_DISTANCE_MM:g}-{MAX_DISTANCE_MM:g}, got {viewing_distance_mm}")
    if out or screen_w is None or screen_h is None:
        return out
    for name, mm, px in (("width", width_mm, screen_w), ("height", height_mm, screen_h)):
        if mm is not None and not MIN_MM_PER_PX <= mm / px <= MAX_MM_PER_PX:
            out.append(f"{name} {mm:g} mm over {px:g} px is {mm / px:.3f} mm per px, outside "
                       f"{MIN_MM_PER_PX:g}-{MAX_MM_PER_PX:g}: check the measurement")
    if width_mm and height_mm and not out:
        ratio = (width_mm / height_mm) / (screen_w / screen_h)
        if not 1 / MAX_ASPECT_MISMATCH <= ratio <= MAX_ASPECT_MISMATCH:
            out.append(f"physical aspect {width_mm / height_mm:.2f} does not match the pixel aspect "
                       f"{screen_w / screen_h:.2f}: check the measurement")
    return out
