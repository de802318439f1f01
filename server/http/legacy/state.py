"""Interview sessions driven over HTTP (`POST /analyze-frame`), held in this worker's memory.

Each holds the session's `SessionPipeline` (per-stage state, the slow stages' carried results) and its
`RiskSession`, whose events go to the session's stream through its own outbox and the live fan-out,
exactly as a WebRTC session's. The engine's snapshot is written to the session hash at most once a second
(`STATE_WRITE_PERIOD_S`, as the manager does for live sessions) and before the session ends, so a request
that lands on another worker, or after this one restarted, restores the score, open events and baseline
(`RiskSession.restore_or_new`); only the pipeline's per-stage state starts afresh there.

A session that gets no frame for `DISCONNECT_GRACE_S` (as a disconnected WebRTC session) is flushed and
dropped from memory when the next request of any session comes in: its next frame restores it. It is
not ended: only `/end-session` (or a proctor's end or delete) ends it, as for WebRTC sessions.

`lock` keeps one frame in flight per session: frames of one session are analysed in arrival order, each
at a later time than the one before, as the engine requires.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from pipeline.runner import Pipeline, SessionPipeline
from server.core.config import Settings
from server.live.manager import DEMO_EXAM_ID, DISCONNECT_GRACE_S, STATE_WRITE_PERIOD_S
from server.live.risk import RiskSession, policy_for
from server.store.store import Store

#: document locks kept before the unused ones are forgotten
MAX_IDLE_LOCKS = 1000


@dataclass
class HttpSession:
    session_id: str
    pipeline: SessionPipeline
    risk: RiskSession
    #: the id of the last frame analysed (continued from the engine's snapshot when restored)
    frame_id: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    state_written_at: float = 0.0
    #: when a request last took this session (idle ones are dropped from memory)
    used_at: float = field(default_factory=time.time)

    async def write_state(self, store: Store, now: float, *, force: bool = False) -> None:
        """The engine's snapshot to the session hash, at most once a second unless `force`."""
        if force or now - self.state_written_at >= STATE_WRITE_PERIOD_S:
            await store.update_session(self.session_id, self.risk.state_fields())
            self.state_written_at = now


class HttpSessions:
    """This worker's HTTP-driven sessions by id. Owned by the app: `close()` at shutdown flushes each
    session's events and state, so nothing written before the shutdown is lost."""

    def __init__(self, store: Store, pipeline: Pipeline, settings: Settings) -> None:
        self.store = store
        self.pipeline = pipeline
        self.settings = settings
        self.sessions: dict[str, HttpSession] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, key: str) -> asyncio.Lock:
        """A lock per document these APIs read, change and write back (a calibration run), on this worker."""
        if len(self._locks) > MAX_IDLE_LOCKS:  # forget the ones nobody holds or waits for
            self._locks = {k: v for k, v in self._locks.items() if v.locked()}
        return self._locks.setdefault(key, asyncio.Lock())

    async def get(self, sid: str, data: dict[str, str]) -> HttpSession:
        """The session held here, else one restored from its stored snapshot (`data`: its hash)."""
        now = time.time()
        await self._drop_idle(now, keep=sid)
        held = self.sessions.get(sid)
        if held is not None:
            held.used_at = now
            return held
        policy = await policy_for(self.store, data.get("exam_id") or DEMO_EXAM_ID, self.settings)
        risk = await RiskSession.restore_or_new(self.store, sid, policy, float(data.get("created_at") or time.time()))
        risk.attach_store_only(self.store, sid)
        # another request may have restored it while this one awaited the store: the first one wins
        held = self.sessions.setdefault(sid, HttpSession(sid, self.pipeline.new_session(), risk,
                                                                risk.last_frame_id))
        if held.risk is not risk:
            await risk.close()
        return held

    async def release(self, sid: str) -> None:
        """Flush and forget a session (before it ends): its stream and snapshot are complete in the store."""
        held = self.sessions.pop(sid, None)
        if held is not None:
            async with held.lock:
                await held.risk.close()
                await held.write_state(self.store, time.time(), force=True)

    async def _drop_idle(self, now: float, keep: str) -> None:
        for sid, held in list(self.sessions.items()):
            if sid != keep and now - held.used_at > DISCONNECT_GRACE_S and not held.lock.locked():
                await self.release(sid)

    async def close(self) -> None:
        for sid in list(self.sessions):
            try:
                await self.release(sid)
            except Exception:  # Redis away at shutdown: the last snapshot written stays the truth
                self.sessions.pop(sid, None)
