"""Signed webhooks (docs/integration.md): the Standard Webhooks signature, and delivery of a real session.

A receiver in the test verifies every request's signature and records it. A scripted candidate (real
aiortc peer, the face-then-empty clip, so the risk engine raises and ends events) sits an exam with a
webhook; the receiver goes away for ~10 s in the middle; the session ends and a proctor records a
decision. After de-duplication by `webhook-id` the receiver has every change exactly once, in order.
A worker that dies holding the delivery lease is replaced and its unacknowledged message is sent
again under the same id.
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
from aiohttp import web

from server.accounts.webhooks import sign, signed_headers, verify
from server.cluster.webhooks import WebhookDelivery, retry_after
from server.store.keys import HOOK_LEASE_S
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_THEN_EMPTY, eventually, free_port
from tests.test_accounts import call, logged_in, new_exam

#: the Standard Webhooks specification's published example
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TS, SPEC_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_signature_is_the_specifications_example() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE
    headers = signed_headers(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY)
    assert verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TS + 10)
    assert not verify(SPEC_SECRET, headers, SPEC_BODY + b" ", now=SPEC_TS)  # a changed body
    assert not verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TS + 3600)  # a replay an hour later
    assert verify(SPEC_SECRET, {**headers, "webhook-signature": "v1,bm9wZQ== " + SPEC_SIGNATURE}, SPEC_BODY, SPEC_TS)


def test_retries_back_off_and_never_stop() -> None:
    delays = [retry_after(n) for n in range(1, 12)]
    assert delays == sorted(delays) and delays[0] == 0.5 and delays[-1] == 60.0


class Receiver:
    """An integrator's endpoint: verifies, records, answers 204; `down()` makes its port refuse."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.secret = ""
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.refused_signatures = 0
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(self.secret, request.headers, body, time.time()):
            self.refused_signatures += 1
            return web.Response(status=401)
        self.received.append((request.headers["webhook-id"], json.loads(body)))
        return web.Response(status=204)

    async def up(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def down(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def unique(self) -> list[tuple[str, dict[str, Any]]]:
        """Each message once, by id, in the order first received."""
        seen: dict[str, dict[str, Any]] = {}
        for msg_id, body in self.received:
            seen.setdefault(msg_id, body)
        return list(seen.items())

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [body for _, body in self.unique() if body["type"] == kind]


def _order(msg_id: str) -> tuple[int, int]:
    ms, seq = msg_id.removeprefix("msg_").split("-")
    return int(ms), int(seq)


async def test_a_receiver_sees_every_change_of_a_real_session_once_in_order_across_an_outage(vigil_server) -> None:
    base = vigil_server.url
    _, proctor = await logged_in(vigil_server, "proctor")
    receiver = Receiver()
    client: CandidateClient | None = None
    async with aiohttp.ClientSession() as http:
        exam = await new_exam(http, base, proctor)
        status, hook = await call(http, "POST", f"{base}/api/exams/{exam['exam_id']}/webhooks", proctor,
                                  json={"url": receiver.url})
        assert status == 201 and hook["secret"].startswith("whsec_"), hook
        receiver.secret = hook["secret"]
        await receiver.up()
        deliveries = f"{base}/api/exams/{exam['exam_id']}/webhooks/{hook['webhook_id']}/deliveries"
        try:
            client = CandidateClient(base, FACE_THEN_EMPTY, candidate_id="hooked-1", join_code=exam["join_code"],
                                     with_audio=False)
            await client.create()
            await client.connect()
            await eventually(lambda: _true(bool(receiver.of_type("session.live"))), 30, "session.live delivered")

            await receiver.down()  # the integrator's endpoint is away while the candidate's face goes
            await client.wait_for(lambda m: m.get("type") == "analysis" and any(
                e["type"] == "no_face" and e["state"] == "started" for e in m.get("events", [])), timeout=40)
            await asyncio.sleep(10)
            status, log = await call(http, "GET", deliveries, proctor)
            assert status == 200 and log["pending"] > 0, log
            assert any(not d["ok"] and d["status"] is None for d in log["deliveries"]), log  # refused connections
            await receiver.up()

            await client.end()
            status, _ = await call(http, "PATCH", f"{base}/api/sessions/{client.session_id}/review", proctor,
                                   json={"decision": {"decision": "violation", "note": "left the room"}})
            assert status == 200
            await eventually(lambda: _true(bool(receiver.of_type("review.decided"))), 90, "review.decided delivered")
            status, log = await call(http, "GET", deliveries, proctor)
            assert status == 200 and log["pending"] == 0, log
            status, stream = await call(http, "GET", f"{base}/api/sessions/{client.session_id}/events", proctor)
            assert status == 200
        finally:
            if client is not None:
                await client.close()
            await receiver.down()

    assert receiver.refused_signatures == 0
    unique = receiver.unique()
    ids = [msg_id for msg_id, _ in unique]
    assert ids == sorted(ids, key=_order), "messages arrived out of order"
    assert all(body["data"]["session_id"] == client.session_id for _, body in unique)
    assert [body["type"] for _, body in unique][:2] == ["session.created", "session.live"]
    assert len(receiver.of_type("session.created")) == 1 and len(receiver.of_type("session.ended")) == 1
    items = stream["events"]
    for kind, hook_type in (("event_started", "event.started"), ("event_ended", "event.ended")):
        in_stream = [item["event"]["id"] for item in items if item["kind"] == kind]
        delivered = [body["data"]["event"]["id"] for body in receiver.of_type(hook_type)]
        assert in_stream and delivered == in_stream, (kind, in_stream, delivered)  # each once, in order
    ended = receiver.of_type("session.ended")[0]["data"]
    assert ended["verdict"] == ended["summary"]["verdict"] and ended["coverage"] is not None and ended["summary"]["session_id"] == client.session_id
    decided = receiver.of_type("review.decided")
    assert len(decided) == 1 and decided[0]["data"]["decision"]["decision"] == "violation"


async def _true(value: bool) -> bool:
    return value


async def test_a_worker_dying_with_the_lease_is_replaced_and_its_unacknowledged_message_sent_again(
        valkey_url) -> None:
    import uuid

    from server.accounts.webhooks import new_secret
    from server.protocol.http import WEBHOOK_TYPES
    from server.store.store import Store

    store = Store(valkey_url)
    receiver = Receiver()
    receiver.secret = new_secret()
    await receiver.up()
    dead, alive = WebhookDelivery(store, f"dying-{uuid.uuid4().hex[:6]}"), WebhookDelivery(store, "replacement")
    try:
        exam_id, wid, sid = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
        await store.webhooks.create(wid, exam_id, {"webhook_id": wid, "exam_id": exam_id, "url": receiver.url,
                                                   "secret": receiver.secret, "events": json.dumps(WEBHOOK_TYPES)})
        now = time.time()
        await store.create_session(sid, {"session_id": sid, "exam_id": exam_id, "candidate_id": "lease-1",
                                         "status": "created", "created_at": now}, now)
        await store.update_session(sid, {"status": "live"})

        # the first worker takes the lease, queues both messages, sends the first and dies before removing it
        assert await store.webhooks.take_lease(dead.worker_id, HOOK_LEASE_S)
        await dead.fan_out()
        endpoint = await store.webhooks.get(wid)
        assert endpoint is not None
        (entry_id, first), *_ = await store.webhooks.queue_head(wid, 10)
        assert await dead._attempt(endpoint, first, 1)
        assert [m for m, _ in receiver.received] == [first["id"]]

        await alive.run_once()  # the lease is still the dead worker's: nothing happens
        assert len(receiver.received) == 1 and await store.webhooks.queue_length(wid) == 2

        async def replaced() -> bool:
            await alive.run_once()
            return await store.webhooks.queue_length(wid) == 0

        await eventually(replaced, HOOK_LEASE_S * 3, "the replacement to deliver")
        assert [m for m, _ in receiver.received][:2] == [first["id"], first["id"]]  # again, under the same id
        assert [body["type"] for _, body in receiver.unique()] == ["session.created", "session.live"]
        assert receiver.refused_signatures == 0
    finally:
        await dead.close()
        await alive.close()
        await receiver.down()
        await store.close()
