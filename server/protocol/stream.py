"""The items of a session's event stream (`vigil:session:{<sid>}:events`), discriminated by `kind`.

Written in order through the session's `EventOutbox` (server.store.outbox), except `review` items, which a
proctor or admin adds at any time, also after the session ended (`Store.append_item`); read back by
`GET /api/sessions/{id}/events` and the reports, oldest first. `t` is UNIX seconds. Reading adds
`id`, the Redis stream entry id (`<ms>-<seq>`).
"""
from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, TypeAdapter

from pipeline.risk.messages import BrowserEvent, EventType
from server.protocol.base import Absent, Outbound
from server.protocol.events import EventChange, VerdictSummary
from server.protocol.http import DecisionMark, FlagMark, Reviewer

#: why an event got no snapshot: its type's or the session's snapshot budget was spent, the JPEG
#: did not fit the session's bytes, no analysed frame was kept from its start, or its id is unsafe
EvidenceSkipReason = Literal["per_type", "per_session", "size", "no_frame", "bad_id"]
#: why an event got no clip (`server/live/clips.py`): the same budgets, the worker's encoder had no
#: room (`busy`), no analysed frame in its window, an unsafe id, or encoding or writing failed (`error`)
ClipSkipReason = Literal["per_type", "per_session", "size", "busy", "no_frame", "bad_id", "error"]


class _Item(Outbound):
    t: float
    #: the stream entry id, present when read back
    id: Absent[str] = None


class EventStarted(_Item):
    kind: Literal["event_started"]
    event: EventChange


class EventEnded(_Item):
    kind: Literal["event_ended"]
    event: EventChange


class BrowserItem(_Item):
    """A browser signal as the page reported it (the event it may raise is logged separately)."""

    kind: Literal["browser"]
    event: BrowserEvent


class ScoreItem(_Item):
    """The report's risk timeline: one point a second while the session is live."""

    kind: Literal["score"]
    risk: float
    attention: float | None


class VerdictItem(_Item):
    """The last item of an ended session."""

    kind: Literal["verdict"]
    summary: VerdictSummary


class _EvidenceItem(_Item):
    event_id: str
    type: EventType


class EvidenceItem(_EvidenceItem):
    """A snapshot written for an event: `GET /api/sessions/{id}/evidence/{file}`."""

    kind: Literal["evidence"]
    file: str
    frame_id: int
    bytes: int


class EvidenceSkipped(_EvidenceItem):
    kind: Literal["evidence_skipped"]
    reason: EvidenceSkipReason


class EvidenceError(_EvidenceItem):
    kind: Literal["evidence_error"]
    error: str


class ClipItem(_EvidenceItem):
    """A clip written for an event, `start` to `end` (its first and last frames' times):
    `GET /api/sessions/{id}/evidence/{file}` (video/webm)."""

    kind: Literal["clip"]
    file: str
    start: float
    end: float
    frames: int
    bytes: int


class ClipSkipped(_EvidenceItem):
    kind: Literal["clip_skipped"]
    reason: ClipSkipReason
    #: the failure, for `error`
    error: Absent[str] = None


class SpeechStarted(_Item):
    """A speech segment's true start; `track_s` is seconds into the audio track."""

    kind: Literal["speech_started"]
    track_s: float


class SpeechEnded(_Item):
    kind: Literal["speech_ended"]
    track_s: float
    duration: float


class ReviewItem(_Item):
    """A human review (`PATCH /api/sessions/{id}/review`): marks on flags by event id, the session's
    decision, or both, and who gave them. A later mark of a flag replaces an earlier one; the last
    decision is the decision (`server.reports.review`)."""

    kind: Literal["review"]
    by: Reviewer
    flags: dict[str, FlagMark]
    decision: DecisionMark | None


class ProctorMessageItem(_Item):
    """A message a proctor sent the candidate during the session (`POST /api/sessions/{id}/message`):
    who, the text as sent, and whether the candidate's channel took it."""

    kind: Literal["proctor_message"]
    by: Reviewer
    text: str
    delivered: bool


class InvalidItem(Outbound):
    """An item that was not strict JSON when written (a bug upstream), kept in its place saying why
    (`server.store.store`): the stream never breaks and never loses a slot."""

    kind: Literal["invalid_item"]
    t: None
    error: str
    of_kind: str
    id: Absent[str] = None


StreamItem = Annotated[
    EventStarted | EventEnded | BrowserItem | ScoreItem | VerdictItem | EvidenceItem | EvidenceSkipped
    | EvidenceError | ClipItem | ClipSkipped | SpeechStarted | SpeechEnded | ReviewItem | ProctorMessageItem
    | InvalidItem,
    Field(discriminator="kind")]
stream_item: TypeAdapter[StreamItem] = TypeAdapter(StreamItem)
#: every `kind` of the stream, for `GET /api/sessions/{id}/events?kind=`
STREAM_KINDS: tuple[str, ...] = tuple(
    kind for model in get_args(get_args(StreamItem)[0]) for kind in get_args(model.model_fields["kind"].annotation))
