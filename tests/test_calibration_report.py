"""The report's calibration cell: degrees only when the screen's size was measured."""
from __future__ import annotations

import json

from server.reports.calibration_summary import calibration_summary
from server.reports.pdf import _calibration_text


def test_the_cell_gives_degrees_for_a_measured_screen() -> None:
    cal = calibration_summary(json.dumps({"state": "calibrated", "mean_error_px": 48.5, "mean_error_deg": 1.4,
                                          "mean_error_screen_fraction": 0.027, "points": [{}] * 9}))
    assert _calibration_text(cal) == "Calibrated (9 points): gaze off by 1.4 deg (48.5 px) on average"


def test_the_cell_gives_a_share_of_the_screen_when_its_size_is_unknown() -> None:
    cal = calibration_summary(json.dumps({"state": "calibrated", "mean_error_px": 48.5, "mean_error_deg": None,
                                          "mean_error_screen_fraction": 0.027, "points": [{}] * 9}))
    text = _calibration_text(cal)
    assert "deg" not in text and "2.7 % of the screen, size unknown" in text


def test_the_cell_is_a_proctors_summary_not_the_candidates_instructions() -> None:
    cal = calibration_summary(json.dumps({
        "state": "calibrated", "source": "stored", "attempts": 2, "mean_error_px": 40.0, "max_error_px": 90.0,
        "mean_error_deg": 1.2, "limit_deg": 3.0, "points": [{}] * 9,
        "message": "Look at each dot until it turns green"}))
    assert _calibration_text(cal) == ("Calibrated (9 points, 2 attempts, reused from an earlier sitting): gaze off "
                                      "by 1.2 deg (40 px) on average, max 90 px; within the 3 deg limit")
    failed = calibration_summary(json.dumps({"state": "failed", "attempts": 3, "mean_error_px": 210.0,
                                             "message": "Keep your head still and try again"}))
    assert _calibration_text(failed) == "Calibration failed (3 attempts): gaze off by 210 px on average"
    assert _calibration_text(calibration_summary(None)).startswith("Not calibrated")
