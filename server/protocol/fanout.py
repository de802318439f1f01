"""Live fan-out: what every worker publishes on the Redis channel `vigil:channel:live`, and every
worker relays to dashboards over `GET /api/live/stream` (server-sent events named by `type`)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from pipeline.risk.messages import EventType
from server.protocol.base import Outbound
from server.protocol.events import EventChange
from server.protocol.status import SessionStatus


class StatusMessage(Outbound):
    """Once a second per session held by a worker: the dashboard's grid row."""

    type: Literal["status"]
    session_id: str
    exam_id: str
    candidate_id: str
    status: SessionStatus
    worker: str
    risk_score: float
    attention: float | None
    #: faces in the latest analysis (null before the first)
    faces: int | None
    #: types of the events open now
    flags: list[EventType]


class EventsMessage(Outbound):
    """Whenever events start or end."""

    type: Literal["events"]
    session_id: str
    events: list[EventChange]
    risk_score: float


FanoutMessage = Annotated[StatusMessage | EventsMessage, Field(discriminator="type")]
fanout_message: TypeAdapter[FanoutMessage] = TypeAdapter(FanoutMessage)
