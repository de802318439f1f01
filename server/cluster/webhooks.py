"""Webhook delivery: from the feed of session changes to each endpoint, in order, retried, logged.

Where messages come from: every change webhooks announce (a session created, live, disconnected; an
event started or ended; the verdict; a review's decision) is appended to one Redis stream, the feed,
in the same transaction as the change itself (`server.store.records.add_to_feed`, called by the
store): a worker that dies right after a change cannot lose its webhook.

One worker at a time delivers, the holder of a lease it renews every pass (`HOOK_LEASE_S`); when it
dies another takes over once the lease lapses. Each pass:

1. fan-out: the feed entries after the cursor become messages (id `msg_<feed entry id>`, the body
   built once) appended to the queue of every endpoint of the session's exam that wants the type;
   then the cursor moves and the feed is trimmed behind it;
2. send: each endpoint's queue is sent oldest first, one message at a time, signed per Standard
   Webhooks (`server.accounts.webhooks`). A 2xx removes the message; anything else stops that
   endpoint's queue (later messages wait: order is kept) until a retry time that backs off from
   `RETRY_MIN_S` to `RETRY_MAX_S`, forever: a receiver down for hours gets everything when it returns.
   Every attempt goes to the endpoint's delivery log.

At-least-once: a worker dying between a step and its bookkeeping (between fan-out and the cursor
move, between a 2xx and the removal) makes the next holder repeat it; the repeat has the same
`webhook-id`, so a receiver de-duplicates by it. Endpoints are sent concurrently; a pass stops
starting new attempts after `PASS_BUDGET_S`, well inside the lease.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp

from server.accounts.webhooks import signed_headers
from server.core.strict_json import dumps
from server.store.keys import HOOK_LEASE_S
from server.store.store import Store

log = logging.getLogger(__name__)

#: how often the holder of the lease fans out and sends
PERIOD_S = 0.5
#: feed entries fanned out per read, reads per pass; messages sent per endpoint per pass
FEED_BATCH = 200
FEED_BATCHES_PER_PASS = 10
SEND_BATCH = 50
#: one attempt's time limit, and a pass's time for starting attempts (sum well below the lease)
ATTEMPT_TIMEOUT_S = 5.0
PASS_BUDGET_S = HOOK_LEASE_S / 2 - ATTEMPT_TIMEOUT_S / 2
RETRY_MIN_S = 0.5
RETRY_MAX_S = 60.0


def retry_after(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failures in a row: doubling, capped."""
    return float(min(RETRY_MAX_S, RETRY_MIN_S * 2 ** max(0, attempts - 1)))


def entry_time(entry_id: str) -> float:
    """A Redis stream entry id's time (`<ms>-<seq>`): when the change was written."""
    return int(entry_id.split("-", 1)[0]) / 1000


def message_body(kind: str, entry_id: str, sid: str, session: dict[str, str], detail: dict[str, Any]) -> str:
    """The JSON body of one message: `{"type", "timestamp", "data"}` as Standard Webhooks suggests."""
    data: dict[str, Any] = {"session_id": sid, "exam_id": session.get("exam_id") or detail.get("exam_id"),
                            "candidate_id": session.get("candidate_id") or detail.get("candidate_id")}
    if kind == "session.disconnected":
        data["reason"] = detail.get("disconnect_reason")
    elif kind in ("event.started", "event.ended"):
        data["event"] = detail.get("event")
    elif kind == "session.ended":
        summary = detail.get("summary") or {}
        data.update(verdict=summary.get("verdict"), coverage=summary.get("coverage"), summary=summary)
    elif kind == "review.decided":
        data.update(decision=detail.get("decision"), by=detail.get("by"))
    stamp = datetime.fromtimestamp(entry_time(entry_id), UTC).isoformat().replace("+00:00", "Z")
    return dumps({"type": kind, "timestamp": stamp, "data": data})


class _FanOutPass:
    """What one fan-out pass looks up once: every endpoint by exam, and the sessions it met (their exam
    and candidate never change)."""

    def __init__(self, endpoints: list[dict[str, str]]) -> None:
        self.endpoints_of: dict[str, list[dict[str, str]]] = {}
        for endpoint in endpoints:
            self.endpoints_of.setdefault(endpoint.get("exam_id", ""), []).append(endpoint)
        self.sessions: dict[str, dict[str, str]] = {}


class WebhookDelivery:
    """This worker's part in webhook delivery; `run_once` is its periodic job. It owns its HTTP client
    and its lease: `close()` releases both (idempotent), so a stopping worker hands over at once."""

    def __init__(self, store: Store, worker_id: str) -> None:
        self.store = store
        self.records = store.webhooks
        self.worker_id = worker_id
        self._http: aiohttp.ClientSession | None = None

    async def run_once(self) -> None:
        if not await self.records.take_lease(self.worker_id, HOOK_LEASE_S):
            return
        await self.fan_out()
        await self.send_all(time.time())

    # -- fan-out ---------------------------------------------------------------------------------
    async def fan_out(self) -> int:
        """The feed entries after the cursor (at most `FEED_BATCHES_PER_PASS` batches, so a long backlog
        never outlasts the lease) into their endpoints' queues; returns the messages queued."""
        queued = 0
        pass_ = _FanOutPass(await self.records.all())
        for _ in range(FEED_BATCHES_PER_PASS):
            entries = await self.records.feed_after(FEED_BATCH)
            for entry_id, fields in entries:
                queued += await self._fan_out_one(entry_id, fields, pass_)
            if entries:
                await self.records.fanned_out(entries[-1][0])
            if len(entries) < FEED_BATCH:
                break
        return queued

    async def _fan_out_one(self, entry_id: str, fields: dict[str, str], pass_: _FanOutPass) -> int:
        sid, kind = fields.get("sid", ""), fields.get("type", "")
        if not pass_.endpoints_of:
            return 0  # no endpoint anywhere: nothing to look up
        detail = json.loads(fields.get("json") or "{}")
        if sid not in pass_.sessions:
            pass_.sessions[sid] = await self.store.session(sid) or {}
        session = pass_.sessions[sid]
        exam_id = session.get("exam_id") or detail.get("exam_id")
        # an exam without endpoints, or a session deleted before its change was announced: nobody to tell
        wanted = [ep["webhook_id"] for ep in pass_.endpoints_of.get(exam_id or "", [])
                  if kind in json.loads(ep.get("events") or "[]")]
        if wanted:
            await self.records.enqueue(wanted, {"id": f"msg_{entry_id}", "type": kind,
                                                "body": message_body(kind, entry_id, sid, session, detail)})
        return len(wanted)

    # -- send ------------------------------------------------------------------------------------
    async def send_all(self, now: float) -> None:
        deadline = time.monotonic() + PASS_BUDGET_S
        endpoints = [ep for ep in await self.records.all() if float(ep.get("retry_at") or 0) <= now]
        await asyncio.gather(*(self._send_queue(ep, deadline) for ep in endpoints))

    async def _send_queue(self, endpoint: dict[str, str], deadline: float) -> None:
        wid = endpoint["webhook_id"]
        attempts = int(endpoint.get("attempts") or 0)
        for entry_id, message in await self.records.queue_head(wid, SEND_BATCH):
            if time.monotonic() > deadline:
                return
            ok = await self._attempt(endpoint, message, attempts + 1)
            if not ok:
                attempts += 1
                await self.records.set_fields(wid, {"attempts": str(attempts),
                                                    "retry_at": str(time.time() + retry_after(attempts))})
                return
            await self.records.delivered(wid, entry_id)
            if attempts:
                attempts = 0
                await self.records.set_fields(wid, {"attempts": "0", "retry_at": "0"})

    async def _attempt(self, endpoint: dict[str, str], message: dict[str, str], attempt: int) -> bool:
        body = message["body"].encode()
        started, status, error = time.time(), None, None
        headers = signed_headers(endpoint["secret"], message["id"], int(started), body)
        try:
            async with self._client().post(endpoint["url"], data=body, headers=headers,
                                           allow_redirects=False) as resp:
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        ok = status is not None and 200 <= status < 300
        await self.records.log_delivery(endpoint["webhook_id"], dumps({
            "message_id": message["id"], "type": message["type"], "attempt": attempt, "at": round(started, 3),
            "ok": ok, "status": status, "error": error, "duration_ms": round((time.time() - started) * 1000, 1)}))
        if not ok:
            log.info("webhook attempt failed", extra={"webhook_id": endpoint["webhook_id"], "status": status,
                                                      "error": error, "message_id": message["id"]})
        return ok

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=ATTEMPT_TIMEOUT_S))
        return self._http

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.close()
        with contextlib.suppress(Exception):  # the store may already be away; the lease then lapses
            await self.records.release_lease(self.worker_id)
