"""What proctors see: live sessions, their live stream of changes, past sessions, and deleting one.

Visibility is one rule (`Authenticator.can_see_session`): an admin sees every session, a proctor the
sessions of exams they own, nobody else any. Every listing and every stream message goes through it.

The live stream (`GET /api/live/stream`, Server-Sent Events) is fed by the Redis pub/sub channel
`vigil:channel:live`, where every worker publishes a `status` message per live session once a second
and an `events` message whenever an event starts or ends. Each worker holds ONE subscription
(`LiveFanout`) and copies messages into a bounded queue per open dashboard; a dashboard that does not
read fast enough loses its oldest messages (status messages supersede each other), never blocks the
others. EventSource reconnects by itself; a reconnecting dashboard re-reads `GET /api/live` first.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from aiohttp import web

from server.accounts.auth import Authenticator, User
from server.http.access import session_id
from server.live.manager import SessionManager
from server.protocol.errors import ApiError
from server.store.retention import delete_evidence
from server.store.store import Store

log = logging.getLogger(__name__)

#: sessions created this recently are candidates for the live grid even after their peer dropped
#: (a disconnected session is shown, flagged, until it resumes or ends).
RECENT_S = 12 * 3600
#: the most sessions one live listing considers
MAX_LIVE_SCAN = 2000
#: statuses shown in the live grid
LIVE_STATUSES = ("connecting", "live", "disconnected")
#: past sessions: page size bounds, and how many ids one listing may scan to fill a proctor's page
DEFAULT_PAGE, MAX_PAGE, MAX_HISTORY_SCAN = 100, 500, 5000
#: last events attached to each live row
LAST_EVENTS = 5
#: messages a dashboard may fall behind before its oldest are dropped
STREAM_QUEUE = 256
#: a comment line this often keeps proxies from closing an idle stream
KEEPALIVE_S = 15.0


class Visibility:
    """`can_see_session` for one caller, memoised per exam (owners do not change)."""

    def __init__(self, auth: Authenticator, user: User, store: Store) -> None:
        self.auth, self.user, self.store = auth, user, store
        self._exam_of: dict[str, str] = {}
        self._allowed: dict[str, bool] = {}

    async def allows(self, sid: str | None, exam_id: str | None = None) -> bool:
        if self.user.role == "admin":
            return True
        if not sid:
            return False
        exam_id = exam_id or self._exam_of.get(sid) or await self.store.session_field(sid, "exam_id")
        if not exam_id:
            return False
        if len(self._exam_of) > 10_000:  # a dashboard open for days: keep memory flat
            self._exam_of.clear()
        self._exam_of[sid] = exam_id
        if exam_id not in self._allowed:
            self._allowed[exam_id] = await self.auth.can_see_session(self.user, {"exam_id": exam_id})
        return self._allowed[exam_id]


class LiveFanout:
    """One pub/sub subscription per worker, copied to every open dashboard's queue."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.queues: set[asyncio.Queue[str | None]] = set()
        self._task: asyncio.Task[None] | None = None

    def subscribe(self) -> asyncio.Queue[str | None]:
        queue: asyncio.Queue[str | None] = asyncio.Queue(STREAM_QUEUE)
        self.queues.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="live-fanout")
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str | None]) -> None:
        self.queues.discard(queue)

    def _deliver(self, raw: str | None) -> None:
        for queue in list(self.queues):
            if queue.full():
                queue.get_nowait()  # drop the oldest: a newer status supersedes it
            queue.put_nowait(raw)

    async def _run(self) -> None:
        while self.queues:
            pubsub = None
            try:
                pubsub = await self.store.subscribe_live()
                while self.queues:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is not None and msg.get("type") == "message":
                        self._deliver(msg["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: dashboards keep their stream, we resubscribe
                log.warning("live subscription lost: %s", exc)
                await asyncio.sleep(1.0)
            finally:
                if pubsub is not None:
                    try:
                        await pubsub.aclose()
                    except Exception:  # a broken connection cannot be closed cleanly; it is dropped
                        pass

    async def close(self) -> None:
        self._deliver(None)  # every open stream ends
        self.queues.clear()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _flags(data: dict[str, str]) -> list[str]:
    try:
        return sorted(json.loads(data["risk_state"]).get("open", {}))
    except (KeyError, ValueError, AttributeError):
        return []


def _num(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def live_row(sid: str, data: dict[str, str], sessions: SessionManager) -> dict[str, Any]:
    row: dict[str, Any] = {
        "session_id": sid, "candidate_id": data.get("candidate_id"), "exam_id": data.get("exam_id"),
        "status": data.get("status"), "worker": data.get("worker"),
        "created_at": _num(data.get("created_at")), "connected_at": _num(data.get("connected_at")),
        "risk_score": _num(data.get("risk_score")) or 0.0, "attention": _num(data.get("attention")),
        "flags": _flags(data), "faces": None, "disconnect_reason": data.get("disconnect_reason") or None}
    local = sessions.live.get(sid)
    if local is not None:  # this worker has the peer: fresher than the hash's once-a-second copy
        row.update(status=local.status, risk_score=round(local.risk.risk_score, 1),
                   attention=local.risk.attention, flags=local.risk.active_types(),
                   faces=(local.last_message or {}).get("faces"))
    return row


def register_live_routes(app: web.Application, *, store: Store, sessions: SessionManager,
                         auth: Authenticator) -> LiveFanout:
    fanout = LiveFanout(store)

    async def live(request: web.Request) -> web.Response:
        user = await auth.require_role(request, "proctor", "admin")
        visible = Visibility(auth, user, store)
        recent = await store.session_ids_since(time.time() - RECENT_S, MAX_LIVE_SCAN)
        ids = sorted(set(recent) | await store.live_sessions() | set(sessions.live))
        hashes = await store.sessions(ids)
        rows = [live_row(sid, data, sessions) for sid, data in zip(ids, hashes)
                if data and data.get("status") in LIVE_STATUSES and await visible.allows(sid, data.get("exam_id"))]
        recent_events = await store.last_events([row["session_id"] for row in rows], LAST_EVENTS)
        for row, events in zip(rows, recent_events, strict=True):
            row["last_events"] = events
        rows.sort(key=lambda r: r["created_at"] or 0)
        return web.json_response({"sessions": rows, "live": sum(1 for r in rows if r["status"] == "live"),
                                  "worker": sessions.worker_id})

    async def stream(request: web.Request) -> web.StreamResponse:
        user = await auth.require_role(request, "proctor", "admin")
        visible = Visibility(auth, user, store)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        queue = fanout.subscribe()
        try:
            await resp.write(b"retry: 2000\n: connected\n\n")
            while True:
                try:
                    raw = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    await resp.write(b": keepalive\n\n")
                    continue
                if raw is None:
                    break
                msg = json.loads(raw)
                if await visible.allows(msg.get("session_id"), msg.get("exam_id")):
                    await resp.write(f"event: {msg.get('type', 'message')}\ndata: {raw}\n\n".encode())
        except (ConnectionResetError, RuntimeError):  # the dashboard went away mid-write
            pass
        finally:
            fanout.unsubscribe(queue)
        return resp

    async def past_sessions(request: web.Request) -> web.Response:
        user = await auth.require_role(request, "proctor", "admin")
        try:
            limit = min(MAX_PAGE, max(1, int(request.query.get("limit", DEFAULT_PAGE))))
        except ValueError:
            raise ApiError(400, "limit must be an integer") from None
        visible = Visibility(auth, user, store)
        out: list[dict[str, Any]] = []
        for start in range(0, MAX_HISTORY_SCAN, 200):  # newest first; a proctor's page may need a scan
            ids = await store.session_ids_newest(start, start + 199)
            hashes = await store.sessions(ids)
            for sid, data in zip(ids, hashes):
                if data and len(out) < limit and await visible.allows(sid, data.get("exam_id")):
                    out.append({k: v for k, v in data.items() if k not in ("risk_state", "summary")})
            if len(out) >= limit or len(ids) < 200:
                break
        return web.json_response({"sessions": out})

    async def delete_session(request: web.Request) -> web.Response:
        sid = session_id(request)
        await auth.require_role(request, "admin")
        data = await store.session(sid)
        if data is None:
            raise ApiError(404, "unknown session", {"session_id": sid})
        if sid in sessions.live or data.get("status") in LIVE_STATUSES:
            raise ApiError(409, "end the session before deleting it", {"status": data.get("status")})
        await store.delete_session(sid)
        await delete_evidence(sessions.settings.data_dir / "evidence", sid)  # all of its data
        return web.json_response({"deleted": sid})

    async def on_shutdown(app: web.Application) -> None:
        await fanout.close()

    app.on_shutdown.append(on_shutdown)
    r = app.router
    r.add_get("/api/live", live)
    r.add_get("/api/live/stream", stream)
    r.add_get("/api/sessions", past_sessions)
    r.add_delete("/api/sessions/{session_id}", delete_session)
    return fanout
