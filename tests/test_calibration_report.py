"""The report's calibration cell: degrees only when the screen's size was measured."""
from __future__ import annotations

import json

from server.reports.data import calibration_summary
from server.reports.pdf import _calibration_text


def test_the_cell_gives_degrees_for_a_measured_screen() -> None:
    cal = calibration_summary(json.dumps({"state": "calibrated", "mean_error_px": 48.5, "mean_error_deg": 1.4,
                                          "mean_error_screen_fraction": 0.027, "points": [{}] * 9}))
    assert _calibration_text(cal) == "calibrated: mean error 48.5 px (1.4 deg), 9 points"


def test_the_cell_gives_a_share_of_the_screen_when_its_size_is_unknown() -> None:
    cal = calibration_summary(json.dumps({"state": "calibrated", "mean_error_px": 48.5, "mean_error_deg": None,
                                          "mean_error_screen_fraction": 0.027, "points": [{}] * 9}))
    text = _calibration_text(cal)
    assert "deg" not in text and "2.7 % of the screen, size unknown" in text
