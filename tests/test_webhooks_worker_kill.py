"""Webhooks across a real worker kill: `vigil serve --workers 2`, real aiortc candidates, SIGKILL.

Two candidates (the face-then-empty clip, looping, so `no_face` starts and ends again and again) sit
an exam with a webhook, one on each worker; the receiver in the test verifies every Standard Webhooks
signature. Once an event has started, the worker holding the delivery lease is killed with SIGKILL
(no clean-up: its lease lapses after `HOOK_LEASE_S`; whatever it had fanned out but not acknowledged
is sent again by the survivor, under the same id). It also held one candidate's peer: that candidate
resumes on the survivor and has a further event. Both sessions end, and a proctor decides the resumed
one's review. Within a bounded wait the receiver has, de-duplicated by `webhook-id`, every expected
type of each session, every event start and end of their streams exactly once, and one
`session.created` and `session.ended` per session.
"""
from __future__ import annotations

import os
import signal
import time
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from server.store.keys import HOOK_LEASE
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_THEN_EMPTY, RunningServer, eventually
from tests.test_accounts import call, logged_in, new_exam
from tests.test_scale_out import load_reported, two_workers  # noqa: F401 (fixture)
from tests.test_webhooks import Receiver

pytestmark = pytest.mark.slow

#: from the kill to every expected message at the receiver (the lease lapses within 10 s; a resume,
#: a further event of the looping clip, the end and the review take the rest)
DELIVERED_WITHIN_S = 90.0
ALWAYS = ("session.created", "session.live", "event.started", "event.ended", "session.ended", "review.decided")
#: the event stream's kinds and the webhook types that announce them
HOOK_TYPE = {"event_started": "event.started", "event_ended": "event.ended"}


def _pid(worker_id: str) -> int:
    return int(worker_id.rsplit("-", 1)[1])


def _no_face_started(m: dict[str, Any]) -> bool:
    return m.get("type") == "analysis" and any(
        e["type"] == "no_face" and e["state"] == "started" for e in m.get("events", []))


async def test_every_webhook_arrives_after_the_delivering_worker_is_killed(two_workers) -> None:  # noqa: F811
    base, store = two_workers
    _, proctor = await logged_in(RunningServer(base, app=None, settings=None, store=store), "proctor")
    receiver = Receiver()
    redis = aioredis.Redis.from_url(store.url, decode_responses=True)
    clients: list[CandidateClient] = []
    async with aiohttp.ClientSession() as http:
        exam = await new_exam(http, base, proctor)
        status, hook = await call(http, "POST", f"{base}/api/exams/{exam['exam_id']}/webhooks", proctor,
                                  json={"url": receiver.url})
        assert status == 201, hook
        receiver.secret = hook["secret"]
        await receiver.up()
        try:
            for i in range(2):
                client = CandidateClient(base, FACE_THEN_EMPTY, candidate_id=f"hooked-{i}",
                                         join_code=exam["join_code"], with_audio=False)
                clients.append(client)
                await client.connect()
                await client.wait_for(lambda m: m.get("type") == "analysis", timeout=30)
                await load_reported(store, [str(c.session_id) for c in clients])  # known load: the next goes to the other
            sids = [str(c.session_id) for c in clients]
            hosts = {sid: (await store.session(sid))["worker"] for sid in sids}
            assert len(set(hosts.values())) == 2, hosts

            async def both_live() -> bool:
                return {body["data"]["session_id"] for body in receiver.of_type("session.live")} == set(sids)
            await eventually(both_live, 30, "session.live of both sessions delivered")
            await clients[0].wait_for(_no_face_started, timeout=40)

            holder = await redis.get(HOOK_LEASE)
            assert holder in hosts.values(), (holder, hosts)
            os.kill(_pid(holder), signal.SIGKILL)
            killed_at = time.monotonic()
            victim = next(c for c in clients if hosts[str(c.session_id)] == holder)
            vsid = str(victim.session_id)

            async def disconnected() -> bool:
                return (await store.session(vsid))["status"] == "disconnected"
            await eventually(disconnected, 20, "the dead worker's session to be marked disconnected")
            await victim.drop()
            await victim.connect(resume=True)
            mark = len(victim.messages)
            await victim.wait_for(_no_face_started, timeout=40, after=mark)  # an event after the kill
            for client in clients:
                await client.end()
            status, _ = await call(http, "PATCH", f"{base}/api/sessions/{vsid}/review", proctor,
                                   json={"decision": {"decision": "violation", "note": "away from the desk"}})
            assert status == 200
            expected = {(sid, kind) for sid in sids for kind in ALWAYS if kind != "review.decided"} | {
                (vsid, "session.disconnected"), (vsid, "review.decided")}
            changes = {(sid, HOOK_TYPE[item["kind"]], item["event"]["id"])
                       for sid in sids for item in await store.events(sid) if item["kind"] in HOOK_TYPE}

            async def all_delivered() -> bool:
                unique = [body for _, body in receiver.unique()]
                return expected <= {(b["data"]["session_id"], b["type"]) for b in unique} and changes <= {
                    (b["data"]["session_id"], b["type"], b["data"]["event"]["id"]) for b in unique
                    if b["type"] in HOOK_TYPE.values()}
            await eventually(all_delivered, DELIVERED_WITHIN_S - (time.monotonic() - killed_at),
                             "every webhook after the kill")
        finally:
            for client in clients:
                await client.close()
            await receiver.down()
            await redis.aclose()

    assert receiver.refused_signatures == 0
    unique = [body for _, body in receiver.unique()]
    assert {b["data"]["session_id"] for b in unique} == set(sids)
    for kind, count in (("session.created", 2), ("session.ended", 2), ("review.decided", 1)):
        assert len(receiver.of_type(kind)) == count, (kind, [b["type"] for b in unique])
    delivered = [(b["data"]["session_id"], b["type"], b["data"]["event"]["id"]) for b in unique
                 if b["type"] in HOOK_TYPE.values()]
    assert sorted(delivered) == sorted(changes), (delivered, changes)  # each change once
