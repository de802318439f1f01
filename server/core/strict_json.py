"""JSON at the edge, strict: what Vigil writes is JSON every client can parse.

Python's `json.dumps` writes `Infinity` and `NaN` for non-finite floats, which is not JSON: one such
value in an `analysis` message makes the page and every watcher fail to parse it. Every message
Vigil writes (HTTP bodies, data channel, live fan-out, the event stream) goes through `dumps`,
which refuses them (`allow_nan=False`) so a bug shows up as an error where it happens, not as a
broken client somewhere else. Inputs are kept finite at the edge (`base.py`); `loads` refuses the
non-JSON constants too.
"""
from __future__ import annotations

import json
import math
from typing import Any


def dumps(value: Any) -> str:
    """Compact, strict JSON (raises ValueError on a non-finite number)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # `1e999` is JSON, but Python reads it as inf
        raise ValueError(f"{text[:32]} does not fit a finite number")
    return value


def loads(raw: str | bytes) -> Any:
    """JSON that refuses `Infinity`, `-Infinity` and `NaN` (which Python's parser accepts), and numbers
    too large to be finite."""
    return json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
