"""Unit tests with small fakes for the live session's pure parts: the frame mailbox, the analysis
loop, and the session's state machine (what each transition writes). No peers, no Redis."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.risk import RiskEngine
from pipeline.risk.policy import Policy
from server.core.config import Settings
from server.live.manager import SessionManager
from server.live.risk import RiskSession
from server.live.session import LiveSession
from server.rtc.frames import AnalysisLoop, NewestFrame, Received


# -- NewestFrame ----------------------------------------------------------------------------------
async def test_the_newest_frame_wins_and_replaced_frames_count_as_drops() -> None:
    slot: NewestFrame[str] = NewestFrame()
    for i, name in enumerate(("a", "b", "c")):
        slot.put(name, received_ms=2000.0 * i)
    assert (slot.received, slot.dropped) == (3, 2)
    item = await slot.take()
    assert item is not None and item.frame == "c" and item.received_ms == 4000.0
    assert slot.newest() is None and slot.take_nowait() is None
    slot.put("d", received_ms=6000.0)
    assert slot.dropped == 2  # an empty mailbox replaces nothing


async def test_take_waits_for_a_frame_and_close_ends_the_wait() -> None:
    slot: NewestFrame[str] = NewestFrame()
    waiting = asyncio.ensure_future(slot.take())
    await asyncio.sleep(0)
    assert not waiting.done()
    slot.put("a", received_ms=1.0)
    assert (await waiting).frame == "a"  # type: ignore[union-attr]
    closer = asyncio.ensure_future(slot.take())
    await asyncio.sleep(0)
    slot.close()
    assert await closer is None
    slot.put("late", received_ms=2.0)  # a frame already waiting at close is still handed out
    assert (await slot.take()).frame == "late"  # type: ignore[union-attr]
    assert await slot.take() is None


# -- AnalysisLoop ---------------------------------------------------------------------------------
class GatedAnalysis:
    """An analysis that waits for the test to release it, recording what it analysed and how many
    ran at once."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.started_at: list[float] = []
        self.running = 0
        self.most_at_once = 0
        self.gate = asyncio.Event()
        self.started = asyncio.Event()

    async def __call__(self, item: Received[str]) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        self.seen.append(item.frame)
        self.started_at.append(asyncio.get_running_loop().time())
        self.started.set()
        await self.gate.wait()
        self.gate.clear()
        self.running -= 1


def test_the_loop_refuses_a_rate_that_is_not_positive() -> None:
    with pytest.raises(ValueError):
        AnalysisLoop(NewestFrame(), 0.0, GatedAnalysis())


async def test_one_frame_in_flight_and_the_next_is_the_newest() -> None:
    slot: NewestFrame[str] = NewestFrame()
    analyse = GatedAnalysis()
    loop = AnalysisLoop(slot, 1000.0, analyse)
    runner = asyncio.ensure_future(loop.run())
    # frames 2 s apart (in their own clock): no inter-arrival estimate, so no waiting for fresher
    slot.put("f1", received_ms=0.0)
    await analyse.started.wait()
    analyse.started.clear()
    for i, name in enumerate(("f2", "f3", "f4"), start=1):
        slot.put(name, received_ms=2000.0 * i)  # arrive while f1 is in analysis
    analyse.gate.set()
    await analyse.started.wait()
    assert analyse.seen == ["f1", "f4"]  # f2 and f3 were replaced, never analysed
    assert analyse.most_at_once == 1
    assert slot.dropped == 2 and loop.dropped >= 2
    slot.close()
    analyse.gate.set()
    await runner  # closed and empty: the loop ends
    assert loop.analysed == 2


async def test_analyses_start_at_most_fps_times_a_second() -> None:
    slot: NewestFrame[str] = NewestFrame()
    analyse = GatedAnalysis()
    fps = 20.0
    loop = AnalysisLoop(slot, fps, analyse)
    runner = asyncio.ensure_future(loop.run())
    for i in range(4):
        slot.put(f"f{i}", received_ms=2000.0 * i)
        await analyse.started.wait()
        analyse.started.clear()
        analyse.gate.set()  # each analysis finishes at once: only the rate holds the next back
    slot.close()
    await runner
    # the k-th analysis starts no earlier than k periods after the first (the loop keeps to its
    # grid: one late start does not push the later ones back, nor let them catch up)
    since_first = [t - analyse.started_at[0] for t in analyse.started_at]
    resolution = time.get_clock_info("monotonic").resolution  # asyncio may wake a sleep this much early
    assert len(since_first) == 4
    assert all(s >= k / fps - resolution for k, s in enumerate(since_first)), since_first


# -- the session's state machine ------------------------------------------------------------------
class FakeStore:
    """The Store methods a session and the manager call, in memory, with a log of every write."""

    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.live: set[str] = set()
        self.writes: list[tuple[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.errors = 0

    async def session(self, sid: str) -> dict[str, Any] | None:
        return self.sessions.get(sid)

    async def session_field(self, sid: str, name: str) -> str | None:
        return self.sessions.get(sid, {}).get(name)

    async def update_session(self, sid: str, fields: dict[str, Any]) -> None:
        self.writes.append(("update", dict(fields)))
        self.sessions.setdefault(sid, {}).update(fields)

    async def set_live(self, sid: str, live: bool) -> None:
        self.writes.append(("set_live", live))
        (self.live.add if live else self.live.discard)(sid)

    async def append_events(self, sid: str, items: list[dict[str, Any]], state: Any = None) -> None:
        self.events.extend(items)

    async def get_json(self, key: str) -> None:
        return None

    async def exam_field(self, exam_id: str, name: str) -> None:
        return None

    async def publish(self, message: dict[str, Any]) -> None:
        pass

    async def expire_session(self, sid: str, seconds: int) -> None:
        self.writes.append(("expire", seconds))

    async def release_session(self, worker_id: str, sid: str) -> None:
        self.writes.append(("release", worker_id))


class FakePeer:
    """An RTCPeerConnection's surface the session uses: handlers by event name, a state, close."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[..., Any]] = {}
        self.connectionState = "new"
        self.closed = 0

    def on(self, event: str, handler: Callable[..., Any]) -> None:
        self.handlers[event] = handler

    def getReceivers(self) -> list[Any]:
        return []

    async def close(self) -> None:
        self.closed += 1

    async def becomes(self, state: str) -> None:
        self.connectionState = state
        await self.handlers["connectionstatechange"]()


class FakePipeline:
    def new_session(self) -> object:
        return object()


def writes_since(store: FakeStore, mark: int) -> list[tuple[str, Any]]:
    return [(kind, {k: v for k, v in w.items() if k not in ("disconnected_at", "ended_at")}
             if isinstance(w, dict) else w) for kind, w in store.writes[mark:]]


async def test_created_connecting_live_disconnected_ended_and_what_each_writes(tmp_path: Any) -> None:
    store = FakeStore()
    store.sessions["s1"] = {"session_id": "s1", "candidate_id": "c1", "exam_id": "demo", "status": "created",
                            "created_at": "100.0", "started_at": "100.0"}
    manager = SessionManager(settings=Settings(data_dir=tmp_path), store=store,  # type: ignore[arg-type]
                             pipeline=FakePipeline(), executor=None, tokens=None, worker_id="w1")  # type: ignore[arg-type]
    session = LiveSession(session_id="s1", candidate_id="c1", exam_id="demo", store=store,  # type: ignore[arg-type]
                          pipeline=FakePipeline(), executor=None, analysis_fps=5.0,  # type: ignore[arg-type]
                          risk=RiskSession(RiskEngine(Policy()), "s1"), on_gone=manager._on_gone)
    assert session.status == "created"
    session.start()
    manager.live["s1"] = session
    peer = FakePeer()
    session.attach_peer(peer)
    session.status = "connecting"  # what SessionManager.offer sets once the answer is made

    mark = len(store.writes)
    await peer.becomes("connected")
    assert session.status == "live" and session.connected_at is not None
    assert writes_since(store, mark) == [("update", {"status": "live"}), ("set_live", True)]

    mark = len(store.writes)
    await peer.becomes("failed")
    assert session.status == "disconnected" and session.gone_at is not None and session.pc is None
    assert peer.closed == 1  # the manager stopped the media
    writes = writes_since(store, mark)
    assert writes[0][0] == "update" and {"risk_state", "frames_received"} <= set(writes[0][1])  # state saved
    assert writes[1:] == [("update", {"status": "disconnected", "disconnect_reason": "peer failed"}),
                          ("set_live", False)]
    mark = len(store.writes)
    await peer.becomes("closed")  # a second goodbye changes nothing
    assert store.writes[mark:] == []

    summary = await manager.end("s1", now=160.0)
    assert session.status == "ended" and "s1" not in manager.live
    assert summary["verdict"] and summary["duration_seconds"] == 60.0
    kinds = [kind for kind, _ in store.writes[mark:]]
    assert kinds == ["set_live", "update", "expire", "release"]  # out of the live set before `ended`
    assert store.writes[mark][1] is False
    ended = store.writes[mark + 1][1]
    assert ended["status"] == "ended" and json.loads(ended["summary"]) == summary
    assert [e["kind"] for e in store.events][-1] == "verdict"  # the outbox flushed before it closed
    await session.aclose()  # closing again is a no-op
    assert peer.closed == 1


class FakeDataChannel:
    """An open channel whose unsent backlog the test sets."""

    readyState = "open"

    def __init__(self, buffered: int) -> None:
        self.bufferedAmount = buffered
        self.sent: list[str] = []

    def on(self, event: str, handler: Any) -> None:
        pass

    def send(self, text: str) -> None:
        self.sent.append(text)


def test_a_backlogged_channel_drops_analyses_first_and_listeners_still_get_them() -> None:
    from server.live.channel import MAX_ANALYSIS_BACKLOG_BYTES, MAX_CHANNEL_BUFFER_BYTES, SessionChannel
    from server.live.counters import Counters

    counters = Counters()
    channel = SessionChannel("s1", counters, dispatch=lambda msg: None, on_flood=lambda reason: None)
    heard: list[str] = []
    channel.listeners.add(heard.append)
    dc = FakeDataChannel(buffered=MAX_ANALYSIS_BACKLOG_BYTES + 1)
    channel.bind(dc)
    assert not channel.send({"type": "analysis", "frame_id": 1})  # newest wins: not queued behind a backlog
    assert channel.send({"type": "warning", "code": "x", "message": "y"})  # other messages still go
    dc.bufferedAmount = MAX_CHANNEL_BUFFER_BYTES + 1
    assert not channel.send({"type": "warning", "code": "x", "message": "y"})
    dc.bufferedAmount = 0
    assert channel.send({"type": "analysis", "frame_id": 2})
    assert [json.loads(t)["type"] for t in dc.sent] == ["warning", "analysis"]
    assert len(heard) == 4 and counters.dc_dropped == 2 and counters.dc_sent == 2
