"""HTTP bodies Vigil reads (pydantic, frozen, unknown keys refused) and the answers of the session
calls a candidate's client depends on. Every route is in docs/http-api.md."""
from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field, model_validator

from pipeline.risk.messages import Decision, ImageQuality
from server.protocol.base import Absent, Frozen, Outbound
from server.protocol.events import VerdictSummary
from server.protocol.status import SessionStatus

ID_PATTERN = r"^[A-Za-z0-9_.@:-]{1,128}$"


# -- sessions ----------------------------------------------------------------------------------
class CreateSession(Frozen):
    """A candidate joins with a join code, a join token (minted by an API key for this candidate), or,
    called by an integrator's backend with its API key, on `exam_id` (docs/integration.md)."""

    candidate_id: Annotated[str, Field(pattern=ID_PATTERN)]
    exam_id: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    join_code: Annotated[str, Field(min_length=4, max_length=32)] | None = None
    join_token: Annotated[str, Field(min_length=16, max_length=2048)] | None = None


class SessionDescription(Frozen):
    """The body of `offer`, `resume` and `watch`: the peer's SDP offer (non-trickle ICE)."""

    sdp: Annotated[str, Field(min_length=10, max_length=64 * 1024)]
    type: Literal["offer"]


class IceServer(Outbound):
    """An RTCIceServer: TURN with ephemeral credentials (`server.rtc.turn`), or STUN without."""

    urls: list[str]
    username: Absent[str] = None
    credential: Absent[str] = None


class CandidateSteps(Outbound):
    """The exam policy's `candidate` table: the steps the candidate's page takes before the exam
    (`pipeline/risk/policy.example.toml`, docs/pages.md)."""

    #: "optional": the candidate may skip the system check
    system_check: Literal["required", "optional"]
    #: "required": the exam waits for one calibration attempt; "off": calibration is not offered
    calibration: Literal["required", "optional", "off"]


class SessionCreated(Outbound):
    """201 answer of `POST /api/sessions`; `token` is the session-scoped bearer for its calls."""

    session_id: str
    token: str
    ice_servers: list[IceServer]
    candidate: CandidateSteps


class SessionAnswer(Outbound):
    """Answer of `offer`, `resume` and `watch`."""

    sdp: str
    type: Literal["answer"]


class SessionRow(Outbound):
    """A session as `GET /api/sessions` lists it: one JSON type per field in every state (a field
    not known yet is null, a counter not counted yet is 0). Read from the session hash
    (`server/live/session_state.py`), with the live values when this worker holds the peer."""

    session_id: str
    candidate_id: str
    exam_id: str
    status: SessionStatus
    #: the worker that created the session or holds (held) its peer
    worker: str
    #: UNIX seconds; null until it happened
    created_at: float
    started_at: float | None
    connected_at: float | None
    disconnected_at: float | None
    disconnect_reason: str | None
    ended_at: float | None
    #: who ended it: the candidate's client, a proctor or an admin ("client"), or the server
    #: ("server": abandoned, `end_reason` says why); null while not ended
    ended_by: Literal["client", "server"] | None
    end_reason: str | None
    risk_score: float
    attention: float | None
    #: seconds of usable analysed video so far, and their share of the session's time (null before
    #: any time was accounted)
    observed_seconds: float
    coverage: float | None
    frames_received: int
    frames_analysed: int
    #: frames_received - frames_analysed
    frames_dropped: int
    analysis_errors: int
    dc_sent: int
    dc_dropped: int
    dc_bad_messages: int
    dc_rate_limited: int
    decode_sheds: int
    audio_chunks: int
    #: the verdict fields, null until the session ended
    verdict: Decision | None
    final_risk_score: float | None
    total_violations: int | None
    #: the gaze calibration's summary for reports (accuracy, model, screen), null without one
    calibration: dict[str, Any] | None
    #: the summary's peak risk, null until ended
    peak_risk: float | None
    #: the authenticated identity whose documents the session shares (`account:...`, `apikey:...`),
    #: null for a join-code session (docs/http-api.md, "Documents shared across sessions")
    identity: str | None
    #: why the peer's ICE or DTLS failed (docs/media.md), null when it did not
    peer_error: str | None
    #: which API made the session when not Vigil's own (e.g. the original interview API), else null
    source: str | None


class SessionState(SessionRow):
    """`GET /api/sessions/{id}`: the row plus the verdict summary (null until ended) and, for the
    candidate's own token, fresh ICE servers for a resume."""

    summary: VerdictSummary | None
    ice_servers: Absent[list[IceServer]] = None


class SessionList(Outbound):
    """`GET /api/sessions`: newest first, the sessions visible to the caller, a page at a time (`next`:
    the cursor of the following page, null on the last; a page may be short while `next` is set)."""

    sessions: list[SessionRow]
    next: str | None


# -- accounts, exams ---------------------------------------------------------------------------
class LoginBody(Frozen):
    email: Annotated[str, Field(min_length=3, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class RegisterBody(LoginBody):
    role: Literal["admin", "proctor", "candidate"] | None = None


class CreateExam(Frozen):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    #: partial risk policy overrides (pipeline/risk/policy.example.toml); errors name the bad key
    policy: dict[str, Any] | None = None


class UpdateExam(Frozen):
    """Body of `PATCH /api/exams/{exam_id}`: what is given changes, the rest stays. `policy` replaces the
    exam's overrides whole (null: back to the defaults); its `retention_days` is the exam's retention."""

    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    policy: dict[str, Any] | None = None


class ProctorMessageBody(Frozen):
    """Body of `POST /api/sessions/{session_id}/message`: plain text for the candidate's page."""

    text: Annotated[str, Field(min_length=1, max_length=500)]


class ProctorMessageSent(Outbound):
    """The answer of `POST /api/sessions/{session_id}/message`: `delivered` is false when the candidate's
    channel could not take it now (closing, or too far behind); it is in the event stream either way."""

    session_id: str
    at: float
    delivered: bool


class ExamJoinCode(Outbound):
    """The answer of `POST /api/exams/{exam_id}/join-code`: the exam's new code; the old one no longer joins."""

    exam_id: str
    join_code: str


# -- integration: API keys, join tokens, webhooks (docs/integration.md) -------------------------
#: what webhooks announce, in the order a session makes them
WebhookType = Literal["session.created", "session.live", "session.disconnected", "event.started", "event.ended",
                      "session.ended", "review.decided"]
WEBHOOK_TYPES: tuple[str, ...] = get_args(WebhookType)


class CreateApiKey(Frozen):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    #: the exams the key may create sessions on and mint join tokens for
    exams: Annotated[list[Annotated[str, Field(pattern=ID_PATTERN)]], Field(min_length=1, max_length=100)]


class CreateJoinToken(Frozen):
    """Body of `POST /api/exams/{exam_id}/join-tokens` (API key): the candidate, in your system's ids."""

    candidate_id: Annotated[str, Field(pattern=ID_PATTERN)]
    ttl_s: Annotated[int, Field(ge=10, le=3600)] = 300


class CreateWebhook(Frozen):
    url: Annotated[str, Field(pattern=r"^https?://[^\s]+$", max_length=2000)]
    #: the types to receive; all of them when left out
    events: Annotated[list[WebhookType], Field(min_length=1)] | None = None


# -- screen geometry ---------------------------------------------------------------------------
class WindowPlacement(Frozen):
    x: float = 0.0  # window.screenX
    y: float = 0.0  # window.screenY
    width: Annotated[float, Field(gt=0)]  # window.outerWidth (or innerWidth)
    height: Annotated[float, Field(gt=0)]


class ScreenInfo(Frozen):
    candidate_id: Annotated[str, Field(pattern=ID_PATTERN)]
    screen_w: float  # screen.width, CSS px
    screen_h: float
    dpr: float = 1.0  # devicePixelRatio
    window: WindowPlacement | None = None
    #: physical size of the screen's visible area, e.g. measured against a card-sized ruler (85.6 mm)
    width_mm: float | None = None
    height_mm: float | None = None
    viewing_distance_mm: float | None = None


# -- the system check's face test (server/http/routes/check_frame.py) ---------------------------
#: a frame's verdict, first match wins: the picture cannot be judged (`covered`, `dark`, `overexposed`,
#: `blurred`: the quality stage's status), then no face, several faces, else `ok` (one face);
#: `unavailable` when the server cannot run its face detector.
CheckFrameCode = Literal["ok", "no_face", "several_faces", "covered", "dark", "overexposed", "blurred",
                         "unavailable"]


class CheckFrame(Frozen):
    """One camera frame of the system check: a JPEG or PNG as a base64 data URL (or bare base64)."""

    image: Annotated[str, Field(min_length=1)]


class CheckFrameResult(Outbound):
    """Answer of `POST /api/sessions/{id}/check-frame`: what the pipeline sees in the frame."""

    code: CheckFrameCode
    #: faces the detector found; null when it could not run
    faces: int | None
    #: the quality stage's status (`pipeline/stages/quality.py`); null when it could not run
    quality: ImageQuality | None


# -- human review (server/http/routes/review.py) ------------------------------------------------
FlagStatus = Literal["confirmed", "dismissed"]
#: the human decision on a session; the automatic verdict is only the AI's suggestion
HumanDecision = Literal["cleared", "violation", "inconclusive"]
Note = Annotated[str, Field(max_length=2000)]
#: flags one PATCH may mark (a two-hour session has a few hundred events)
MAX_FLAGS_PER_PATCH = 1000


class FlagMark(Frozen):
    """A reviewer's call on one flag (event)."""

    status: FlagStatus
    note: Note = ""


class DecisionMark(Frozen):
    """The reviewer's decision on the whole session."""

    decision: HumanDecision
    note: Note = ""


class ReviewPatch(Frozen):
    """Body of `PATCH /api/sessions/{id}/review`: flag marks by event id, the decision, or both.
    Marks given replace earlier ones for the same flag; flags not named keep theirs."""

    flags: Annotated[dict[Annotated[str, Field(pattern=ID_PATTERN)], FlagMark],
                     Field(max_length=MAX_FLAGS_PER_PATCH)] = {}
    decision: DecisionMark | None = None

    @model_validator(mode="after")
    def _says_something(self) -> ReviewPatch:
        if not self.flags and self.decision is None:
            raise ValueError("give flags, a decision, or both")
        return self


class Reviewer(Outbound):
    """Who recorded a review: the account's id and e-mail at the time."""

    user_id: str
    email: str


class FlagReview(Outbound):
    event_id: str
    #: the event's type and severity, as the risk engine raised it
    type: str
    severity: str
    status: FlagStatus
    note: str
    by: Reviewer
    at: float


class DecisionRecord(Outbound):
    decision: HumanDecision
    note: str
    by: Reviewer
    at: float


class ReviewState(Outbound):
    """Answer of `GET` and `PATCH /api/sessions/{id}/review`: the latest mark of each reviewed flag,
    the flags nobody has marked yet, the human decision (null until one is recorded), and the
    automatic verdict as `ai_suggestion` (null while the session has none)."""

    session_id: str
    flags: list[FlagReview]
    unreviewed: list[str]
    decision: DecisionRecord | None
    ai_suggestion: str | None
