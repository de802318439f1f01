"""Session lifecycle on this worker: create, offer, resume, end, and the status a client reads.

Statuses: created -> connecting (offer answered) -> live (peer connected) -> disconnected (peer
gone; resumable) -> ended (final; verdict stored). The session hash in Redis is the shared truth;
`self.live` holds the sessions whose peer this worker owns.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from concurrent.futures import Executor
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection

from pipeline.runner import Pipeline
from server.accounts.tokens import SessionTokens
from server.core.config import Settings
from server.core.metrics import REJECTED
from server.live.risk import RiskSession, policy_for
from server.live.session import LiveSession
from server.protocol.errors import ApiError
from server.protocol.http import CreateSession, SessionDescription
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


class SessionManager:
    def __init__(self, *, settings: Settings, store: Store, pipeline: Pipeline, executor: Executor,
                 tokens: SessionTokens, worker_id: str, vad: Any = None,
                 background: Executor | None = None) -> None:
        self.settings = settings
        self.store = store
        self.pipeline = pipeline
        self.executor = executor
        self.tokens = tokens
        self.worker_id = worker_id
        self.vad = vad
        self.background = background
        #: where other workers reach this one (set by the server once it listens)
        self.internal_url = ""
        self.live: dict[str, LiveSession] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def connected_count(self) -> int:
        return sum(1 for s in self.live.values() if s.status in ("connecting", "live"))

    def lock(self, sid: str) -> asyncio.Lock:
        return self._locks.setdefault(sid, asyncio.Lock())

    # -- create --------------------------------------------------------------------------------
    async def create(self, body: CreateSession, now: float, identity: str | None = None,
                     exam_id: str | None = None) -> dict[str, Any]:
        """A new session; `identity` (the authenticated caller, `server.http.access.session_grant`)
        keys the documents its sessions share (`server.store.keys.document_owner`); `exam_id`, when
        the caller's credential grants one (an API key, a join token), replaces the body's join code."""
        exam_id = exam_id or await self._resolve_exam(body)
        if self.connected_count() >= self.settings.max_sessions:
            REJECTED.labels("sessions").inc()
            raise ApiError(429, "this worker is at its session limit", {"max_sessions": self.settings.max_sessions}, code="session_limit")
        sid = uuid.uuid4().hex
        await self.store.create_session(sid, {
            "session_id": sid, "candidate_id": body.candidate_id, "exam_id": exam_id, "status": "created",
            "created_at": now, "worker": self.worker_id, **({"identity": identity} if identity else {}),
        }, now)
        return {"session_id": sid, "token": self.tokens.issue(sid, now),
                "ice_servers": ice_servers(self.settings, sid, now)}

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
            _check_offer(desc.sdp)
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
                await session.stop_media()
                if not resume and self.live.pop(sid, None) is not None:
                    await session.aclose(flush_s=1.0)
                raise ApiError(400, "could not negotiate this offer", str(exc)[:300], code="invalid_offer") from None
            session.status = "connecting"
            fields: dict[str, Any] = {"status": "connecting", "worker": self.worker_id, "connected_at": time.time()}
            if not data.get("started_at"):
                fields["started_at"] = fields["connected_at"]
            await self.store.update_session(sid, fields)
            await self.store.claim_session(self.worker_id, sid)
            return {"sdp": answer_sdp, "type": "answer"}

    async def _new_live_session(self, sid: str, data: dict[str, str]) -> LiveSession:
        policy = await policy_for(self.store, data.get("exam_id", DEMO_EXAM_ID), self.settings)
        risk = await RiskSession.restore_or_new(self.store, sid, policy, float(data.get("created_at") or time.time()))
        session = LiveSession(
            session_id=sid, candidate_id=data.get("candidate_id", ""), exam_id=data.get("exam_id", ""),
            store=self.store, pipeline=self.pipeline, executor=self.executor, background=self.background,
            analysis_fps=self.settings.analysis_fps, risk=risk, on_gone=self._on_gone, vad=self.vad,
            evidence_root=self.settings.data_dir / "evidence")
        session.start()
        self.live[sid] = session
        return session

    async def _on_gone(self, session: LiveSession, reason: str) -> None:
        sid = session.session_id
        session.gone_at = time.time()
        await session.stop_media()
        await self._write_state(session)
        try:
            await self.store.update_session(sid, {"status": "disconnected", "disconnected_at": time.time(),
                                                  "disconnect_reason": reason})
            await self.store.set_live(sid, False)
        except Exception as exc:
            log.warning("could not mark %s disconnected: %s", sid, exc)

    # -- end -----------------------------------------------------------------------------------
    async def end(self, sid: str, now: float) -> dict[str, Any]:
        async with self.lock(sid):
            data = await self.require(sid)
            if data.get("status") == "ended":
                return RiskSession.stored_summary(data)
            session = self.live.pop(sid, None)
            if session is not None:
                session.status = "ended"
                session.send({"type": "ended", "session_id": sid})
                await session.stop_media()
                risk = session.risk
            else:  # ended while disconnected, or on another worker after a crash: rebuild from the log
                policy = await policy_for(self.store, data.get("exam_id", DEMO_EXAM_ID), self.settings)
                risk = await RiskSession.restore_or_new(self.store, sid, policy, float(data.get("created_at") or now))
                risk.attach_store_only(self.store, sid)
            started = float(data.get("started_at") or data.get("created_at") or now)
            summary = risk.finish(now, session_id=sid, started_at=started)
            await (risk.close() if session is None else session.aclose())
            await self.store.update_session(sid, {**RiskSession.summary_fields(summary), "status": "ended",
                                                  "ended_at": now})
            await expire_ended(self.store, sid, risk.engine.policy.retention_days)
            await self.store.set_live(sid, False)
            await self.store.release_session(self.worker_id, sid)
            self._locks.pop(sid, None)
            return summary

    async def status(self, sid: str) -> dict[str, Any]:
        data = await self.require(sid)
        session = self.live.get(sid)
        out: dict[str, Any] = {k: v for k, v in data.items() if k not in ("risk_state",)}
        if session is not None:
            out.update(session.counter_fields())
            out["risk_score"] = session.risk.risk_score
            out["attention"] = session.risk.attention
        return out

    # -- periodic work (each a named job in server/cluster/jobs.py) -----------------------------
    def _live_now(self) -> list[LiveSession]:
        return [s for s in self.live.values() if s.status == "live"]

    def tick_risk(self, now: float) -> None:
        """Advance every live session's risk engine; one score point a second for the report's
        timeline, through the lossless outbox."""
        for session in self._live_now():
            risk = session.risk
            session.note_changes(risk.tick(now).changed)
            session.outbox.put({"kind": "score", "t": round(now, 3), "risk": round(risk.risk_score, 1),
                                "attention": None if risk.attention is None else round(risk.attention, 1)})

    def check_missing_audio(self, now: float) -> None:
        for session in self._live_now():
            session.audio.check_missing(now, session.connected_at)

    async def write_states(self) -> None:
        for session in list(self.live.values()):
            await self._write_state(session)

    async def publish_statuses(self) -> None:
        """Once a second per session here: the dashboard's grid row, on every worker via pub/sub."""
        for session in list(self.live.values()):
            last = session.last_message or {}
            await session.safe_store(self.store.publish({
                "type": "status", "session_id": session.session_id, "exam_id": session.exam_id,
                "candidate_id": session.candidate_id, "status": session.status, "worker": self.worker_id,
                "risk_score": round(session.risk.risk_score, 1), "attention": session.risk.attention,
                "faces": last.get("faces"), "flags": session.risk.active_types(),
            }))

    async def evict_abandoned(self, now: float) -> None:
        """Free disconnected sessions not resumed within the grace period; their state is in Redis,
        so a later resume (here or on any worker) restores them."""
        for sid, session in list(self.live.items()):
            if session.status == "disconnected" and session.gone_at and now - session.gone_at > DISCONNECT_GRACE_S:
                async with self.lock(sid):
                    if self.live.get(sid) is session and session.status == "disconnected":
                        del self.live[sid]
                        await self._write_state(session)
                        await session.aclose(flush_s=5.0)
                        await self.store.release_session(self.worker_id, sid)

    async def heartbeat(self) -> None:
        """This worker's beat; the sessions of workers that stopped beating are marked disconnected."""
        await self.store.heartbeat(self.worker_id, sessions=self.connected_count(), capacity=self.settings.max_sessions,
                                   url=self.internal_url, now=time.time())
        for dead in await self.store.dead_workers():
            if dead != self.worker_id:
                sids = await self.store.reap_worker(dead, time.time())
                log.warning("worker %s stopped beating; %d of its sessions marked disconnected", dead, len(sids))

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

    async def _mark_stopped(self, sid: str) -> None:
        await self.store.update_session(sid, {"status": "disconnected", "disconnect_reason": "server stopped"})
        await self.store.set_live(sid, False)


def _check_offer(sdp: str) -> None:
    """Refuse offers that cannot be a candidate's: no video, or not SDP at all."""
    if not sdp.startswith("v=0"):
        raise ApiError(400, "offer is not SDP (must start with v=0)", code="invalid_offer")
    if "\nm=video " not in sdp.replace("\r\n", "\n"):
        raise ApiError(400, "offer has no video track", {"hint": "send the camera track (and audio, and a 'vigil' data channel)"}, code="invalid_offer")
