"""API keys: how an integrator's backend (an exam platform, an LMS) creates candidate sessions.

A key is `vk_<key_id>.<secret>`, shown once when an admin creates it. Only an HMAC-SHA256 of the
secret is stored, keyed with a pepper derived from the server's signing secret: the secret is 256
random bits, so a slow password hash would add cost without adding safety, and a stolen Redis dump
without the pepper verifies nothing. A key is scoped to a list of exams; revoking it takes effect
on the next request (the record is read every time, like a user's role).

A key-created session speaks for the candidate the integrator names: its identity is
`apikey:<key_id>:<candidate_id>` (`identity_of`), so documents are shared by that integrator's
sessions of the same candidate, and never with a join-code session typing the same id (which has
no identity) nor with another integrator's candidate of the same id.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.core.paging import scan_page
from server.protocol.errors import ApiError
from server.store.index_pages import Position
from server.store.records import ApiKeyRecords, ExamRecords

KEY_PREFIX = "vk_"
IDENTITY_SCHEME = "apikey:"
#: the largest page of keys one listing returns, newest first (also its default size)
MAX_LIST = 500


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    exams: tuple[str, ...]

    def allows(self, exam_id: str) -> bool:
        return exam_id in self.exams

    def require_exam(self, exam_id: str) -> None:
        if not self.allows(exam_id):
            raise ApiError(403, "this API key is not scoped to this exam", {"exam_id": exam_id})


def identity_of(key_id: str, candidate_id: str) -> str:
    """The session identity an API key asserts for a candidate (`server.store.keys.document_owner`)."""
    return f"{IDENTITY_SCHEME}{key_id}:{candidate_id}"


def is_api_key(credential: str) -> bool:
    return credential.startswith(KEY_PREFIX)


def pepper_from(signing_secret: str) -> bytes:
    """The HMAC key for stored secrets, derived so that it is not the JWT secret itself."""
    return hmac.new(signing_secret.encode(), b"vigil api key pepper v1", hashlib.sha256).digest()


class ApiKeys:
    def __init__(self, records: ApiKeyRecords, exams: ExamRecords, signing_secret: str) -> None:
        self.records = records
        self.exams = exams
        self._pepper = pepper_from(signing_secret)

    def _digest(self, secret: str) -> str:
        return hmac.new(self._pepper, secret.encode(), hashlib.sha256).hexdigest()

    async def create(self, name: str, exam_ids: list[str], created_by: str, now: float) -> dict[str, Any]:
        """A new key; the answer is the only place its secret ever appears."""
        for exam_id in exam_ids:
            if await self.exams.field(exam_id, "exam_id") is None:
                raise ApiError(404, "unknown exam", {"exam_id": exam_id})
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        exams = sorted(set(exam_ids))
        await self.records.create(key_id, {
            "key_id": key_id, "name": name, "exams": json.dumps(exams), "secret_hash": self._digest(secret),
            "created_by": created_by, "created_at": str(now)}, now)
        return {"key_id": key_id, "key": f"{KEY_PREFIX}{key_id}.{secret}", "name": name, "exams": exams,
                "created_at": now}

    async def listing(self) -> list[dict[str, Any]]:
        """The newest `MAX_LIST` keys."""
        return (await self.page(None, MAX_LIST))[0]

    async def page(self, after: Position | None, limit: int) -> tuple[list[dict[str, Any]], Position | None]:
        """Keys newest first after `after`, without secrets; and the next page's position, None at the end."""
        async def read(position: Position | None, count: int) -> list[tuple[Position, dict[str, str]]]:
            return await self.records.newest(position, count)

        async def keep(rows: Sequence[dict[str, str]]) -> list[dict[str, Any] | None]:
            return [_public(row) if row else None for row in rows]

        return await scan_page(read, keep, after, limit=limit, step=limit, budget=limit)

    async def revoke(self, key_id: str, now: float) -> dict[str, Any]:
        row = await self.records.get(key_id) if key_id.isalnum() else None
        if row is None:
            raise ApiError(404, "unknown API key", {"key_id": key_id[:32]})
        if not row.get("revoked_at"):
            await self.records.set_field(key_id, "revoked_at", str(now))
            row["revoked_at"] = str(now)
        return _public(row)

    async def active(self, key_id: str) -> ApiKey | None:
        """The key if it exists and is not revoked."""
        row = await self.records.get(key_id) if key_id.isalnum() else None
        if row is None or row.get("revoked_at"):
            return None
        return ApiKey(key_id, row.get("name", ""), tuple(json.loads(row.get("exams") or "[]")))

    async def authenticate(self, credential: str) -> ApiKey:
        """The key a `vk_<id>.<secret>` credential names; 401 for a malformed, unknown, wrong or revoked one
        (one message for all: the caller learns nothing about which)."""
        key_id, _, secret = credential.removeprefix(KEY_PREFIX).partition(".")
        row = await self.records.get(key_id) if key_id.isalnum() and secret else None
        digest = self._digest(secret)
        if row is None or not hmac.compare_digest(digest, row.get("secret_hash", "")) or row.get("revoked_at"):
            raise ApiError(401, "invalid or revoked API key")
        return ApiKey(key_id, row.get("name", ""), tuple(json.loads(row.get("exams") or "[]")))


def _public(row: dict[str, str]) -> dict[str, Any]:
    """A key as listed: never its hash."""
    return {"key_id": row.get("key_id"), "name": row.get("name", ""), "exams": json.loads(row.get("exams") or "[]"),
            "created_by": row.get("created_by"), "created_at": float(row.get("created_at") or 0),
            "revoked_at": float(row["revoked_at"]) if row.get("revoked_at") else None}
