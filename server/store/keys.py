"""Every Redis key Vigil uses, built in one place, with its owner and lifetime.

| key (prefix `vigil:`)               | type   | owner (writer)        | lifetime |
|-------------------------------------|--------|-----------------------|----------|
| `session:{<sid>}`                   | hash   | the session's worker  | until ended, then the exam policy's retention (`RETENTION_S` by default) |
| `session:{<sid>}:events`            | stream | the session's worker  | same; the source of truth for reports |
| `session:{<sid>}:thumb`             | string | the session's worker  | the live candidate's newest thumbnail (base64 JPEG); expires `THUMBNAIL_TTL_S` (server.live.thumbnails) after it was written |
| `sessions:live`                     | set    | every worker          | a member while a session is connected |
| `sessions:all`                      | zset   | every worker          | session ids by creation time; ids of expired sessions are swept |
| `channel:live` (pub/sub)            | channel| every worker          | live fan-out of status and event changes to dashboards |
| `worker:{id}`                       | hash   | that worker           | heartbeat with load and internal URL; expires `WORKER_TTL_S` after the last beat |
| `workers`                           | set    | every worker          | worker ids ever seen; dead ones are reaped by the living |
| `worker:{id}:sessions`              | set    | that worker           | sessions whose peer it holds; emptied when it is reaped |
| `exam:{id}`                         | hash   | the exam's owner      | until deleted: exam_id, title, owner, policy (JSON), join_code, created_at |
| `joincode:{CODE}`                   | string | the exam's owner      | as its exam; upper-case code -> exam id |
| `exam:{id}:proctors`                | set    | the LTI tool          | as its exam; the other proctors of an exam (LMS Instructors of its course): the owner's rights |
| `exams:owner:{user_id}`             | zset   | the exam's owner      | as the exams; the exam ids a proctor owns or proctors, by the time they got them |
| `exams:all`                         | zset   | the exam's owner      | as the exams; every exam id by creation time |
| `user:{id}`                         | hash   | accounts              | until deleted: user_id, email, role, password_hash, created_at |
| `user:email:{email}`                | string | accounts              | as its user; lower-cased email -> user id, claimed with SET NX |
| `loginfail:{email}:{ip}`            | string | accounts              | failed logins; expires `LOGIN_WINDOW_S` after the first failure of a window |
| `jwt:revoked:{jti}`                 | string | accounts              | a logged-out token; expires when the token would have |
| `rate:{name}:{subject}`             | string | accounts              | a fixed-window counter (logins per address, all logins, registrations per address); expires with its window |
| `calibration:{owner}`               | string (JSON) | live calibration | the owner's latest gaze calibration; `RETENTION_S` from its last write |
| `screen:{owner}`                    | string (JSON) | screen route   | the owner's screen geometry; `RETENTION_S` from its last write |
| `apikey:{key_id}`                   | hash   | accounts (admins)     | until deleted: key_id, name, exams (JSON), secret_hash (HMAC), created_by, created_at, revoked_at |
| `apikeys`                           | zset   | accounts (admins)     | as the keys; key ids by creation time |
| `jointoken:{jti}`                   | string | session creation      | a redeemed join token -> the session it made; expires when the token would have |
| `webhooks:feed`                     | stream | every worker          | webhook-worthy changes of every session (status, events, verdict, decision), written in the transaction that makes them; trimmed once fanned out |
| `webhooks:feed:cursor`              | string | webhook delivery      | the last feed entry fanned out to the endpoints' queues |
| `webhooks:lease`                    | string | webhook delivery      | the worker delivering webhooks now; expires `HOOK_LEASE_S` after its last renewal |
| `webhooks:all`                      | set    | exam owners, admins   | every webhook endpoint id |
| `webhook:{id}`                      | hash   | exam owners, admins   | until deleted: webhook_id, exam_id, url, secret, events (JSON), created_at, created_by; delivery state (cursor, attempts, retry_at) |
| `webhook:{id}:queue`                | stream | webhook delivery      | messages waiting for that endpoint, in order; an entry leaves when delivered |
| `webhook:{id}:deliveries`           | list   | webhook delivery      | the newest `DELIVERY_LOG_LEN` delivery attempts (JSON), newest first |
| `exam:{id}:webhooks`                | set    | exam owners, admins   | the exam's endpoint ids |
| `calrun:{id}`                       | string (JSON) | calibration API | one HTTP calibration run of the original gaze calibration API (targets, samples, result, model); `RETENTION_S` from its last write |
| `calrun:latest:{creator}:{candidate_id}` | string (JSON) | calibration API | the newest run a caller (`creator`: the account, or `anyone` in dev) made for a candidate, for verify and download by candidate; `RETENTION_S` |
| `calscreen:{creator}:{candidate_id}` | string (JSON) | calibration API | the screen a caller saved for a candidate with the original `POST /api/screen/info`; `RETENTION_S` from its last write |
| `analysis:{user_id}:{id}`           | string (JSON) | posture API    | a user's saved posture analysis; until deleted, or pushed out past `MAX_SAVED_ANALYSES` |
| `analyses:{user_id}`                | zset   | posture API           | as its analyses; the user's analysis ids by save time |
| `lti:cache:{key}`                   | string (JSON) | LTI tool       | pylti1p3's launch state (nonces, OIDC state, validated launches, platforms' JWKS); expires as pylti1p3 asks (`LTI_CACHE_S` by default) |
| `lti:launch:{nonce}`                | string | LTI tool              | an id_token's nonce already launched (one launch per id_token); `LTI_CACHE_S` |
| `lti:link:{digest}`                 | string | LTI tool              | an LMS resource link (issuer, deployment, context, link) -> its exam id; as the exam |
| `lti:handoff:{code}`                | string | LTI tool              | a one-time proctor login from an Instructor's launch -> user id; `LTI_HANDOFF_S`, read once |

`{owner}` is `document_owner(...)`: the session's authenticated identity (`account:<user_id>` for a
session created by a logged-in candidate account), shared by that identity's sessions; or
`session:<sid>` for a session without one, whose documents no other session ever reads; those are
the session's own data, expired and deleted with it (`own_document_keys`).

Hash tags (`{<sid>}`) keep one session's keys in one Redis Cluster slot, so its transactions stay
valid on a cluster; the global keys are single keys used without multi-key transactions.
"""
from __future__ import annotations

PREFIX = "vigil:"
LIVE_SET = PREFIX + "sessions:live"
ALL_SESSIONS = PREFIX + "sessions:all"
LIVE_CHANNEL = PREFIX + "channel:live"
WORKERS = PREFIX + "workers"
ALL_EXAMS = PREFIX + "exams:all"
ALL_APIKEYS = PREFIX + "apikeys"
HOOK_FEED = PREFIX + "webhooks:feed"
HOOK_FEED_CURSOR = PREFIX + "webhooks:feed:cursor"
HOOK_LEASE = PREFIX + "webhooks:lease"
ALL_WEBHOOKS = PREFIX + "webhooks:all"
#: a delivering worker that stops renewing its lease this long is replaced by another
HOOK_LEASE_S = 10
#: delivery attempts kept per endpoint for `GET .../deliveries`
DELIVERY_LOG_LEN = 200
#: how long an ended session's data stays (overridden per exam by the policy's retention).
RETENTION_S = 30 * 24 * 3600
#: saved posture analyses kept per user (the original posture API's); saving one more drops the oldest
MAX_SAVED_ANALYSES = 500
#: pylti1p3's launch state lives this long unless it says otherwise (a launch is followed within minutes)
LTI_CACHE_S = 24 * 3600
#: an Instructor's one-time proctor login is good this long
LTI_HANDOFF_S = 120
#: a worker that misses heartbeats (one a second) this long is considered dead.
WORKER_TTL_S = 4


def session_key(sid: str) -> str:
    return f"{PREFIX}session:{{{sid}}}"


def events_key(sid: str) -> str:
    return f"{PREFIX}session:{{{sid}}}:events"


def thumbnail_key(sid: str) -> str:
    """The live candidate's newest thumbnail, for the proctors' grid."""
    return f"{PREFIX}session:{{{sid}}}:thumb"


def worker_key(worker_id: str) -> str:
    return f"{PREFIX}worker:{worker_id}"


def worker_sessions_key(worker_id: str) -> str:
    return f"{worker_key(worker_id)}:sessions"


def document_owner(session_id: str, identity: str | None) -> str:
    """Whose documents (screen info, calibration) a session reads and writes: its authenticated identity
    (the session hash's `identity`), else the session alone. The client-chosen `candidate_id` is never
    part of the key: anyone can type someone else's. The two forms cannot collide: identities are
    `account:...`, `apikey:<key_id>:<candidate_id>` (an integration's asserted candidate) or
    `lti:<platform>:<candidate_id>` (an LMS's Learner, `server/http/lti/claims.py`), never `session:...`."""
    return identity if identity else f"session:{session_id}"


def calibration_key(owner: str) -> str:
    """The latest gaze calibration of `owner` (`document_owner`)."""
    return f"{PREFIX}calibration:{owner}"


def screen_key(owner: str) -> str:
    """The screen geometry of `owner` (`document_owner`)."""
    return f"{PREFIX}screen:{owner}"


def own_document_keys(sid: str) -> tuple[str, ...]:
    """The documents of a session without an identity: its own data, deleted and expired with it."""
    owner = document_owner(sid, None)
    return calibration_key(owner), screen_key(owner)


def exam_key(exam_id: str) -> str:
    return f"{PREFIX}exam:{exam_id}"


def joincode_key(code: str) -> str:
    return f"{PREFIX}joincode:{code.upper()}"


def exam_proctors_key(exam_id: str) -> str:
    return f"{PREFIX}exam:{exam_id}:proctors"


def exam_owner_index(user_id: str) -> str:
    return f"{PREFIX}exams:owner:{user_id}"


def user_key(user_id: str) -> str:
    return f"{PREFIX}user:{user_id}"


def email_key(email: str) -> str:
    return f"{PREFIX}user:email:{email}"


def login_failures_key(email: str, client: str) -> str:
    return f"{PREFIX}loginfail:{email}:{client}"


def rate_key(name: str, subject: str) -> str:
    """A fixed-window counter, e.g. logins per client address; expires with its window."""
    return f"{PREFIX}rate:{name}:{subject}"


def revoked_token_key(jti: str) -> str:
    return f"{PREFIX}jwt:revoked:{jti}"


def apikey_key(key_id: str) -> str:
    return f"{PREFIX}apikey:{key_id}"


def join_token_key(jti: str) -> str:
    """A redeemed join token (its JWT id): one session per token."""
    return f"{PREFIX}jointoken:{jti}"


def webhook_key(webhook_id: str) -> str:
    return f"{PREFIX}webhook:{webhook_id}"


def webhook_queue_key(webhook_id: str) -> str:
    return f"{webhook_key(webhook_id)}:queue"


def webhook_deliveries_key(webhook_id: str) -> str:
    return f"{webhook_key(webhook_id)}:deliveries"


def exam_webhooks_key(exam_id: str) -> str:
    return f"{exam_key(exam_id)}:webhooks"
def saved_analysis_key(user_id: str, analysis_id: str) -> str:
    """One saved posture analysis of a user (the original posture API's `/api/analysis/*`)."""
    return f"{PREFIX}analysis:{user_id}:{analysis_id}"


def saved_analyses_index(user_id: str) -> str:
    """The user's saved analysis ids by save time."""
    return f"{PREFIX}analyses:{user_id}"


def calibration_run_key(run_id: str) -> str:
    """One calibration run of the original gaze calibration API (`server/http/legacy/calibration/`)."""
    return f"{PREFIX}calrun:{run_id}"


def latest_calibration_run_key(creator: str, candidate_id: str) -> str:
    """The newest run `creator` made for `candidate_id` (the original API's verify and download by candidate)."""
    return f"{PREFIX}calrun:latest:{creator}:{candidate_id}"


def legacy_screen_key(creator: str, candidate_id: str) -> str:
    """The screen `creator` saved for `candidate_id` through the original API (never a session's `screen_key`)."""
    return f"{PREFIX}calscreen:{creator}:{candidate_id}"


def lti_cache_key(key: str) -> str:
    """One value of pylti1p3's launch data storage (`server/http/lti/adapter.py`)."""
    return f"{PREFIX}lti:cache:{key}"


def lti_launch_key(nonce: str) -> str:
    """An id_token nonce already launched: a replayed launch is refused."""
    return f"{PREFIX}lti:launch:{nonce}"


def lti_link_key(digest: str) -> str:
    """An LMS resource link's exam (`digest`: of issuer, deployment, context and link ids)."""
    return f"{PREFIX}lti:link:{digest}"


def lti_handoff_key(code: str) -> str:
    """A one-time proctor login handed from an Instructor's launch to a top-level tab."""
    return f"{PREFIX}lti:handoff:{code}"
