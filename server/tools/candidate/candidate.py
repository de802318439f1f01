"""A scripted candidate: signs up for a session, streams a real video (and audio) over WebRTC with a
`vigil` data channel, and records every message the server sends back with its receipt time.

End-to-end latency. The client starts its RTP timestamps at 0 (see `zero_rtp_origin`), so the RTP
timestamp the server reports as `frame_pts` equals the pts the client gave the frame, which the
client mapped to its capture time when it handed the frame to the encoder. Latency of an analysis =
its receipt time minus that capture time, both on the client's clock. The client also sends
`clock` messages so the server can report `captured_ms` itself.

On the channel's open it sends `hello` (unless `hello=False`, an older client) and keeps the server's
`welcome` (docs/data-channel.md); every message it sends carries `v`.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)

from server.protocol.versions import DC_VERSION, SUPPORTED_VERSIONS, versioned
from server.rtc.aiortc_private import zero_rtp_origin
from server.tools.candidate.encoded_media import (
    ReplayAudioTrack,
    ReplayVideoTrack,
    encoded_audio,
    encoded_video,
)
from server.tools.candidate.media_files import (
    LoopingAudioTrack,
    LoopingVideoTrack,
    load_audio,
    load_video_frames,
)

#: what this client says on the channel's open
HELLO = {"type": "hello", "v": DC_VERSION, "versions": list(SUPPORTED_VERSIONS),
         "features": ["analysis", "warning", "clock", "calibration"], "client": "vigil-candidate"}


class ClientError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


@dataclass
class Received:
    message: dict[str, Any]
    received_ms: float


@dataclass
class CandidateClient:
    base_url: str
    video: Path | str
    audio: Path | str | None = None
    candidate_id: str = "candidate-1"
    join_code: str | None = None
    fps: float = 15.0
    width: int = 640
    height: int = 480
    ice_servers: list[dict[str, Any]] | None = None
    relay_only: bool = False
    with_audio: bool = True
    #: send the clip pre-encoded (`encoded_media`: encoded once per process, no encoding per candidate)
    #: at this VP8 bitrate; None encodes every frame live, as a browser does
    replay_kbps: int | None = None
    messages: list[Received] = field(default_factory=list)
    capture_ms: dict[int, float] = field(default_factory=dict)
    #: send `hello` when the channel opens (False: behave as a client older than the hello)
    hello: bool = True

    def __post_init__(self) -> None:
        zero_rtp_origin()
        self.session_id: str | None = None
        self.token: str | None = None
        self.pc: RTCPeerConnection | None = None
        self.channel: Any = None
        self.channel_open = asyncio.Event()
        self.setup_s: float | None = None
        self.http: aiohttp.ClientSession | None = None
        self.video_track: LoopingVideoTrack | ReplayVideoTrack | None = None
        self.new_message = asyncio.Event()
        #: the server's answer to the last hello (`welcome` or `error`), None before it
        self.welcome: dict[str, Any] | None = None

    # -- HTTP --------------------------------------------------------------------------------------
    async def _post(self, path: str, body: dict[str, Any], auth: bool = True) -> dict[str, Any]:
        assert self.http is not None
        headers = {"Authorization": f"Bearer {self.token}"} if auth and self.token else {}
        async with self.http.post(self.base_url + path, json=body, headers=headers) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                raise ClientError(resp.status, data)
            return data

    async def create(self) -> dict[str, Any]:
        if self.http is None:
            self.http = aiohttp.ClientSession()
        body: dict[str, Any] = {"candidate_id": self.candidate_id}
        if self.join_code:
            body["join_code"] = self.join_code
        data = await self._post("/api/sessions", body, auth=False)
        self.session_id, self.token = data["session_id"], data["token"]
        if self.ice_servers is None:
            self.ice_servers = data.get("ice_servers", [])
        return data

    # -- WebRTC ------------------------------------------------------------------------------------
    def _on_capture(self, pts: int, captured_ms: float) -> None:
        self.capture_ms[pts] = captured_ms
        if len(self.capture_ms) > 2000:  # keep memory flat on long runs
            for key in list(self.capture_ms)[:1000]:
                del self.capture_ms[key]
        if self.channel is not None and self.channel.readyState == "open":
            self.send({"type": "clock", "pts": pts, "captured_ms": captured_ms})

    async def connect(self, *, resume: bool = False, timeout: float = 20.0) -> float:
        """Offer video, audio and the data channel; returns setup seconds (POST to channel open)."""
        if self.session_id is None:
            await self.create()
        elif resume:  # TURN credentials expire: take fresh ones before re-offering
            await self._refresh_ice_servers()
        started = time.monotonic()
        pc = self._new_peer()
        self.pc = pc
        self.channel_open = asyncio.Event()
        self._add_media(pc)
        channel = pc.createDataChannel("vigil")
        self.channel = channel
        self._listen(channel)
        await self._negotiate(pc, resume=resume)
        await asyncio.wait_for(self.channel_open.wait(), timeout=timeout)
        self.setup_s = time.monotonic() - started
        return self.setup_s

    def _add_media(self, pc: RTCPeerConnection) -> None:
        """The clip (and audio), encoded live or replayed from packets encoded once."""
        if self.replay_kbps is None:
            frames = load_video_frames(self.video, self.width, self.height, self.fps)
            self.video_track = LoopingVideoTrack(frames, self.fps, on_capture=self._on_capture)
            pc.addTrack(self.video_track)
            if self.with_audio:
                pc.addTrack(LoopingAudioTrack(load_audio(self.audio)))
            return
        video = encoded_video(self.video, self.width, self.height, self.fps, self.replay_kbps)
        replay = ReplayVideoTrack(video, on_capture=self._on_capture)
        self.video_track = replay
        replay.bind(pc.addTrack(replay))
        if self.with_audio:
            pc.addTrack(ReplayAudioTrack(encoded_audio(self.audio)))

    async def _refresh_ice_servers(self) -> None:
        assert self.http is not None
        async with self.http.get(f"{self.base_url}/api/sessions/{self.session_id}",
                                 headers={"Authorization": f"Bearer {self.token}"}) as resp:
            if resp.status == 200:
                self.ice_servers = (await resp.json()).get("ice_servers", self.ice_servers)

    def _new_peer(self) -> RTCPeerConnection:
        servers = [RTCIceServer(**{k: v for k, v in s.items() if k in ("urls", "username", "credential")})
                   for s in (self.ice_servers or [])]
        policy = RTCIceTransportPolicy.RELAY if self.relay_only else RTCIceTransportPolicy.ALL
        return RTCPeerConnection(RTCConfiguration(iceServers=servers, iceTransportPolicy=policy))

    def _listen(self, channel: Any) -> None:
        """Flag the channel's opening; record every JSON message with its receipt time."""

        @channel.on("open")
        def on_open() -> None:
            if self.hello:
                channel.send(json.dumps(HELLO))
            self.channel_open.set()

        @channel.on("message")
        def on_message(raw: Any) -> None:
            try:
                msg = json.loads(raw)
            except (TypeError, ValueError):
                return
            self.messages.append(Received(msg, time.time() * 1000.0))
            if isinstance(msg, dict) and msg.get("type") in ("welcome", "error"):
                self.welcome = msg
            self.new_message.set()

    async def _negotiate(self, pc: RTCPeerConnection, *, resume: bool) -> None:
        """Our offer to the session's `offer` (or `resume`) route, its answer to the peer."""
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        path = f"/api/sessions/{self.session_id}/{'resume' if resume else 'offer'}"
        answer = await self._post(path, {"sdp": sdp, "type": "offer"})
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))

    def send(self, message: dict[str, Any]) -> None:
        """`message` on the channel, with `v` (unless it has its own)."""
        self.channel.send(json.dumps(versioned(message)))

    def analyses(self) -> list[Received]:
        return [r for r in self.messages if r.message.get("type") == "analysis"]

    async def wait_for(self, predicate: Any, timeout: float, *, after: int = 0) -> Received:
        """The first message (from index `after` on) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        seen = after
        while True:
            for r in self.messages[seen:]:
                if predicate(r.message):
                    return r
            seen = len(self.messages)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no matching message")
            self.new_message.clear()
            try:
                await asyncio.wait_for(self.new_message.wait(), remaining)
            except TimeoutError:
                pass

    def latencies_ms(self) -> list[float]:
        """Capture to receipt of the analysis, per analysed frame whose capture time we know."""
        out = []
        for r in self.analyses():
            pts = r.message.get("frame_pts")
            cap = None if pts is None else self.capture_ms.get(int(pts))
            if cap is not None:
                out.append(r.received_ms - cap)
        return out

    async def end(self) -> dict[str, Any]:
        return await self._post(f"/api/sessions/{self.session_id}/end", {})

    async def drop(self) -> None:
        """Close the peer without ending the session (a network drop or a closed tab)."""
        if self.pc is not None:
            await self.pc.close()
            self.pc = None

    async def close(self) -> None:
        await self.drop()
        if self.http is not None:
            await self.http.close()
            self.http = None

