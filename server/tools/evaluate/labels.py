"""What each span label means to the product: the frames that predict it and the events that report it.

A label is scored on two levels (see `metrics.py`): frame by frame against the risk engine's
per-frame reading of the matching condition (the event registry's reader,
`pipeline.risk.events.EVENT_SPECS`, with the engine's own head-pose baseline), and span by span against the engine's debounced events.

| label | a frame predicts it when | events |
|---|---|---|
| `looking_away` | the `looking_away` condition holds | looking_away |
| `phone`, `book`, `other_person` | that condition holds | the same type |
| `absent` | `no_face` or `left_seat` holds | no_face, left_seat |
| `face_count=N` | the faces stage counts exactly N faces | N = 0: no_face; N >= 2: multiple_faces; 1: none |

`speaking` needs the audio path, which `vigil eval` does not run yet: its spans are listed as not
scored rather than scored wrongly. The labels in `ALWAYS_SCORED` are scored on every video even
without spans, so an honest clip reports its false events.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pipeline.risk.debounce import Reading
from pipeline.risk.messages import EventType

Readings = Mapping[EventType, "Reading | None"]
#: scored on every video, spans or not.
ALWAYS_SCORED: tuple[str, ...] = ("phone", "book", "looking_away", "other_person", "absent")
#: known, but needing a modality `vigil eval` does not analyse yet.
NOT_SCORED: frozenset[str] = frozenset({"speaking"})


@dataclass(frozen=True)
class FrameView:
    """What the label predicates read from one analysed frame."""

    faces: int | None
    readings: Readings

    def holds(self, kind: EventType) -> bool:
        reading = self.readings.get(kind)
        return reading is not None and reading.holding


@dataclass(frozen=True)
class LabelSpec:
    label: str
    events: frozenset[EventType]
    predicts: Callable[[FrameView], bool]


def _condition(kind: EventType) -> LabelSpec:
    return LabelSpec(kind, frozenset({kind}), lambda f: f.holds(kind))


def _face_count(label: str, n: int) -> LabelSpec:
    events: frozenset[EventType] = (frozenset({"no_face"}) if n == 0
                                    else frozenset({"multiple_faces"}) if n >= 2 else frozenset())
    return LabelSpec(label, events, lambda f: f.faces == n)


_FIXED: dict[str, LabelSpec] = {
    **{k: _condition(k) for k in ("looking_away", "phone", "book", "other_person")},
    "absent": LabelSpec("absent", frozenset({"no_face", "left_seat"}),
                        lambda f: f.holds("no_face") or f.holds("left_seat")),
}


def label_spec(label: str) -> LabelSpec | None:
    """The spec of a label; None for a known label that is not scored (see `NOT_SCORED`).
    Raises ValueError for an unknown label."""
    if label in _FIXED:
        return _FIXED[label]
    if label in NOT_SCORED:
        return None
    if label.startswith("face_count="):
        try:
            n = int(label.split("=", 1)[1])
        except ValueError:
            n = -1
        if n >= 0:
            return _face_count(label, n)
    known = ", ".join([*_FIXED, "face_count=N", *sorted(NOT_SCORED)])
    raise ValueError(f"unknown span label {label!r} (known: {known}, ignore)")
