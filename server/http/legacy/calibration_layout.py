"""The original calibration API's dots: the four corners, in the count and order its clients hard-code.

The original's `POST /api/calibration/start` (its README, docs/legacy-apis.md) answers
`calibration_config` with `target_display_time` 3000 (milliseconds per dot), `max_frames_per_target` 30,
and four `targets`, index 0-3: top-left (0.1, 0.1), top-right (0.9, 0.1), bottom-left (0.1, 0.9) and
bottom-right (0.9, 0.9); "target indices must be 0-3". Its clients draw those four and send frames at
those four indices, so a run started with the original's body has exactly these dots (no validation
dots), unless the body asks for one of Vigil's layouts by naming `points`.

How Vigil's fit does on four dots (`pipeline/calibration/fit.py`, `evaluate.py`): four usable dots are its
minimum (`MIN_FIT_POINTS`). With no validation dot, the map is judged by leave-one-point-out (`basis`
"leave-one-point-out"): each corner predicted by the map fitted on the other three. Three dots pin down
only the eye terms (a plane: two eye coefficients and an intercept per axis) and the ridge's floor keeps
the head terms near zero for a candidate who sat still, so each held-out corner is the eye-only linear
map extrapolated across the screen: a stricter test than Vigil's check dots, which sit between fit
dots. A head that moved between dots is compensated only as far as four dots show it. A corner without
two steady frames leaves three: the run `failed`, with that reason (the original answered 400 for
"invalid calibration data"; this API answers 200 with `success: false`, as for every refusal).
"""
from __future__ import annotations

from pipeline.calibration.targets import Target

#: the original's display time per dot, in milliseconds (its clients pace the dots with it)
DOT_DISPLAY_MS = 3000
#: the original's dots, fractions of the screen, in its index order
CORNERS: tuple[tuple[float, float], ...] = ((0.1, 0.1), (0.9, 0.1), (0.1, 0.9), (0.9, 0.9))


def original_targets() -> tuple[Target, ...]:
    """The original's four dots as Vigil's targets: every one a fit dot, index 0-3 in its order."""
    return tuple(Target(index, x, y, validation=False) for index, (x, y) in enumerate(CORNERS))
