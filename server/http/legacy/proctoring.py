"""The original AI proctoring API on Vigil's event stream, live fan-out and reports.

    GET  /ws/{session_id}                  WebSocket: that session's events, one message per start or end
      <- {"type": "event", "session_id", "event": {"id", "type", "state": "started"|"ended", "at", ...},
          "risk_score": 37.5 | null}
    POST /generate_report/{session_id}     -> the session's PDF report (Vigil's, `application/pdf`)

On connect the socket first replays the events already in the session's stream (`risk_score` null:
the stream keeps events, not scores), then forwards the live fan-out's event changes of that session
as they happen (`server.cluster.fanout`, from every worker), each (event id, state) once. Messages the
client sends are ignored. The socket stays open until the client closes it or the server stops; a
client slower than the fan-out's queue loses the oldest live messages, as a dashboard does.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType, web

from server.core.strict_json import dumps
from server.http.keys import FANOUT, STORE
from server.http.legacy.common import admit, visible_session
from server.http.routes.reports import pdf_response, report_of

API = "proctoring"

routes = web.RouteTableDef()


def event_message(sid: str, change: dict[str, Any], risk_score: float | None) -> str:
    return dumps({"type": "event", "session_id": sid, "event": change, "risk_score": risk_score})


class _Once:
    """Each (event id, state) goes out once, whether the stream or the fan-out brought it first."""

    def __init__(self) -> None:
        self.sent: set[tuple[Any, Any]] = set()

    def first(self, change: dict[str, Any]) -> bool:
        key = (change.get("id"), change.get("state"))
        if key in self.sent:
            return False
        self.sent.add(key)
        return True


async def _until_closed(ws: web.WebSocketResponse) -> None:
    async for msg in ws:
        if msg.type == WSMsgType.ERROR:
            break


@routes.get("/ws/{session_id}")
async def session_events(request: web.Request) -> web.StreamResponse:
    caller = await admit(request, API)
    sid = request.match_info["session_id"]
    await visible_session(request, sid, caller)
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    fanout = request.app[FANOUT]
    queue = fanout.subscribe()  # before the replay: an event between the two is sent once, not lost
    closed = asyncio.get_running_loop().create_task(_until_closed(ws), name=f"ws-events-{sid}")
    once = _Once()
    try:
        for item in await request.app[STORE].events(sid):
            change = item.get("event")
            if item.get("kind") in ("event_started", "event_ended") and isinstance(change, dict) and once.first(change):
                await ws.send_str(event_message(sid, change, None))
        while not closed.done():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                break
            raw = getter.result()
            if raw is None:  # the server is stopping
                break
            msg = json.loads(raw)
            if msg.get("type") != "events" or msg.get("session_id") != sid:
                continue
            for change in msg.get("events") or []:
                if isinstance(change, dict) and once.first(change):
                    await ws.send_str(event_message(sid, change, msg.get("risk_score")))
    except (ConnectionError, RuntimeError):  # the client went away mid-send
        pass
    finally:
        fanout.unsubscribe(queue)
        closed.cancel()
        await asyncio.gather(closed, return_exceptions=True)
        await ws.close()
    return ws


@routes.post("/generate_report/{session_id}")
async def generate_report(request: web.Request) -> web.Response:
    caller = await admit(request, API)
    sid = request.match_info["session_id"]
    await visible_session(request, sid, caller)
    return await pdf_response(request, await report_of(request, sid))
