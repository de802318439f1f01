"""Two workers on one machine, one Valkey: placement, fan-out, and a worker crash losing nothing."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from server.store.keys import LIVE_CHANNEL
from server.store.store import Store
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP, REPO, eventually, free_port

pytestmark = pytest.mark.slow


@pytest.fixture
async def two_workers(valkey_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    env = dict(os.environ, REDIS_URL=valkey_url, VIGIL_DATA_DIR=str(tmp_path / "var"), VIGIL_LOG_LEVEL="WARNING")
    # Popen returns once the child is forked: the workers run in their own process group
    proc = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-m", "server.cli", "serve", "--workers", "2", "--port", str(port)],
        cwd=REPO, env=env, start_new_session=True)
    store = Store(valkey_url)
    base = f"http://127.0.0.1:{port}"
    try:
        async def two_alive() -> bool:
            rows = await store.workers()
            mine = [w for w, r in rows.items() if r.get("url") and int(w.rsplit("-", 1)[1]) != os.getpid()]
            return len(mine) >= 2
        await eventually(two_alive, 120, "two workers to beat")
        yield base, store
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        await store.close()


async def load_reported(store: Store, session_ids: list[str], within_s: float = 20.0) -> None:
    """Wait until each worker holding one of `session_ids` reports at least its share of them in its
    heartbeat: placement reads the load from there, so the next session goes to the less loaded worker
    only once this load is known (a fixed sleep of one heartbeat was not enough on a busy machine)."""
    holders = Counter([(await store.session(sid))["worker"] for sid in session_ids])
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        workers = await store.workers()
        if all(int(workers.get(w, {}).get("sessions", 0)) >= n for w, n in holders.items()):
            return
        assert asyncio.get_running_loop().time() < deadline, (holders, workers)
        await asyncio.sleep(0.2)


async def test_two_workers_spread_sessions_and_survive_a_crash(two_workers) -> None:  # type: ignore[no-untyped-def]
    base, store = two_workers
    sub = aioredis.Redis.from_url(store.url, decode_responses=True).pubsub()
    await sub.subscribe(LIVE_CHANNEL)
    clients = [CandidateClient(base, FACE_CLIP, candidate_id=f"cand-{i}") for i in range(4)]
    try:
        for placed, client in enumerate(clients, start=1):
            await client.connect()
            await client.wait_for(lambda m: m.get("type") == "analysis", timeout=30)
            await load_reported(store, [str(c.session_id) for c in clients[:placed]])  # placement sees it
        hosts = {c.session_id: (await store.session(c.session_id))["worker"] for c in clients}
        assert len(set(hosts.values())) == 2, hosts  # placed on both workers

        # live fan-out: status messages of sessions on both workers reach one subscriber
        seen: set[str] = set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(seen) < 2:
            msg = await sub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if msg and json.loads(msg["data"]).get("type") == "status":
                seen.add(json.loads(msg["data"])["worker"])
        assert len(seen) == 2

        # kill the worker hosting the first candidate, hard
        victim = clients[0]
        victim_worker = hosts[victim.session_id]
        events_before = len(await store.events(victim.session_id))
        victim.send({"type": "browser", "event": "paste"})  # an event before the crash
        await eventually(lambda: _has_kind(store, victim.session_id, "browser"), 10, "the paste to be logged")
        os.kill(int(victim_worker.rsplit("-", 1)[1]), signal.SIGKILL)

        async def disconnected() -> bool:
            return (await store.session(victim.session_id))["status"] == "disconnected"
        await eventually(disconnected, 15, "the dead worker's session to be marked disconnected")
        others = [c for c in clients[1:] if hosts[c.session_id] != victim_worker]
        for c in others:  # sessions on the surviving worker are untouched
            assert (await store.session(c.session_id))["status"] == "live"

        # resume: lands on a live worker, same session, same event stream
        await victim.drop()
        await victim.connect(resume=True)
        await victim.wait_for(lambda m: m.get("type") == "analysis" and m["received_ms"] > time.time() * 1000 - 3000,
                              timeout=30)
        data = await store.session(victim.session_id)
        assert data["worker"] != victim_worker and data["status"] == "live"
        mark = len(victim.messages)
        victim.send({"type": "browser", "event": "paste"})
        second = await victim.wait_for(lambda m: m.get("type") == "analysis" and any(
            e["type"] == "paste" and e["state"] == "started" for e in m.get("events", [])), timeout=15, after=mark)
        assert any(e["id"] == "paste-2" for e in second.message["events"])  # numbering continued
        summary = await victim.end()
        events = await store.events(victim.session_id)
        assert len(events) > events_before
        pastes = [e for e in events if e["kind"] == "event_started" and e["event"]["type"] == "paste"]
        assert len(pastes) == 2  # one before the crash, one after: history intact
        assert summary["counts"].get("paste") == 2
    finally:
        await sub.aclose()
        for c in clients:
            await c.close()


async def _has_kind(store: Store, sid: str, kind: str) -> bool:
    return any(e["kind"] == kind for e in await store.events(sid))


async def test_one_scrape_sees_both_workers(two_workers) -> None:  # type: ignore[no-untyped-def]
    """Under --workers 2 a scrape lands on either worker (the kernel spreads connections); that worker
    fetches its peer's metrics, so every scrape holds both workers' samples, each naming its worker."""
    import aiohttp
    from prometheus_client.parser import text_string_to_metric_families

    base, store = two_workers
    expected = {w for w, r in (await store.workers()).items() if r.get("url") and int(w.rsplit("-", 1)[1]) != os.getpid()}
    for _ in range(6):  # fresh connections: the scrapes land on both workers
        async with aiohttp.ClientSession() as http, http.get(base + "/metrics") as resp:
            assert resp.status == 200
            text = await resp.text()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        assert None not in {s.labels.get("worker") for f in families.values() for s in f.samples}
        for name in ("vigil_sessions_live", "process_resident_memory_bytes", "vigil_worker_load"):
            assert {s.labels["worker"] for s in families[name].samples} == expected, (name, expected)
        names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
        assert len(names) == len(set(names)), "a family declared twice"  # one family, both workers' samples


async def test_thumbnails_and_messages_reach_sessions_on_either_worker(two_workers) -> None:  # type: ignore[no-untyped-def]
    """The dashboard's calls on a candidate work wherever they land: a thumbnail from Redis on any worker,
    a message routed to the worker that holds the candidate's peer (fresh connections: either worker)."""
    import aiohttp

    from tests.test_accounts import login, make_user, new_exam

    base, store = two_workers
    email = await make_user(store, "proctor")
    async with aiohttp.ClientSession() as http:
        token = await login(http, base, email)
        exam = await new_exam(http, base, token)
    clients = [CandidateClient(base, FACE_CLIP, candidate_id=f"grid-{i}", join_code=exam["join_code"]) for i in range(2)]
    try:
        for placed, client in enumerate(clients, start=1):
            await client.connect()
            await client.wait_for(lambda m: m.get("type") == "analysis", timeout=30)
            await load_reported(store, [str(c.session_id) for c in clients[:placed]])  # the next: the other worker
        hosts = {(await store.session(c.session_id))["worker"] for c in clients}
        assert len(hosts) == 2, hosts  # one candidate on each worker
        auth = {"Authorization": f"Bearer {token}"}
        for client in clients:
            for _ in range(6):  # fresh connections: the kernel spreads them over both workers
                async with aiohttp.ClientSession() as http, \
                        http.get(f"{base}/api/sessions/{client.session_id}/thumbnail.jpg", headers=auth) as resp:
                    body = await resp.read()
                    assert resp.status == 200 and resp.content_type == "image/jpeg", (resp.status, body[:200])
                    assert body[:2] == b"\xff\xd8"
            text = f"hello {client.candidate_id}"
            async with aiohttp.ClientSession() as http, http.post(
                    f"{base}/api/sessions/{client.session_id}/message", headers=auth, json={"text": text}) as resp:
                sent = await resp.json()
                assert resp.status == 200 and sent["delivered"], sent
            got = await client.wait_for(lambda m, text=text: m.get("type") == "proctor.message" and m["text"] == text,
                                        timeout=10)
            assert got.message["at"] == sent["at"]
            await eventually(lambda sid=client.session_id: _has_kind(store, sid, "proctor_message"), 10,
                             "the message in the event stream (written through the outbox)")
    finally:
        for client in clients:
            await client.close()
