"""WHIP (RFC 9725): a second way in for a publisher, beside the JSON offer, so OBS, GStreamer's
`whipsink`, ffmpeg's WHIP muxer and other publishers can send a camera without Vigil's page.

    POST   /api/sessions/{session_id}/whip    Content-Type: application/sdp, the offer
           Authorization: Bearer <session token>
        -> 201 Created, Content-Type: application/sdp, the answer (all candidates: no trickle),
           Location: /api/sessions/{session_id}/whip, and one `Link: <url>; rel="ice-server"` per
           STUN/TURN URL (RFC 9725 section 4.6)
    DELETE /api/sessions/{session_id}/whip    the same bearer -> 200 and the session's end summary

The session is created first with `POST /api/sessions` (exam, join code, candidate), as for the page:
WHIP carries media, not who the candidate is. One session has at most one publisher, so the WHIP
session's resource and the endpoint share one URL: a second POST after a drop is a resume (RFC 9725
has the client POST again to restart), and DELETE ends the Vigil session. ICE restarts and trickle
(`PATCH`) are not offered: aiohttp answers 405 for them, which RFC 9725 allows. WHIP publishers send
no data channel, so the analyses are for the proctor and the report only.
"""
from __future__ import annotations

import time

from aiohttp import web

from server.http.access import require_session_token, session_id
from server.http.affinity import on_session_worker
from server.http.errors import json_response, read_body
from server.http.keys import SESSIONS, SETTINGS
from server.protocol.errors import ApiError
from server.protocol.events import VerdictSummary
from server.protocol.http import SessionDescription
from server.rtc.turn import IceServer, ice_servers

SDP = "application/sdp"

routes = web.RouteTableDef()


def resource_path(sid: str) -> str:
    return f"/api/sessions/{sid}/whip"


def ice_server_links(servers: list[IceServer]) -> list[str]:
    """RFC 9725 section 4.6: one `Link` header value per ICE server URL, with its TURN credentials."""
    links: list[str] = []
    for server in servers:
        credentials = ""
        if "username" in server and "credential" in server:
            credentials = (f'; username="{server["username"]}"; credential="{server["credential"]}"'
                           f'; credential-type="password"')
        links.extend(f'<{url}>; rel="ice-server"{credentials}' for url in server["urls"])
    return links


@routes.post("/api/sessions/{session_id}/whip")
@on_session_worker
async def whip_publish(request: web.Request) -> web.Response:
    sid = session_id(request)
    require_session_token(request, sid)
    if request.content_type != SDP:
        raise ApiError(415, f"a WHIP offer is {SDP}", {"content_type": request.content_type})
    raw = await read_body(request, request.app[SETTINGS].max_body_bytes, "an SDP offer")
    try:
        desc = SessionDescription(sdp=raw.decode("utf-8"), type="offer")
    except UnicodeDecodeError:
        raise ApiError(400, "the SDP offer is not UTF-8") from None
    manager = request.app[SESSIONS]
    resume = (await manager.require(sid)).get("status") != "created"  # a WHIP client POSTs again to restart
    answer = await manager.offer(sid, desc, resume=resume)
    response = web.Response(status=201, body=answer["sdp"].encode(), content_type=SDP,
                            headers={"Location": resource_path(sid)})
    for link in ice_server_links(ice_servers(request.app[SETTINGS], sid, time.time())):
        response.headers.add("Link", link)
    return response


@routes.delete("/api/sessions/{session_id}/whip")
@on_session_worker
async def whip_end(request: web.Request) -> web.Response:
    sid = session_id(request)
    require_session_token(request, sid)
    return json_response(VerdictSummary.model_validate(await request.app[SESSIONS].end(sid, time.time())))
