"""The three labelled-media formats `vigil eval` reads (documented in docs/evaluation.md).

Each reader takes a CSV with a header row, checks the columns and values, and returns frozen rows;
a bad file raises `FormatError` naming the file, the line and the column. Paths in a CSV are
relative to the CSV's own folder unless absolute. Blank cells are None where the format allows
them; `group` is optional in every format (metrics are then also reported per group).

* spans: `start_s,end_s,label[,group]` over one video;
* boxes: `file,label,x,y,w,h[,group]`, pixel boxes; an empty label marks an image with no object
  of interest (so its false positives count);
* gaze targets: `file,session,target_x_px,target_y_px,screen_w_px,screen_h_px,screen_w_mm,
  screen_h_mm,distance_mm[,group][,person]`: one webcam image taken while the person looked at a
  known point.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

SPAN_COLUMNS = ("start_s", "end_s", "label")
BOX_COLUMNS = ("file", "label", "x", "y", "w", "h")
GAZE_COLUMNS = ("file", "session", "target_x_px", "target_y_px", "screen_w_px", "screen_h_px",
                "screen_w_mm", "screen_h_mm", "distance_mm")
#: a span label whose frames and events are not scored at all (transitions, unsure stretches).
IGNORE_LABEL = "ignore"


class FormatError(ValueError):
    """A labelled-media CSV is malformed; the message names the file, line and column."""


@dataclass(frozen=True)
class SpanRow:
    start_s: float
    end_s: float
    label: str
    group: str | None = None


@dataclass(frozen=True)
class BoxRow:
    file: Path
    label: str | None  # None: the image holds no object of interest
    box: tuple[float, float, float, float] | None
    group: str | None = None


@dataclass(frozen=True)
class GazeRow:
    file: Path
    session: str
    target_px: tuple[float, float]
    screen_px: tuple[float, float]
    screen_mm: tuple[float | None, float | None]
    distance_mm: float | None
    group: str | None = None
    person: str | None = None

    @property
    def mm_per_px(self) -> float | None:
        w, h = self.screen_mm
        parts = [mm / px for mm, px in ((w, self.screen_px[0]), (h, self.screen_px[1])) if mm]
        return sum(parts) / len(parts) if parts else None


def _blank(value: str | None) -> bool:
    return value is None or value.strip() == ""


def _number(path: Path, line: int, column: str, value: str | None, *, optional: bool = False) -> float | None:
    if _blank(value):
        if optional:
            return None
        raise FormatError(f"{path}:{line}: column {column!r} is empty")
    try:
        number = float(value)  # type: ignore[arg-type]
    except ValueError:
        raise FormatError(f"{path}:{line}: column {column!r} is not a number: {value!r}") from None
    if not math.isfinite(number):
        raise FormatError(f"{path}:{line}: column {column!r} is not finite: {value!r}")
    return number


def _text(row: Mapping[str, str | None], column: str) -> str | None:
    value = row.get(column)
    return None if _blank(value) else str(value).strip()


def _rows(path: Path, required: Sequence[str],
          build: Callable[[int, Mapping[str, str | None]], T]) -> list[T]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in reader.fieldnames or ()]
        missing = [c for c in required if c not in columns]
        if missing:
            raise FormatError(f"{path}: missing column(s) {', '.join(missing)} (has {', '.join(columns) or 'none'})")
        reader.fieldnames = columns
        out = [build(reader.line_num, row) for row in reader if any(not _blank(v) for v in row.values())]
    if not out:
        raise FormatError(f"{path}: no rows")
    return out


def _resolve(path: Path, name: str) -> Path:
    p = Path(name)
    return p if p.is_absolute() else path.parent / p


def kind_of(path: Path) -> str:
    """'spans', 'boxes' or 'gaze' from the CSV's header."""
    with path.open(newline="", encoding="utf-8") as f:
        header = {c.strip() for c in next(csv.reader(f), [])}
    for kind, columns in (("gaze", GAZE_COLUMNS), ("boxes", BOX_COLUMNS), ("spans", SPAN_COLUMNS)):
        if set(columns) <= header:
            return kind
    raise FormatError(f"{path}: header {sorted(header)} matches no format (spans, boxes, gaze)")


def read_spans(path: Path) -> list[SpanRow]:
    def build(line: int, row: Mapping[str, str | None]) -> SpanRow:
        start = _number(path, line, "start_s", row.get("start_s"))
        end = _number(path, line, "end_s", row.get("end_s"))
        label = _text(row, "label")
        assert start is not None and end is not None
        if label is None:
            raise FormatError(f"{path}:{line}: column 'label' is empty")
        if end < start or start < 0:
            raise FormatError(f"{path}:{line}: span {start}-{end} s is not 0 <= start_s <= end_s")
        return SpanRow(start, end, label, _text(row, "group"))

    return _rows(path, SPAN_COLUMNS, build)


def read_boxes(path: Path) -> list[BoxRow]:
    def build(line: int, row: Mapping[str, str | None]) -> BoxRow:
        name = _text(row, "file")
        if name is None:
            raise FormatError(f"{path}:{line}: column 'file' is empty")
        label = _text(row, "label")
        if label is None:
            return BoxRow(_resolve(path, name), None, None, _text(row, "group"))
        x, y, w, h = (_number(path, line, c, row.get(c)) for c in ("x", "y", "w", "h"))
        assert x is not None and y is not None and w is not None and h is not None
        if w <= 0 or h <= 0:
            raise FormatError(f"{path}:{line}: box width and height must be > 0")
        return BoxRow(_resolve(path, name), label, (x, y, w, h), _text(row, "group"))

    return _rows(path, BOX_COLUMNS, build)


def read_gaze(path: Path) -> list[GazeRow]:
    def build(line: int, row: Mapping[str, str | None]) -> GazeRow:
        name, session = _text(row, "file"), _text(row, "session")
        if name is None or session is None:
            raise FormatError(f"{path}:{line}: columns 'file' and 'session' must not be empty")
        n = {c: _number(path, line, c, row.get(c), optional=c.endswith("_mm")) for c in GAZE_COLUMNS[2:]}
        tx, ty, sw, sh = n["target_x_px"], n["target_y_px"], n["screen_w_px"], n["screen_h_px"]
        assert tx is not None and ty is not None and sw is not None and sh is not None
        if sw <= 0 or sh <= 0:
            raise FormatError(f"{path}:{line}: screen size must be > 0 px")
        return GazeRow(_resolve(path, name), session, (tx, ty), (sw, sh), (n["screen_w_mm"], n["screen_h_mm"]),
                       n["distance_mm"], _text(row, "group"), _text(row, "person"))

    return _rows(path, GAZE_COLUMNS, build)
