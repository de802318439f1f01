"""Vigil's pure analysis: stages, gaze, calibration, risk. No I/O, no clock reads: times come in."""
