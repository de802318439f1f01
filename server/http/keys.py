"""Every object the HTTP layer reads from `request.app`, one typed key each.

Route modules import these keys, never `server.app`: the app wires objects in, routes read them out,
and the import arrow points one way (app -> http).
"""
from __future__ import annotations

from concurrent.futures import Executor

from aiohttp import web

from pipeline.audio.vad import SileroVad
from pipeline.runner import Pipeline
from server.accounts.apikeys import ApiKeys
from server.accounts.auth import Authenticator
from server.accounts.exams import Exams
from server.accounts.join_tokens import JoinTokens
from server.accounts.users import Accounts
from server.accounts.webhooks import Webhooks
from server.cluster.fanout import LiveFanout
from server.core.config import Settings
from server.core.rate_limit import KeyedBuckets
from server.http.legacy.state import HttpSessions
from server.http.lti.tool import LtiTool
from server.live.manager import SessionManager
from server.live.watchers import Watchers
from server.store.store import Store

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
STORE: web.AppKey[Store] = web.AppKey("store", Store)
SESSIONS: web.AppKey[SessionManager] = web.AppKey("sessions", SessionManager)
AUTH: web.AppKey[Authenticator] = web.AppKey("auth", Authenticator)
PIPELINE: web.AppKey[Pipeline] = web.AppKey("pipeline", Pipeline)
VAD: web.AppKey[SileroVad | None] = web.AppKey("vad", object)  # type: ignore[arg-type]
ACCOUNTS: web.AppKey[Accounts] = web.AppKey("accounts", Accounts)
EXAMS: web.AppKey[Exams] = web.AppKey("exams", Exams)
#: integrators' API keys and the join tokens they mint (docs/integration.md)
APIKEYS: web.AppKey[ApiKeys] = web.AppKey("apikeys", ApiKeys)
JOIN_TOKENS: web.AppKey[JoinTokens] = web.AppKey("join_tokens", JoinTokens)
#: exams' webhook endpoints (delivery: server.cluster.webhooks, started by the app)
WEBHOOKS: web.AppKey[Webhooks] = web.AppKey("webhooks", Webhooks)
#: the analysis executor, shared by WebRTC sessions and the seed WebSocket
ANALYSIS_EXECUTOR: web.AppKey[Executor] = web.AppKey("analysis_executor", Executor)
WATCHERS: web.AppKey[Watchers] = web.AppKey("watchers", Watchers)
#: one live pub/sub subscription per worker, copied to every open dashboard stream
FANOUT: web.AppKey[LiveFanout] = web.AppKey("fanout", LiveFanout)
#: the seed WebSocket baseline's open sockets on this worker (capped like sessions)
BASELINE_SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("baseline_sockets", set)
#: the original interview API's sessions driven over HTTP on this worker (`server.http.legacy`)
HTTP_SESSIONS: web.AppKey[HttpSessions] = web.AppKey("http_sessions", HttpSessions)
#: the LTI 1.3 tool: pylti1p3 on its own executor, its state in Redis (`server/http/lti/`)
LTI: web.AppKey[LtiTool] = web.AppKey("lti", LtiTool)
#: the system check's frame budget per session on this worker (`server.http.routes.check_frame`)
CHECK_FRAME_LIMITS: web.AppKey[KeyedBuckets] = web.AppKey("check_frame_limits", KeyedBuckets)
