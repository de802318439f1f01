"""Proctors watching a candidate live (the route is `server.http.routes.watch`).

Each watcher gets its own aiortc `RTCPeerConnection` on the worker that hosts the candidate's peer:
- audio: when the proctor's offer has an audio m-line, a subscription to the candidate's decoded
  microphone (`LiveSession.watch_audio_track`), encoded again as Opus per watcher (cheap next to video).
- video: a new `MediaRelay` subscription to the candidate's decoded track (`LiveSession.watch_track`).
  aiortc cannot forward the candidate's encoded RTP to another peer (SRTP keys, SSRCs and congestion
  control are per peer), so every watcher's sender ENCODES the frames again: about one VP8 encode
  of 640x480 per watcher. The relay is unbuffered (newest frame wins), so a slow encoder drops frames
  for its own watcher only. `MAX_WATCHERS_PER_SESSION` bounds the cost.
- data: the proctor's offer creates a `vigil` data channel; it gets every message the candidate gets,
  through a callable in `LiveSession.listeners` (`server/live/channel.py`). A slow watcher's messages are dropped past
  `MAX_WATCHER_BUFFER_BYTES`; a failing listener is removed by `SessionChannel.send`.
A watcher leaving (page closed, peer failed) only stops its own relay proxies and listener: the
candidate's peer, analysis and data channel never notice. A watcher is closed when the candidate's
session stops being live here (dropped, ended, resumed on a new peer): the page then offers to watch
again. Sessions hosted on another worker answer 409 with that worker's id.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from server.live.session import LiveSession
from server.live.tasks import TaskSet
from server.protocol.errors import ApiError
from server.protocol.http import SessionDescription

log = logging.getLogger(__name__)

#: watchers per candidate; each costs one video encode on the hosting worker.
MAX_WATCHERS_PER_SESSION = 8
#: a watcher whose peer has not connected by then is closed.
CONNECT_TIMEOUT_S = 30.0
#: how often a watcher checks that its candidate is still live on the same peer.
CHECK_PERIOD_S = 1.0
#: a watcher's data channel backlog past which analysis messages are dropped for it.
MAX_WATCHER_BUFFER_BYTES = 256 * 1024


class Watcher:
    """One proctor's peer on one candidate: forwards the candidate's messages to the proctor's
    `vigil` channel and closes (once) when its peer fails or closes, or when told to."""

    def __init__(self, session: LiveSession, pc: RTCPeerConnection, tracks: list[Any],
                 on_closed: Callable[[], None]) -> None:
        self.session = session
        self.pc = pc
        self.tracks = tracks
        self.on_closed = on_closed
        self.listeners: list[Callable[[str], None]] = []
        self.closed = False
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_state)

    def _on_datachannel(self, channel: Any) -> None:
        if channel.label != "vigil":
            return

        def forward(text: str) -> None:
            if channel.readyState in ("closing", "closed"):
                raise ConnectionError("watcher channel closed")  # SessionChannel.send drops us
            if channel.readyState == "open" and channel.bufferedAmount <= MAX_WATCHER_BUFFER_BYTES:
                channel.send(text)

        self.listeners.append(forward)
        self.session.listeners.add(forward)
        channel.on("close", lambda: self.session.listeners.discard(forward))

    async def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            await self.close()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for forward in self.listeners:
            self.session.listeners.discard(forward)
        for track in self.tracks:
            track.stop()  # only this watcher's relay proxies
        self.on_closed()
        await self.pc.close()


class Watchers:
    def __init__(self) -> None:
        self.by_session: dict[str, set[RTCPeerConnection]] = {}
        self._tasks = TaskSet(log)

    def count(self, sid: str) -> int:
        return len(self.by_session.get(sid, ()))

    async def start(self, session: LiveSession, desc: SessionDescription) -> dict[str, str]:
        track = session.watch_track()
        if track is None or session.status != "live":
            raise ApiError(503, "the candidate's video is not live yet; retry shortly", {"status": session.status}, code="video_not_live", retry_after_s=2)
        sid = session.session_id
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        audio = session.watch_audio_track() if "\nm=audio " in desc.sdp.replace("\r\n", "\n") else None
        tracks = [track] if audio is None else [track, audio]
        watcher = Watcher(session, pc, tracks, on_closed=lambda: self._forget(sid, pc))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=desc.sdp, type="offer"))
            for media in tracks:
                pc.addTrack(media)
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            await watcher.close()
            raise ApiError(400, "could not negotiate this offer", str(exc)[:300], code="invalid_offer") from None
        self.by_session.setdefault(sid, set()).add(pc)
        self._tasks.spawn(self._supervise(session, pc, watcher.close), f"watch-{sid}")
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    def _forget(self, sid: str, pc: RTCPeerConnection) -> None:
        self.by_session.get(sid, set()).discard(pc)
        if not self.by_session.get(sid):
            self.by_session.pop(sid, None)

    async def _supervise(self, session: LiveSession, pc: RTCPeerConnection, close: Any) -> None:
        """Close the watcher when it never connects or its candidate stops being live on this peer."""
        candidate_pc = session.pc
        waited = 0.0
        try:
            while pc.connectionState not in ("failed", "closed"):
                await asyncio.sleep(CHECK_PERIOD_S)
                waited += CHECK_PERIOD_S
                if pc.connectionState != "connected" and waited >= CONNECT_TIMEOUT_S:
                    break
                if session.status != "live" or session.pc is not candidate_pc:
                    break
        finally:
            await close()

    async def close(self) -> None:
        await self._tasks.cancel()
