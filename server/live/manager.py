"""Session lifecycle on this worker: create, offer, resume, end, and the status a client reads.

Statuses: created -> connecting (offer answered) -> live (peer connected) -> disconnected (peer
gone; resumable) -> ended (final; verdict stored). The session hash in Redis is the shared truth;
`self.live` holds the sessions whose peer this worker owns.

Abandoned sessions are ended by the server, with their verdict and the exam's retention like any
other: a session `created` and never offered for `settings.created_ttl_s`, and one `disconnected`
and not resumed for `settings.abandon_after_s`. `self.open` holds the due time of each session this
worker answers for (created here, offered here, or adopted from a worker that stopped beating);
`end_abandoned` reads the hashes of those that are due.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from concurrent.futures import Executor
from dataclasses import asdict
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection

from pipeline.runner import Pipeline
from server.accounts.tokens import SessionTokens
from server.core.config import Settings
from server.core.metrics import REJECTED
from server.inference.host import InferenceHost
from server.live.abandonment import abandonment
from server.live.clips import ClipEncoder
from server.live.offer_checks import check_negotiable, check_offer
from server.live.risk import RiskSession, policy_for
from server.live.session import LiveSession
from server.live.session_state import session_state
from server.live.status_messages import score_item, status_message
from server.protocol.errors import ApiError
from server.protocol.http import CreateSession, SessionDescription, SessionState
from server.rtc import negotiate
from server.rtc.socket_buffers import bound_receive_buffers
from server.rtc.turn import ice_servers
from server.store.retention import expire_ended
from server.store.store import Store

log = logging.getLogger(__name__)

DEMO_EXAM_ID = "demo"
#: a disconnected session stays in this worker's memory this long for a quick resume.
DISCONNECT_GRACE_S = 120.0
#: how often a live session's counters and score are written to its hash.
STATE_WRITE_PERIOD_S = 1.0
#: the liveness check (every STATE_WRITE_PERIOD_S) running later than this means the loop stalled
LOOP_STALL_S = 2.5
#: the window of the per-address limit on session creation (`settings.create_per_min` in it)
CREATE_WINDOW_S = 60
#: `Retry-After` of a full worker's 503: admission control at capacity (`VIGIL_MAX_SESSIONS`, the
#: measured capacity) refuses a new session outright rather than slowing every admitted one; an exam
#: session lasts an hour or more, so a place frees in minutes, and a client retrying every 15 s is
#: cheap to refuse (no peer is made).
FULL_RETRY_AFTER_S = 15


class SessionManager:
    def __init__(self, *, settings: Settings, store: Store, pipeline: Pipeline, executor: Executor,
                 tokens: SessionTokens, worker_id: str, vad: Any = None,
                 background: Executor | None = None, inference: InferenceHost | None = None) -> None:
        self.settings = settings
        self.store = store
        self.pipeline = pipeline
        self.executor = executor
        self.tokens = tokens
        self.worker_id = worker_id
        self.vad = vad
        self.background = background
        #: the worker's inference process (`VIGIL_INFERENCE=process`), or None: sessions run the models here
        self.inference = inference
        #: the worker's one clip encoder, shared by its sessions (`server/live/clips.py`); closed in `close`
        self.clip_encoder = ClipEncoder()
        #: where other workers reach this one (set by the server once it listens)
        self.internal_url = ""
        self.live: dict[str, LiveSession] = {}
        #: session id -> when to check whether it was abandoned (sessions this worker answers for)
        self.open: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        #: when the liveness check last ran (a late run means this worker's loop stalled)
        self._liveness_at: float | None = None

    def connected_count(self) -> int:
        return sum(1 for s in self.live.values() if s.status in ("connecting", "live"))

    def connected_exams(self) -> list[str]:
        """The exam of each session `connected_count` counts (one entry per session)."""
        return [s.exam_id for s in self.live.values() if s.status in ("connecting", "live")]

    def lock(self, sid: str) -> asyncio.Lock:
        return self._locks.setdefault(sid, asyncio.Lock())

    # -- create --------------------------------------------------------------------------------
    async def create(self, body: CreateSession, now: float, client: str, identity: str | None = None,
                     exam_id: str | None = None) -> dict[str, Any]:
        """A new session; `client` (the caller's address) is under the creation rate limit; `identity`
        (the authenticated caller, `server.http.access.session_grant`) keys the documents its sessions
        share (`server.store.keys.document_owner`); `exam_id`, when the caller's credential grants one
        (an API key, a join token), replaces the body's join code."""
        exam_id = exam_id or await self._resolve_exam(body)
        if self.connected_count() >= self.settings.max_sessions:
            REJECTED.labels("sessions").inc()
            raise ApiError(503, "this worker is at its session limit", {"max_sessions": self.settings.max_sessions},
                           code="session_limit", retry_after_s=FULL_RETRY_AFTER_S)
        if await self.store.rates.count("create_session", client, CREATE_WINDOW_S) > self.settings.create_per_min:
            REJECTED.labels("create_session").inc()
            raise ApiError(429, "too many sessions created from this address; try again later",
                           {"retry_after_s": CREATE_WINDOW_S}, retry_after_s=CREATE_WINDOW_S)
        sid = uuid.uuid4().hex
        await self.store.create_session(sid, {
            "session_id": sid, "candidate_id": body.candidate_id, "exam_id": exam_id, "status": "created",
            "created_at": now, "worker": self.worker_id, **({"identity": identity} if identity else {}),
        }, now)
        await self.store.claim_session(self.worker_id, sid)  # a worker that outlives this one ends it if abandoned
        self.open[sid] = now + self.settings.created_ttl_s
        return {"session_id": sid, "token": self.tokens.issue(sid, now),
                "ice_servers": ice_servers(self.settings, sid, now), "candidate": await self.candidate_steps(exam_id)}

    async def candidate_steps(self, exam_id: str) -> dict[str, str]:
        """The exam policy's `candidate` table: what the candidate's page must do before the exam."""
        return asdict((await policy_for(self.store, exam_id, self.settings)).candidate)

    async def _resolve_exam(self, body: CreateSession) -> str:
        if body.join_code is not None:
            exam_id = await self.store.exam_for_join_code(body.join_code)
            if exam_id is None:
                raise ApiError(404, "unknown join code", code="unknown_join_code")
            return exam_id
        if self.settings.env == "production":
            raise ApiError(403, "a join code is required", {"hint": "ask your proctor for the exam's join code"}, code="join_code_required")
        if body.exam_id not in (None, DEMO_EXAM_ID):
            raise ApiError(403, "joining an exam needs its join code", code="join_code_required")
        return DEMO_EXAM_ID

    async def require(self, sid: str) -> dict[str, str]:
        data = await self.store.session(sid)
        if data is None:
            raise ApiError(404, "unknown session", {"session_id": sid}, code="unknown_session")
        return data

    # -- offer / resume ------------------------------------------------------------------------
    async def offer(self, sid: str, desc: SessionDescription, *, resume: bool) -> dict[str, str]:
        async with self.lock(sid):
            data = await self.require(sid)
            status = data.get("status")
            if status == "ended":
                raise ApiError(409, "session has ended", code="session_ended")
            if resume and status not in ("disconnected", "connecting", "live"):
                raise ApiError(409, f"nothing to resume: session is {status}", {"status": status}, code="nothing_to_resume")
            if not resume and status != "created":
                raise ApiError(409, f"session already has a peer (status {status}); use /resume after a drop",
                               {"status": status}, code="session_has_peer")
            check_offer(desc.sdp)
            await check_negotiable(desc.sdp)  # before the working peer is touched
            session = self.live.get(sid)
            if session is not None:  # a re-offer replaces the old peer; history stays
                await session.stop_media()
            else:
                session = await self._new_live_session(sid, data)
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            session.attach_peer(pc)
            try:
                answer_sdp = await negotiate.answer(
                    pc, desc.sdp, video_max_kbps=self.settings.video_max_kbps,
                    on_failure=lambda reason: session.spawn(
                        session.safe_store(self.store.update_session(sid, {"peer_error": reason})), "peer-error"))
                bound_receive_buffers(pc)
            except Exception as exc:
                if resume:  # the old media is gone: the session is not live, and says so
                    await session.gone("resume failed")
                else:
                    await session.stop_media()
                    if self.live.pop(sid, None) is not None:
                        await session.aclose(flush_s=1.0)
                raise ApiError(400, "could not negotiate this offer", str(exc)[:300], code="invalid_offer") from None
            fields: dict[str, Any] = {"status": "connecting", "worker": self.worker_id, "connected_at": time.time()}
            if not data.get("started_at"):
                fields["started_at"] = fields["connected_at"]
            await self.store.update_session(sid, fields)
            await self.store.claim_session(self.worker_id, sid)
            self.open[sid] = math.inf  # held here: checked again once it disconnects
            return {"sdp": answer_sdp, "type": "answer"}

    async def _new_live_session(self, sid: str, data: dict[str, str]) -> LiveSession:
        policy = await policy_for(self.store, data.get("exam_id", DEMO_EXAM_ID), self.settings)
        risk = await RiskSession.restore_or_new(self.store, sid, policy, float(data.get("created_at") or time.time()))
        session = LiveSession(
            session_id=sid, candidate_id=data.get("candidate_id", ""), exam_id=data.get("exam_id", ""),
            store=self.store, pipeline=self.pipeline, executor=self.executor, background=self.background,
            analysis_fps=self.settings.analysis_fps, risk=risk, on_gone=self._on_gone, vad=self.vad,
            evidence_root=self.settings.data_dir / "evidence", clip_encoder=self.clip_encoder,
            inference=self.inference)
        session.start()
        self.live[sid] = session
        return session

    async def _on_gone(self, session: LiveSession, reason: str) -> None:
        sid = session.session_id
        session.gone_at = time.time()
        self.open[sid] = session.gone_at + self.settings.abandon_after_s
        await session.stop_media()
        await self._write_state(session)
        try:
            await self.store.update_session(sid, {"status": "disconnected", "disconnected_at": time.time(),
                                                  "disconnect_reason": reason})
            await self.store.set_live(sid, False)
        except Exception as exc:
            log.warning("could not mark %s disconnected: %s", sid, exc)

    # -- end -----------------------------------------------------------------------------------
    async def end(self, sid: str, now: float, *, abandoned: str | None = None) -> dict[str, Any]:
        """End the session and store its verdict; `abandoned`: why the server ends it itself."""
        async with self.lock(sid):
            data = await self.require(sid)
            if data.get("status") == "ended":
                return RiskSession.stored_summary(data)
            session = self.live.pop(sid, None)
            final: dict[str, Any] = {}
            if session is not None:
                session.status = "ended"
                await session.stop_analysis()  # `ended` is the last message on the channel
                session.send({"type": "ended", "session_id": sid})
                await session.stop_media()
                final = session.counter_fields()  # the last frame's counts, not the last second's
                risk = session.risk
            else:  # ended while disconnected, or on another worker after a crash: rebuild from the log
                policy = await policy_for(self.store, data.get("exam_id", DEMO_EXAM_ID), self.settings)
                risk = await RiskSession.restore_or_new(self.store, sid, policy, float(data.get("created_at") or now))
                risk.attach_store_only(self.store, sid)
            started = float(data.get("started_at") or data.get("created_at") or now)
            summary = risk.finish(now, session_id=sid, started_at=started)
            await (risk.close() if session is None else session.aclose())
            # out of the live set before the status says ended: a reader who sees `ended` never still
            # finds the session among the live ones
            await self.store.set_live(sid, False)
            await self.store.update_session(sid, {**final, **RiskSession.summary_fields(summary), "status": "ended",
                                                  "ended_at": now, "ended_by": "server" if abandoned else "client",
                                                  "end_reason": abandoned or ""})
            await expire_ended(self.store, sid, risk.engine.policy.retention_days)
            await self.store.release_session(self.worker_id, sid)
            self._locks.pop(sid, None)
            self.open.pop(sid, None)
            return summary

    async def status(self, sid: str) -> SessionState:
        data = await self.require(sid)
        session = self.live.get(sid)
        live: dict[str, Any] = {}
        if session is not None:
            coverage = session.risk.engine.coverage
            live = {**session.counter_fields(), "status": session.status, "risk_score": session.risk.risk_score,
                    "attention": session.risk.attention, "observed_seconds": coverage.observed_seconds,
                    "coverage": coverage.coverage()}
        return session_state(data, live)

    # -- periodic work (each a named job in server/cluster/jobs.py) -----------------------------
    def _live_now(self) -> list[LiveSession]:
        return [s for s in self.live.values() if s.status == "live"]

    def tick_risk(self, now: float) -> None:
        """Advance every live session's risk engine (with its newest video frame's arrival); one
        score point a second for the report's timeline, through the lossless outbox."""
        for session in self._live_now():
            session.tick(now)
            session.outbox.put(score_item(session.risk, now))

    def check_missing_audio(self, now: float) -> None:
        for session in self._live_now():
            session.audio.check_missing(now, session.connected_at)

    async def write_states(self) -> None:
        for session in list(self.live.values()):
            await self._write_state(session)

    async def publish_statuses(self) -> None:
        """Once a second per session here: the dashboard's grid row, on every worker via pub/sub."""
        now = time.time()
        for session in list(self.live.values()):
            await session.safe_store(self.store.publish(status_message(session, self.worker_id, now)))

    async def check_liveness(self, now: float) -> None:
        """Peers that never connected, or from which nothing arrives, are gone (slot freed).
        After a stall of this worker's own event loop the check waits a round: media that arrived
        meanwhile is still in the queues, and the peers are not to blame."""
        last, self._liveness_at = self._liveness_at, now
        if last is not None and now - last > LOOP_STALL_S:
            log.warning("event loop stalled %.1f s: liveness check skipped once", now - last)
            return
        for session in list(self.live.values()):
            reason = session.unresponsive(now)
            if reason is not None:
                await session.gone(reason)

    async def end_abandoned(self, now: float) -> None:
        """End the sessions this worker answers for that were abandoned: created and never
        offered for `created_ttl_s`, or disconnected and not resumed for `abandon_after_s`."""
        due = [sid for sid, at in self.open.items() if at <= now]
        if not due:
            return
        for sid, data in zip(due, await self.store.sessions(due), strict=True):
            why, again = self._abandoned(sid, data, now)
            if why is not None:
                summary = await self.end(sid, now, abandoned=why)
                log.info("ended abandoned session %s (%s): %s", sid, why, summary["verdict"])
            elif again is None:
                self.open.pop(sid, None)
                await self.store.release_session(self.worker_id, sid)
            else:
                self.open[sid] = again

    def _abandoned(self, sid: str, data: dict[str, str], now: float) -> tuple[str | None, float | None]:
        """`abandonment` of `sid`, with what this worker holds of it."""
        held = self.live.get(sid)
        return abandonment(data, now, worker_id=self.worker_id, created_ttl_s=self.settings.created_ttl_s,
                           abandon_after_s=self.settings.abandon_after_s, held=held is not None,
                           gone_at=None if held is None else held.gone_at)

    async def evict_abandoned(self, now: float) -> None:
        """Free disconnected sessions not resumed within the grace period; their state is in Redis,
        so a later resume (here or on any worker) restores them. This worker still answers for
        ending them if they are abandoned (`self.open` and its claim in Redis stay)."""
        for sid, session in list(self.live.items()):
            if session.status == "disconnected" and session.gone_at and now - session.gone_at > DISCONNECT_GRACE_S:
                async with self.lock(sid):
                    if self.live.get(sid) is session and session.status == "disconnected":
                        del self.live[sid]
                        await self._write_state(session)
                        await session.aclose(flush_s=5.0)

    async def heartbeat(self) -> None:
        """This worker's beat; the sessions of workers that stopped beating are marked disconnected."""
        await self.store.heartbeat(self.worker_id, sessions=self.connected_count(), capacity=self.settings.max_sessions,
                                   url=self.internal_url, now=time.time())
        for dead in await self.store.dead_workers():
            if dead != self.worker_id:
                sids = await self.store.reap_worker(dead, time.time())
                for sid in sids:
                    await self._adopt(sid, dead)
                log.warning("worker %s stopped beating; %d of its sessions marked disconnected", dead, len(sids))

    async def _adopt(self, sid: str, dead: str) -> None:
        """A dead worker's session not ended: this worker now holds it, and ends it if abandoned."""
        data = await self.store.session(sid)
        if data and data.get("worker") == dead and data.get("status") != "ended":
            await self.store.update_session(sid, {"worker": self.worker_id})
            await self.store.claim_session(self.worker_id, sid)
            self.open.setdefault(sid, time.time())

    async def _write_state(self, session: LiveSession) -> None:
        fields: dict[str, Any] = {**session.counter_fields(), **session.risk.state_fields()}
        await session.safe_store(self.store.update_session(session.session_id, fields))

    # -- shutdown ------------------------------------------------------------------------------
    async def close(self) -> None:
        """Every session here is marked disconnected (resumable on another worker) and closed.
        A second call finds none left."""
        for sid, session in list(self.live.items()):
            del self.live[sid]
            await session.stop_media()
            await self._write_state(session)
            await session.safe_store(self._mark_stopped(sid))
            await session.aclose(flush_s=3.0)
        self.clip_encoder.close()
        try:
            await self.store.forget_worker(self.worker_id)
        except Exception as exc:  # Redis away: its beat expires by itself within WORKER_TTL_S
            log.warning("could not deregister worker %s: %s", self.worker_id, exc)

    async def _mark_stopped(self, sid: str) -> None:
        await self.store.update_session(sid, {"status": "disconnected", "disconnect_reason": "server stopped"})
        await self.store.set_live(sid, False)

