"""Webhook endpoints of an exam, and the Standard Webhooks signature (https://www.standardwebhooks.com/).

An endpoint is a URL, the types it wants (all by default) and a `whsec_<base64>` secret, shown when
it is created. Each request carries `webhook-id` (the message's id: the same on every retry, so a
receiver de-duplicates by it), `webhook-timestamp` (UNIX seconds of this attempt) and
`webhook-signature: v1,<base64 HMAC-SHA256 over "<id>.<timestamp>.<body>">`, keyed with the base64-
decoded part of the secret. `sign` reproduces the spec's published test vector (tests/test_webhooks.py).
Delivery (ordered, retried, logged) is `server.cluster.webhooks`.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from server.protocol.errors import ApiError
from server.protocol.http import WEBHOOK_TYPES
from server.store.records import WebhookRecords

SECRET_PREFIX = "whsec_"
#: a receiver refuses a timestamp further than this from its clock (replay protection), seconds
TOLERANCE_S = 300
#: endpoints one exam may have
MAX_PER_EXAM = 20
#: delivery attempts one listing returns at most
MAX_DELIVERIES = 200


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value of one attempt."""
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body), "content-type": "application/json"}


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float, tolerance_s: int = TOLERANCE_S) -> bool:
    """What a receiver does: the timestamp is recent and one of the space-separated `v1,` signatures matches."""
    try:
        msg_id, timestamp = headers["webhook-id"], int(headers["webhook-timestamp"])
        expected = sign(secret, msg_id, timestamp, body)
    except (KeyError, ValueError, binascii.Error):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return any(hmac.compare_digest(expected, given) for given in headers.get("webhook-signature", "").split())


def public(row: Mapping[str, str]) -> dict[str, Any]:
    """An endpoint as listed: never its secret; with its delivery state."""
    return {"webhook_id": row.get("webhook_id"), "exam_id": row.get("exam_id"), "url": row.get("url"),
            "events": json.loads(row.get("events") or "[]"), "created_by": row.get("created_by"),
            "created_at": float(row.get("created_at") or 0), "failed_attempts": int(row.get("attempts") or 0),
            "retry_at": float(row["retry_at"]) if float(row.get("retry_at") or 0) else None}


class Webhooks:
    """The endpoints of exams (who may touch them is the caller's business: `server.http.routes.webhooks`)."""

    def __init__(self, records: WebhookRecords) -> None:
        self.records = records

    async def create(self, exam_id: str, url: str, events: list[str] | None, created_by: str,
                     now: float) -> dict[str, Any]:
        if len(await self.records.of_exam(exam_id)) >= MAX_PER_EXAM:
            raise ApiError(409, f"an exam has at most {MAX_PER_EXAM} webhooks")
        webhook_id, secret = uuid.uuid4().hex, new_secret()
        wanted = [t for t in WEBHOOK_TYPES if events is None or t in events]
        await self.records.create(webhook_id, exam_id, {
            "webhook_id": webhook_id, "exam_id": exam_id, "url": url, "secret": secret, "events": json.dumps(wanted),
            "created_by": created_by, "created_at": str(now)})
        return {**public({"webhook_id": webhook_id, "exam_id": exam_id, "url": url, "events": json.dumps(wanted),
                          "created_by": created_by, "created_at": str(now)}), "secret": secret}

    async def of_exam(self, exam_id: str) -> list[dict[str, Any]]:
        return [public(row) for row in await self.records.of_exam(exam_id)]

    async def get(self, exam_id: str, webhook_id: str) -> dict[str, str]:
        row = await self.records.get(webhook_id) if webhook_id.isalnum() else None
        if row is None or row.get("exam_id") != exam_id:
            raise ApiError(404, "unknown webhook", {"webhook_id": webhook_id[:64]})
        return row

    async def delete(self, exam_id: str, webhook_id: str) -> dict[str, Any]:
        """The endpoint, its queue (messages not yet delivered are dropped) and its log."""
        await self.get(exam_id, webhook_id)
        dropped = await self.records.queue_length(webhook_id)
        await self.records.delete(webhook_id, exam_id)
        return {"deleted": webhook_id, "undelivered_dropped": dropped}

    async def deliveries(self, exam_id: str, webhook_id: str, limit: int) -> dict[str, Any]:
        await self.get(exam_id, webhook_id)
        rows = await self.records.deliveries(webhook_id, max(1, min(MAX_DELIVERIES, limit)))
        return {"webhook_id": webhook_id, "pending": await self.records.queue_length(webhook_id),
                "deliveries": [json.loads(r) for r in rows]}
