"""Faults: Redis restarted mid-session, a model failing on frames, a full disk, a dropped network."""
from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.frame import VideoFrame
from pipeline.runner import Pipeline
from pipeline.stages.base import Stage, StageOutput
from server.store.embedded import EmbeddedValkey
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP, FACE_THEN_EMPTY, eventually, free_port

BROWSER_ORDER = ["paste", "fullscreen_exit", "devtools", "paste", "fullscreen_exit", "paste"]


async def test_redis_restart_mid_session_loses_no_event_and_keeps_order(
        vigil_server_factory, tmp_path: Path, ledger) -> None:
    valkey = EmbeddedValkey(tmp_path / "redis", port=free_port())
    url = valkey.start()
    from server.store.store import Store

    server = await vigil_server_factory()
    # point this server's store at its own Valkey, which we can stop and start
    server.store.redis = Store(url).redis
    client = CandidateClient(server.url, FACE_CLIP, candidate_id="redis-fault")
    try:
        await client.connect()
        await client.wait_for(lambda m: m.get("type") == "analysis", timeout=20)
        for event in BROWSER_ORDER[:2]:
            client.send({"type": "browser", "event": event})
            await asyncio.sleep(0.2)
        valkey.stop()
        ledger.injected("redis_restart")
        during = len(client.analyses())
        for event in BROWSER_ORDER[2:]:  # events while Redis is away are buffered in order
            client.send({"type": "browser", "event": event})
            await asyncio.sleep(0.3)
        await asyncio.sleep(2.0)
        assert len(client.analyses()) > during  # the candidate kept getting analyses
        valkey = EmbeddedValkey(tmp_path / "redis", port=int(url.rsplit(":", 1)[1]))
        valkey.start()

        async def flushed() -> bool:
            session = server.sessions.live.get(client.session_id)
            return session is not None and session.outbox.pending == 0 and session.outbox.retries > 0
        await eventually(flushed, 20, "the outbox to flush after Redis came back")
        events = await server.store.events(client.session_id)
        browser = [e["event"] for e in events if e["kind"] == "browser"]
        assert browser == BROWSER_ORDER
        ledger.checked_events(len(BROWSER_ORDER), len(browser))
        started = [e["event"]["id"] for e in events if e["kind"] == "event_started"]
        assert len(started) == len(set(started))  # no duplicates from the retries
        assert [i for i in started if i.startswith("paste")] == ["paste-1", "paste-2", "paste-3"]
        summary = await client.end()
        assert summary["counts"]["paste"] == 3 and summary["counts"]["fullscreen_exit"] == 2
    finally:
        await client.close()
        valkey.stop()


class FlakyStage(Stage):
    """Raises on every other frame: a model that fails on some inputs."""

    name = "flaky"

    def process(self, frame: VideoFrame, upstream: Mapping[str, StageOutput], state: Any) -> None:
        if frame.frame_id % 2 == 0:
            raise RuntimeError("model blew up on this frame")
        return None


async def test_a_model_failing_on_frames_is_counted_and_the_session_goes_on(
        vigil_server_factory, loaded_pipeline, ledger) -> None:
    flaky = FlakyStage()
    flaky.try_load()
    pipeline = Pipeline([*loaded_pipeline.stages[:2], flaky])  # quality, faces, flaky
    server = await vigil_server_factory()
    server.sessions.pipeline = pipeline  # new sessions on this server run the flaky pipeline
    client = CandidateClient(server.url, FACE_CLIP, candidate_id="model-fault")
    try:
        await client.connect()
        await client.wait_for(lambda m: m.get("type") == "analysis" and m["stages"]["flaky"]["status"] == "error",
                              timeout=20)
        ledger.injected("model_failure")
        await asyncio.sleep(2.0)
        statuses = [r.message["stages"]["flaky"]["status"] for r in client.analyses()]
        assert "error" in statuses and len(statuses) >= 5
        assert all(r.message["faces"] == 1 for r in client.analyses()[-3:])  # the other stages still work
        session = server.sessions.live[client.session_id]
        assert session.session_pipeline.errors["flaky"] >= 2
        async with client.http.get(server.url + "/metrics") as resp:  # type: ignore[union-attr]
            assert 'vigil_stage_errors_total{stage="flaky",worker=' in await resp.text()
    finally:
        await client.close()


def _mount_full_tmpfs(path: Path) -> bool:
    """A real full disk: a 64 kB tmpfs filled up. Needs root; False where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        return False
    with open(path / "filler", "wb") as fh:
        try:
            fh.write(b"\0" * 128 * 1024)
        except OSError:
            pass
    return True


async def test_a_full_disk_for_evidence_is_reported_and_the_session_goes_on(
        vigil_server_factory, tmp_path: Path, ledger) -> None:
    data_dir = tmp_path / "var"
    evidence = data_dir / "evidence"
    mounted = _mount_full_tmpfs(evidence)
    if not mounted:  # not root: a file where the folder should be fails the same way (OSError)
        data_dir.mkdir(parents=True, exist_ok=True)
        evidence.write_bytes(b"not a directory")
    server = await vigil_server_factory(data_dir=data_dir)
    client = CandidateClient(server.url, FACE_THEN_EMPTY, candidate_id="disk-fault")
    try:
        await client.connect()
        await client.wait_for(lambda m: m.get("type") == "analysis", timeout=20)
        client.send({"type": "browser", "event": "paste"})
        ledger.injected("disk_full" if mounted else "evidence_dir_unwritable")

        async def reported() -> bool:
            return any(e["kind"] == "evidence_error" for e in await server.store.events(client.session_id))
        await eventually(reported, 20, "an evidence_error in the stream")
        before = len(client.analyses())
        await asyncio.sleep(1.5)
        assert len(client.analyses()) > before
        summary = await client.end()
        assert summary["counts"]["paste"] == 1
    finally:
        await client.close()
        if mounted:
            await asyncio.to_thread(subprocess.run, ["umount", str(evidence)], capture_output=True)


async def test_network_drop_and_resume_keeps_history(vigil_server, ledger) -> None:
    client = CandidateClient(vigil_server.url, FACE_CLIP, candidate_id="net-drop")
    try:
        await client.connect()
        await client.wait_for(lambda m: m.get("type") == "analysis", timeout=20)
        client.send({"type": "browser", "event": "paste"})
        await client.wait_for(lambda m: any(e["type"] == "paste" for e in m.get("events", [])), timeout=10)
        await client.drop()
        ledger.injected("network_drop")

        async def disconnected() -> bool:
            return (await vigil_server.store.session(client.session_id))["status"] == "disconnected"
        await eventually(disconnected, 15, "disconnected")
        await client.connect(resume=True)
        mark = len(client.messages)
        client.send({"type": "browser", "event": "paste"})
        second = await client.wait_for(lambda m: any(e["type"] == "paste" and e["state"] == "started"
                                                     for e in m.get("events", [])), timeout=15, after=mark)
        assert any(e["id"] == "paste-2" for e in second.message["events"])
        summary = await client.end()
        assert summary["counts"]["paste"] == 2
        events = await vigil_server.store.events(client.session_id)
        ledger.checked_events(2, len([e for e in events if e["kind"] == "event_started" and e["event"]["type"] == "paste"]))
    finally:
        await client.close()


async def test_data_channel_flood_is_cut_off_and_the_bystander_goes_on(vigil_server, ledger) -> None:
    """A burst far past the channel's budget (3000 messages at once, then more until cut off) costs its sender its connection:
    dropped and counted first, then cut off with a warning and `disconnected` with the reason; another
    candidate on the same worker keeps being analysed (tests/reliability/test_isolation.py measures it)."""
    victim = CandidateClient(vigil_server.url, FACE_CLIP, candidate_id="flooder")
    bystander = CandidateClient(vigil_server.url, FACE_CLIP, candidate_id="calm")
    try:
        await victim.connect()
        await bystander.connect()
        await bystander.wait_for(lambda m: m.get("type") == "analysis", timeout=20)
        session = vigil_server.sessions.live[victim.session_id]
        sent = 0

        async def cut_off() -> bool:
            """3000 at once, then more while the channel is open: on a loaded host SCTP delivers a burst
            slowly, and a slow flood spends the tolerance slowly (`server.live.channel`)."""
            nonlocal sent
            data = await vigil_server.store.session(victim.session_id)
            if bool(data) and data.get("status") == "disconnected":
                return True
            burst = 3000 if sent == 0 else 300
            while burst and victim.channel.readyState == "open" and victim.channel.bufferedAmount < 256_000:
                victim.channel.send("junk" if sent % 2 else '{"type":"browser","event":"paste"}')
                sent, burst = sent + 1, burst - 1
            return False
        await eventually(cut_off, 60, "the flooder to be cut off")
        ledger.tried("datachannel_flood", sent)
        data = await vigil_server.store.session(victim.session_id)
        assert "flood" in (data.get("disconnect_reason") or ""), data.get("disconnect_reason")
        assert session.counters.dc_rate_limited > 0
        before = len(bystander.analyses())
        await asyncio.sleep(1.5)
        assert len(bystander.analyses()) > before
        assert (await vigil_server.store.session(bystander.session_id))["status"] == "live"
    finally:
        await victim.close()
        await bystander.close()
