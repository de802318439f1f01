"""What proctors watch live: the grid of sessions in progress, its stream of changes, and each live
candidate's thumbnail.

Visibility is one rule (`server.http.access.Visibility`): an admin sees every session, a proctor the
sessions of exams they own, nobody else any. Every row and every stream message goes through it.

The live stream (`GET /api/live/stream`, Server-Sent Events) relays the worker's one pub/sub
subscription (`server.cluster.fanout.LiveFanout`, `app[FANOUT]`): a dashboard that does not read fast
enough loses its oldest messages, never blocks the others. EventSource reconnects by itself; a
reconnecting dashboard re-reads `GET /api/live` first.
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from server.http.access import Visibility, session_access
from server.http.errors import json_response
from server.http.keys import FANOUT, SESSIONS, STORE
from server.http.routes.sessions import LIVE_STATUSES
from server.live.manager import SessionManager
from server.protocol.answers import LiveGrid
from server.protocol.errors import ApiError

#: sessions created this recently are candidates for the live grid even after their peer dropped
#: (a disconnected session is shown, flagged, until it resumes or ends).
RECENT_S = 12 * 3600
#: the most sessions one live listing considers
MAX_LIVE_SCAN = 2000
#: last events attached to each live row
LAST_EVENTS = 5
#: a comment line this often keeps proxies from closing an idle stream
KEEPALIVE_S = 15.0

routes = web.RouteTableDef()


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
                   faces=local.faces(time.time()))
    return row


@routes.get("/api/live")
async def live(request: web.Request) -> web.Response:
    visible = await Visibility.of_caller(request, "proctor", "admin")
    store, sessions = request.app[STORE], request.app[SESSIONS]
    recent = await store.session_ids_since(time.time() - RECENT_S, MAX_LIVE_SCAN)
    ids = sorted(set(recent) | await store.live_sessions() | set(sessions.live))
    hashes = await store.sessions(ids)
    rows = [live_row(sid, data, sessions) for sid, data in zip(ids, hashes, strict=False)
            if data and data.get("status") in LIVE_STATUSES and await visible.allows(sid, data.get("exam_id"))]
    recent_events = await store.last_events([row["session_id"] for row in rows], LAST_EVENTS)
    for row, events in zip(rows, recent_events, strict=True):
        row["last_events"] = events
    rows.sort(key=lambda r: r["created_at"] or 0)
    return json_response(LiveGrid.model_validate({"sessions": rows, "live": sum(1 for r in rows if r["status"] == "live"),
                                                  "worker": sessions.worker_id}))


@routes.get("/api/sessions/{session_id}/thumbnail.jpg")
async def thumbnail(request: web.Request) -> web.Response:
    """The candidate's newest live thumbnail from Redis (`server.live.thumbnails`): any worker answers."""
    access = await session_access(request, "proctor", "admin", token=False)
    jpeg = await request.app[STORE].thumbnail(access.session_id)
    if jpeg is None:
        raise ApiError(404, "no live thumbnail (the session is not live, or its video is not analysed yet)",
                       code="not_found")
    return web.Response(body=jpeg, content_type="image/jpeg",
                        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})


@routes.get("/api/live/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    visible = await Visibility.of_caller(request, "proctor", "admin")
    fanout = request.app[FANOUT]
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
