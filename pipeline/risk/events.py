"""The event registry: one frozen `EventSpec` per event type, checked complete at import.

A spec says everything the engine needs to know about one type: where its evidence comes from
(`source`), how to read it from an observation (`reader`), whether it fires once per browser
signal (`instant`), its default `ConditionPolicy`, how it reads in a verdict's reasons
(`phrase`), and which other types charge the same thing (`supersedes`).

One absence is charged once: `left_seat` (nobody in view: no face and no body) supersedes
`no_face` (no face: the candidate may still be in the chair, turned away or bent down). Both are
reported, since they say different things, but while `left_seat` is open `no_face` adds nothing to
the score (see `engine.py`), so an empty room costs what `left_seat` costs, not the sum of both. `Policy` defaults, the engine's filters and sampling, and the verdict's lines are all
read from here, so adding an event type is a name in `messages.EventType` plus one record below.

`check_registry` runs at import: every `EventType` has exactly one spec, every spec has a phrase
and a valid default policy, and its source, reader and instant flag agree. A missing piece fails
when the package is imported, not at the end of a session.

The registry's order is the order sampled conditions are read in, so events that start on the
same observation are reported in this order. Everything else (reports, counts, policy files)
follows `EVENT_TYPES`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, get_args

from pipeline.risk.condition_policy import ConditionPolicy, validate_condition
from pipeline.risk.conditions import (
    ConditionReader,
    read_audio_flag,
    read_camera_blocked,
    read_left_seat,
    read_looking_away,
    read_multiple_faces,
    read_no_face,
    read_objects,
    read_other_person,
    read_vision_flag,
)
from pipeline.risk.messages import BROWSER_EVENTS, EVENT_TYPES, EventType, Severity

#: "media": the connection and the arrival of decoded video (`coverage.py`), fed at every input
Source = Literal["vision", "audio", "browser", "media"]
SOURCES: Final[tuple[Source, ...]] = get_args(Source)


@dataclass(frozen=True)
class EventSpec:
    """Everything about one event type; see the module docstring.

    `reader` is None exactly for browser events: `tab_hidden` is fed from the page's visibility
    state, and instant events are one event per browser signal of the same name.
    """

    type: EventType
    source: Source
    phrase: str
    default: ConditionPolicy
    reader: ConditionReader | None = None
    instant: bool = False
    #: event types that charge the same thing as this one: while this one is open they add
    #: nothing to the score (the engine's "one absence charged once" rule).
    supersedes: tuple[EventType, ...] = ()


def _default(
    sev: Severity, debounce: float, release: float, weight: float, per_s: float, cap: float
) -> ConditionPolicy:
    return ConditionPolicy(True, sev, debounce, release, weight, per_s, cap)


# Sustained absences (no face, left seat, tab hidden, camera blocked) carry a per-second weight
# at least equal to the decay, so a long absence keeps the score up instead of decaying away.
_SPECS: tuple[EventSpec, ...] = (
    EventSpec("camera_blocked", "vision", "camera blocked",
              _default("medium", 2.0, 1.0, 20.0, 2.0, 50.0), read_camera_blocked),
    EventSpec("no_face", "vision", "no face in view",
              _default("medium", 3.0, 1.0, 15.0, 2.0, 45.0), read_no_face),
    EventSpec("multiple_faces", "vision", "multiple faces seen",
              _default("high", 1.0, 1.0, 30.0, 1.0, 50.0), read_multiple_faces),
    EventSpec("looking_away", "vision", "looking away",
              _default("low", 2.0, 1.0, 8.0, 1.0, 25.0), read_looking_away),
    EventSpec("phone", "vision", "phone seen",
              _default("high", 1.0, 2.0, 35.0, 1.0, 60.0), read_objects("phone_labels")),
    EventSpec("book", "vision", "book seen",
              _default("medium", 1.0, 2.0, 20.0, 1.0, 40.0), read_objects("book_labels")),
    EventSpec("other_person", "vision", "other person seen",
              _default("high", 1.0, 2.0, 35.0, 1.0, 60.0), read_other_person),
    EventSpec("left_seat", "vision", "left seat",
              _default("medium", 3.0, 1.0, 20.0, 2.0, 50.0), read_left_seat,
              supersedes=("no_face",)),
    EventSpec("identity_changed", "vision", "identity changed",
              _default("high", 1.0, 2.0, 40.0, 0.0, 40.0), read_vision_flag("identity_changed")),
    EventSpec("speaking", "audio", "speaking",
              _default("low", 2.0, 2.0, 5.0, 0.5, 15.0), read_audio_flag("speaking")),
    EventSpec("other_voice", "audio", "other voice heard",
              _default("medium", 1.0, 2.0, 15.0, 0.5, 30.0), read_audio_flag("other_voice")),
    EventSpec("audio_muted", "audio", "microphone muted",
              _default("low", 3.0, 1.0, 8.0, 1.0, 30.0), read_audio_flag("audio_muted")),
    EventSpec("tab_hidden", "browser", "exam tab hidden",
              _default("medium", 1.0, 0.0, 15.0, 2.0, 50.0), supersedes=("focus_lost",)),
    # the exam window lost the focus while its page stayed visible (another window on top, a second
    # screen, a chat beside it). A notification or a click on the browser's own bar blurs it for a
    # moment, so 3 s must pass; low and slow, since focus also moves for harmless reasons. Hiding the
    # tab blurs the window too: tab_hidden then charges that absence once.
    EventSpec("focus_lost", "browser", "exam window not focused",
              _default("low", 3.0, 0.0, 5.0, 0.5, 20.0)),
    EventSpec("fullscreen_exit", "browser", "fullscreen exited",
              _default("low", 0.0, 0.0, 5.0, 0.0, 5.0), instant=True),
    EventSpec("paste", "browser", "paste",
              _default("medium", 0.0, 0.0, 10.0, 0.0, 10.0), instant=True),
    EventSpec("devtools", "browser", "developer tools opened",
              _default("medium", 0.0, 0.0, 15.0, 0.0, 15.0), instant=True),
    # copying is common and mostly harmless (a candidate's own answer); it matters beside a paste
    EventSpec("copy", "browser", "copy",
              _default("low", 0.0, 0.0, 3.0, 0.0, 3.0), instant=True),
    # a second display attached during the exam: room for notes or a helper's window out of the camera's
    # view. Sent when the exam starts on an extended screen and each time the screen becomes extended.
    EventSpec("second_screen", "browser", "second screen attached",
              _default("medium", 0.0, 0.0, 20.0, 0.0, 20.0), instant=True),
    # no decoded video while the peer is connected (a stopped track, a stalled virtual camera):
    # holds past `observation_gap_seconds`, confirmed 2 s later; ends as soon as frames return
    EventSpec("video_lost", "media", "video lost",
              _default("medium", 2.0, 0.0, 15.0, 2.0, 50.0)),
)


class RegistryError(ValueError):
    """The event registry is incomplete or inconsistent; the message names the event type."""


def _check_spec(spec: EventSpec) -> None:
    name = spec.type
    if spec.source not in SOURCES:
        raise RegistryError(f"event {name!r}: source must be one of {SOURCES}, got {spec.source!r}")
    if not spec.phrase.strip():
        raise RegistryError(f"event {name!r}: no verdict phrase")
    if (spec.reader is None) != (spec.source in ("browser", "media")):
        raise RegistryError(f"event {name!r}: a reader is required for vision/audio events and only for them")
    if spec.instant and (spec.source != "browser" or spec.type not in BROWSER_EVENTS):
        raise RegistryError(f"event {name!r}: an instant event must be a browser signal of the same name")
    validate_condition(f"conditions.{name}", spec.default)
    for other in spec.supersedes:
        if other == name or other not in EVENT_TYPES:
            raise RegistryError(f"event {name!r}: cannot supersede {other!r}")


def check_registry(specs: Iterable[EventSpec]) -> Mapping[EventType, EventSpec]:
    """The specs by type, in the given order, once each is checked and every type is covered.

    Raises `RegistryError` for a missing, duplicate or unknown type, a missing phrase, or a
    source/reader/instant mismatch, and `PolicyError` for an invalid default policy.
    """
    by_type: dict[EventType, EventSpec] = {}
    for spec in specs:
        if spec.type not in EVENT_TYPES:
            raise RegistryError(f"event {spec.type!r}: not an EventType (known: {', '.join(EVENT_TYPES)})")
        if spec.type in by_type:
            raise RegistryError(f"event {spec.type!r}: more than one spec")
        _check_spec(spec)
        by_type[spec.type] = spec
    missing = [kind for kind in EVENT_TYPES if kind not in by_type]
    if missing:
        raise RegistryError(f"no spec for event type(s): {', '.join(missing)}")
    return MappingProxyType(by_type)


#: Every event type's spec, in sampling order (see the module docstring).
EVENT_SPECS: Final[Mapping[EventType, EventSpec]] = check_registry(_SPECS)

#: Events that fire once per browser signal instead of going through a debounce filter.
INSTANT_EVENTS: Final[frozenset[EventType]] = frozenset(k for k, s in EVENT_SPECS.items() if s.instant)

#: Conditions read from observations, in sampling order.
SAMPLED: Final[tuple[EventSpec, ...]] = tuple(s for s in EVENT_SPECS.values() if s.reader is not None)
