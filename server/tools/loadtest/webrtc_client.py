"""Drives one scripted WebRTC candidate (`CandidateClient`) through a load-test run.

Sign-up and offer go through the real signaling API; the looped clip is sent at the run's size and
rate with audio and a `vigil` data channel, replayed from packets encoded once per process (or, with
`--generator encode`, encoded per candidate as a browser does). Latencies are taken as analyses
arrive, with the same rule as `CandidateClient.latencies_ms()` (receipt minus the capture time of
the frame whose RTP timestamp the analysis names), so runs longer than the client's capture-time
memory (~2 minutes at 15 fps) still measure every frame; an analysis whose frame the client cannot
name counts in the timed share (`stats.py`) with an unknown latency. Before ending, the client reads the server's counters for its
session (GET /api/sessions/{id}) and its own `getStats()` bytes.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

from server.rtc.aiortc_private import fix_encoder_bitrate
from server.tools.candidate.candidate import CandidateClient
from server.tools.loadtest.progress import ClientProgress
from server.tools.loadtest.stats import ClientResult

#: seconds a client may take from POST /api/sessions to an open data channel before it is a failure
SETUP_TIMEOUT_S = 30.0
#: counters the server reports per session that the result keeps
SERVER_COUNTERS = ("frames_received", "frames_analysed", "frames_dropped", "analysis_errors",
                   "dc_sent", "dc_dropped")


async def sleep_until(unix_t: float) -> None:
    delay = unix_t - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def outbound_bytes(pc: Any) -> dict[str, int]:
    """RTP payload bytes per kind (outbound-rtp `bytesSent`) and the transport's bytes on the wire."""
    out: dict[str, int] = {}
    report = await pc.getStats()
    for stats in report.values():
        kind = getattr(stats, "type", None)
        if kind == "outbound-rtp":
            out[stats.kind] = out.get(stats.kind, 0) + int(stats.bytesSent)
        elif kind == "transport":
            out["transport"] = out.get("transport", 0) + int(stats.bytesSent)
    out["total"] = out.get("video", 0) + out.get("audio", 0)
    return out


class _Analyses:
    """The analyses one candidate received, counted and timed as they arrive (`collect`)."""

    def __init__(self, client: CandidateClient, result: ClientResult, progress: ClientProgress) -> None:
        self.client = client
        self.result = result
        self.progress = progress
        self.latencies: list[float] = []
        self.first_at: float | None = None
        self.seen = 0

    def collect(self) -> None:
        """Take the messages that arrived since the last call."""
        for received in self.client.messages[self.seen:]:
            msg = received.message
            if msg.get("type") != "analysis":
                continue
            self.result.analyses += 1
            self.first_at = self.first_at or received.received_ms / 1000.0
            pts = msg.get("frame_pts")  # 0 is the first frame's pts: test for None, not falsiness
            captured = None if pts is None else self.client.capture_ms.get(int(pts))
            latency = None if captured is None else received.received_ms - captured
            self.result.timeline.append((received.received_ms / 1000.0, latency))
            if latency is not None and captured is not None:
                self.latencies.append(latency)
                self.result.waits_ms.append(_waits(captured, msg, received.received_ms))
                self.progress.add_latency(latency)
        self.seen = len(self.client.messages)
        self.progress.analyses = self.result.analyses
        self.progress.first_analysis_at = self.first_at


def _waits(captured_ms: float, msg: dict[str, Any], received_ms: float) -> tuple[float, float, float]:
    """The latency's parts (stats.WAIT_PARTS) from the analysis's own timestamps."""
    at_server, analysed = float(msg["received_ms"]), float(msg["analysed_ms"])
    return at_server - captured_ms, analysed - at_server, received_ms - analysed


async def run_webrtc_client(*, name: str, process: int, url: str, video: str, audio: str | None,
                            fps: float, width: int, height: int, start_at: float, end_at: float,
                            end_session: bool, progress: ClientProgress, video_kbps: int,
                            replay: bool = True) -> ClientResult:
    result = ClientResult(name=name, transport="webrtc", process=process)
    if not replay:
        fix_encoder_bitrate(video_kbps * 1000)  # every client of a run sends the same, browser-like rate
    client = CandidateClient(url, video, audio, candidate_id=name, fps=fps, width=width, height=height,
                             replay_kbps=video_kbps if replay else None)
    analyses = _Analyses(client, result, progress)
    try:
        await sleep_until(start_at)
        progress.state = "connecting"
        result.setup_s = await asyncio.wait_for(client.connect(), SETUP_TIMEOUT_S)
        result.session_id = client.session_id
        progress.state = "streaming"
        streaming_from = time.time()
        await _stream_until(end_at, client, analyses)
        progress.state = "finishing"
        await _finish(client, analyses, streaming_from=streaming_from, end_session=end_session)
    except Exception as exc:  # a failed client is a result, not a crash of the run
        result.error = f"{type(exc).__name__}: {exc}"[:300]
        result.latencies_ms = analyses.latencies
    finally:
        progress.state = "done" if result.ok else "failed"
        progress.detail = result.error or ""
        try:
            await client.close()
        except Exception:  # closing a broken peer must not hide the result
            pass
    return result


async def _stream_until(end_at: float, client: CandidateClient, analyses: _Analyses) -> None:
    """Collect analyses every 0.25 s while the clip streams; a failed or closed peer raises."""
    while time.time() < end_at:
        await asyncio.sleep(min(0.25, max(0.0, end_at - time.time())))
        analyses.collect()
        if client.pc is None or client.pc.connectionState in ("failed", "closed"):
            raise ConnectionError(f"peer {getattr(client.pc, 'connectionState', 'gone')}")
    analyses.collect()


async def _finish(client: CandidateClient, analyses: _Analyses, *, streaming_from: float,
                  end_session: bool) -> None:
    """Records what was sent and the server's counters, ends the session if asked; ok when any latency was taken."""
    result = analyses.result
    stopped_at = time.time()
    result.streaming_s = stopped_at - streaming_from
    if client.pc is not None:
        result.bytes_sent = await outbound_bytes(client.pc)
    status = await _get_json(client, f"/api/sessions/{client.session_id}")
    result.server_counters = {k: int(status[k]) for k in SERVER_COUNTERS if k in status}
    # read after the server's counters: the track goes on sending while we ask, and a frame the server
    # counted must be among those sent (read before, the server could count one more than "sent")
    result.frames_sent = client.video_track.sent if client.video_track is not None else 0
    if analyses.first_at is not None and stopped_at - analyses.first_at > 0:
        result.analysed_fps = result.analyses / (stopped_at - analyses.first_at)
    result.latencies_ms = analyses.latencies
    if end_session:
        await client.end()
    result.ok = bool(analyses.latencies)
    if not result.ok:
        result.error = "no analysis with a known capture time arrived"


async def _get_json(client: CandidateClient, path: str) -> dict[str, Any]:
    assert client.http is not None
    headers = {"Authorization": f"Bearer {client.token}"}
    async with client.http.get(client.base_url + path, headers=headers) as resp:
        data = await resp.json(content_type=None)
        if resp.status >= 400:
            raise RuntimeError(f"GET {path}: HTTP {resp.status} {data}")
        return data
