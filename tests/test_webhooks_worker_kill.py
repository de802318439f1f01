"""Webhooks across a real worker kill: `vigil serve --workers 2`, a real aiortc candidate, SIGKILL.

The candidate (the face-then-empty clip, looping, so `no_face` starts and ends again and again) sits
an exam with a webhook; the receiver in the test verifies every Standard Webhooks signature. Once an
event has started, the worker holding the delivery lease is killed with SIGKILL (no clean-up: its
lease lapses after `HOOK_LEASE_S`, whatever it had fanned out but not acknowledged is sent again by
the survivor). When that worker also held the candidate's peer, the candidate resumes on the
survivor. The session goes on to a further event, ends, and a proctor decides its review. Within a
bounded wait the receiver has, de-duplicated by `webhook-id`, every expected type, each event start
and end of the session's stream, one `session.created`, one `session.ended` and one `review.decided`.
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
from tests.test_scale_out import two_workers  # noqa: F401 (fixture)
from tests.test_webhooks import Receiver

pytestmark = pytest.mark.slow

#: from the kill to every expected message at the receiver (the lease lapses within 10 s; a resume,
#: a further event of the looping clip, the end and the review take the rest)
DELIVERED_WITHIN_S = 90.0
ALWAYS = ("session.created", "session.live", "event.started", "event.ended", "session.ended", "review.decided")


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
    client: CandidateClient | None = None
    async with aiohttp.ClientSession() as http:
        exam = await new_exam(http, base, proctor)
        status, hook = await call(http, "POST", f"{base}/api/exams/{exam['exam_id']}/webhooks", proctor,
                                  json={"url": receiver.url})
        assert status == 201, hook
        receiver.secret = hook["secret"]
        await receiver.up()
        try:
            client = CandidateClient(base, FACE_THEN_EMPTY, candidate_id="hooked-kill", join_code=exam["join_code"],
                                     with_audio=False)
            await client.connect()
            sid = client.session_id
            assert sid is not None
            await eventually(lambda: _true(bool(receiver.of_type("session.live"))), 30, "session.live delivered")
            await client.wait_for(_no_face_started, timeout=40)

            holder = await redis.get(HOOK_LEASE)
            workers = await store.workers()
            assert holder in workers, (holder, list(workers))
            host = (await store.session(sid))["worker"]
            os.kill(_pid(holder), signal.SIGKILL)
            killed_at = time.monotonic()

            if host == holder:  # the candidate's peer died too: it resumes on the survivor
                async def disconnected() -> bool:
                    return (await store.session(sid))["status"] == "disconnected"
                await eventually(disconnected, 20, "the dead worker's session to be marked disconnected")
                await client.drop()
                await client.connect(resume=True)
            mark = len(client.messages)
            await client.wait_for(_no_face_started, timeout=40, after=mark)  # an event after the kill
            await client.end()
            status, _ = await call(http, "PATCH", f"{base}/api/sessions/{sid}/review", proctor,
                                   json={"decision": {"decision": "violation", "note": "away from the desk"}})
            assert status == 200
            expected = ALWAYS + (("session.disconnected",) if host == holder else ())
            stream = await store.events(sid)
            changes = {(("event.started" if item["kind"] == "event_started" else "event.ended"), item["event"]["id"])
                       for item in stream if item["kind"] in ("event_started", "event_ended")}

            async def all_delivered() -> bool:
                got = {body["type"] for _, body in receiver.unique()}
                events = {(body["type"], body["data"]["event"]["id"]) for _, body in receiver.unique()
                          if body["type"] in ("event.started", "event.ended")}
                return set(expected) <= got and changes <= events
            await eventually(all_delivered, DELIVERED_WITHIN_S - (time.monotonic() - killed_at),
                             "every webhook after the kill")
        finally:
            if client is not None:
                await client.close()
            await receiver.down()
            await redis.aclose()

    assert receiver.refused_signatures == 0
    unique = receiver.unique()
    assert all(body["data"]["session_id"] == sid for _, body in unique)
    for kind in ("session.created", "session.ended", "review.decided"):
        assert len(receiver.of_type(kind)) == 1, (kind, [body["type"] for _, body in unique])
    delivered = [(body["type"], body["data"]["event"]["id"]) for _, body in unique
                 if body["type"] in ("event.started", "event.ended")]
    assert len(delivered) == len(set(delivered)) == len(changes), (delivered, changes)  # each change once


async def _true(value: bool) -> bool:
    return value
