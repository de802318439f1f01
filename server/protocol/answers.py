"""The JSON answers of the HTTP API that `server.protocol.http` does not already hold: probes,
accounts, exams, the live grid, documents, integrations, and the pages of the paginated lists.

Each is an `Outbound` model: it describes the JSON exactly (unknown keys refused), one type per field
in every state (a value not known is null, never a missing key), and `server/http/openapi.py` publishes
it as the route's response schema. Handlers build their answer through these models, so the document
and the wire cannot drift; a test validates real answers against them (tests/test_openapi.py).

Pages: a list answer carries `next`, an opaque cursor for the following page, null on the last one. A
page may hold fewer items than asked (even none) while `next` is set: only `next: null` says the end.
"""
from __future__ import annotations

from typing import Any, Literal

from server.protocol.base import Outbound
from server.protocol.http import CandidateSteps, IceServer, SessionState, WebhookType, WindowPlacement
from server.protocol.policy_model import PolicyOverrides
from server.protocol.stream import StreamItem


class Page(Outbound):
    """The cursor every paginated list carries beside its items."""

    #: pass back as `?cursor=` for the next page; null when there is none
    next: str | None


# -- probes ------------------------------------------------------------------------------------
class Liveness(Outbound):
    """`GET /livez`: the process answers."""

    status: Literal["ok"]
    worker: str


class ReadinessChecks(Outbound):
    #: each check: "ok", or why not
    redis: str
    models: str
    capacity: str


class Readiness(Outbound):
    """`GET /readyz`: 200 ready, 503 (with `Retry-After`) not ready, the same body."""

    status: Literal["ready", "not_ready"]
    worker: str
    checks: ReadinessChecks


class EmbeddedValkey(Outbound):
    """What the embedded Valkey's owner published: its url and its restarts of a dead Valkey."""

    url: str | None
    restarts: int
    last_restart_at: float | None


class Health(Outbound):
    """`GET /health`: 200, or 503 with the same body while Redis is unreachable."""

    status: Literal["ok", "degraded"]
    redis: Literal["ok", "unreachable"]
    #: model name -> "loaded" or "missing: why"
    models: dict[str, str]
    worker: str
    sessions: int
    env: str
    #: the embedded Valkey's state; null with an external REDIS_URL or before its owner published one
    redis_embedded: EmbeddedValkey | None


# -- sessions ----------------------------------------------------------------------------------
class SessionView(SessionState):
    """`GET /api/sessions/{id}`: the state; `ice_servers` fresh for the candidate's own token (TURN
    credentials expire; a resume needs them) and `candidate`, the exam policy's steps for the
    candidate's page (a page reloaded mid-exam reads them here); both null for a proctor or admin."""

    ice_servers: list[IceServer] | None  # type: ignore[assignment]  # always present here: null, never absent
    candidate: CandidateSteps | None


class Deleted(Outbound):
    """A deletion's answer: the id deleted."""

    deleted: str


class EventPage(Page):
    """`GET /api/sessions/{id}/events`: the session's stream items, oldest first, `kind` filtered."""

    session_id: str
    events: list[StreamItem]


# -- accounts ----------------------------------------------------------------------------------
class Profile(Outbound):
    user_id: str
    email: str
    role: Literal["admin", "proctor", "candidate"]
    #: UNIX seconds; null for an account written before it was recorded
    created_at: float | None


class LoginAnswer(Outbound):
    """`POST /api/auth/login`: the account JWT (also set as the HttpOnly cookie)."""

    token: str
    token_type: Literal["bearer"]
    #: UNIX seconds
    expires_at: int
    user: Profile


class LoggedOut(Outbound):
    #: whether a presented token was one of ours and is now revoked
    logged_out: bool


# -- exams -------------------------------------------------------------------------------------
class ExamCreated(Outbound):
    exam_id: str
    join_code: str


class ExamRow(Outbound):
    exam_id: str
    title: str
    #: the owning proctor's user id
    owner: str
    join_code: str
    created_at: float
    #: the exam's risk policy overrides, null for the default policy
    policy: PolicyOverrides | None


class ExamList(Page):
    """`GET /api/exams`: newest first; every exam for an admin, a proctor's own."""

    exams: list[ExamRow]


# -- the live grid -----------------------------------------------------------------------------
class LiveRow(Outbound):
    """A session in progress as the dashboard shows it: from the session hash, and fresher values when
    the worker answering holds the peer."""

    session_id: str
    candidate_id: str | None
    exam_id: str | None
    status: Literal["connecting", "live", "disconnected"]
    worker: str | None
    created_at: float | None
    connected_at: float | None
    risk_score: float
    attention: float | None
    #: the event types open now
    flags: list[str]
    #: faces in the latest analysis; null when not known on this worker or no video arrives
    faces: int | None
    disconnect_reason: str | None
    #: the session's last stream items, oldest first
    last_events: list[StreamItem]


class LiveGrid(Outbound):
    """`GET /api/live`: the sessions in progress, oldest first."""

    sessions: list[LiveRow]
    live: int
    worker: str


# -- documents: screen geometry, calibration ---------------------------------------------------
class ScreenDocument(Outbound):
    """The stored screen geometry (`POST` answers it, `GET /api/screen/info/{candidate_id}` reads it):
    the `ScreenInfo` sent, where it came from, and what the physical size gives (null without one)."""

    candidate_id: str
    screen_w: float
    screen_h: float
    dpr: float
    window: WindowPlacement | None
    width_mm: float | None
    height_mm: float | None
    viewing_distance_mm: float | None
    session_id: str
    exam_id: str
    updated_at: float
    #: millimetres per CSS px, from `width_mm`
    mm_per_px: float | None
    #: the diagonal in inches, from `width_mm` and `height_mm`
    diagonal_in: float | None


class CalibrationDiagnostics(Outbound):
    """`GET /api/calibration/diagnostics/{session_id}`: the session's calibration summary (null before any)."""

    session_id: str
    candidate_id: str | None
    calibration: dict[str, Any] | None


# -- integrations ------------------------------------------------------------------------------
class ApiKeyRow(Outbound):
    """An API key as listed: never its secret."""

    key_id: str
    name: str
    exams: list[str]
    created_by: str | None
    created_at: float
    #: UNIX seconds; null while the key works
    revoked_at: float | None


class ApiKeyCreated(Outbound):
    """`POST /api/apikeys`: `key` is the credential (`vk_<id>.<secret>`), shown this once."""

    key_id: str
    key: str
    name: str
    exams: list[str]
    created_at: float


class ApiKeyList(Page):
    """`GET /api/apikeys`: newest first."""

    keys: list[ApiKeyRow]


class JoinToken(Outbound):
    join_token: str
    exam_id: str
    candidate_id: str
    #: UNIX seconds
    expires_at: int


class WebhookRow(Outbound):
    """An endpoint as listed: never its secret; with its delivery state."""

    webhook_id: str
    exam_id: str
    url: str
    events: list[WebhookType]
    created_by: str | None
    created_at: float
    failed_attempts: int
    #: when the next attempt is due after failures, null when none waits
    retry_at: float | None


class WebhookCreated(WebhookRow):
    """`POST /api/exams/{exam_id}/webhooks`: `secret` (`whsec_...`) signs the messages; shown this once."""

    secret: str


class WebhookList(Outbound):
    webhooks: list[WebhookRow]


class WebhookDeleted(Deleted):
    undelivered_dropped: int


class DeliveryAttempt(Outbound):
    message_id: str
    type: WebhookType
    attempt: int
    at: float
    ok: bool
    #: the endpoint's HTTP status; null when no answer came (`error` says why)
    status: int | None
    error: str | None
    duration_ms: float


class Deliveries(Outbound):
    webhook_id: str
    #: messages waiting for this endpoint
    pending: int
    #: newest first
    deliveries: list[DeliveryAttempt]


#: every answer model, for docs/schema/http.json
ANSWER_MODELS: tuple[type[Outbound], ...] = (
    Liveness, Readiness, Health, SessionView, Deleted, EventPage, Profile, LoginAnswer, LoggedOut, ExamCreated,
    ExamList, LiveGrid, ScreenDocument, CalibrationDiagnostics, ApiKeyCreated, ApiKeyList, ApiKeyRow, JoinToken, WebhookCreated,
    WebhookList, WebhookDeleted, Deliveries)
