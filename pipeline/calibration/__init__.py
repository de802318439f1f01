"""Gaze calibration: a per-candidate map from gaze features to screen pixels, and its accuracy.

Pure (no I/O, no clock reads; times are passed in). One concern per module:

* `targets`  - where the dots go (5/9/13/16 fit points with 10% margins, plus validation points);
* `features` - one frame's `GazeFeatures` as a head-normalised regression input, or a rejection;
* `fit`      - ridge regression to screen px, the ridge strength chosen by leave-one-point-out;
* `accuracy` - errors in px, mm and degrees of visual angle (viewing distance from the face);
* `drift`    - one-dot recentring: an offset correction without a refit.
"""
