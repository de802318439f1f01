"""Exams: a title, an owning proctor (and, shared through LTI, other proctors with the owner's rights),
an optional risk policy, and a join code candidates type in.

Records live in Redis through `server.store.records.ExamRecords` (keys and lifetimes: `server.store.keys`).

The policy is validated by `pipeline.risk.policy_from_dict` before it is stored; `policy_for` reads
it back when a session of the exam starts. Join codes are 8 characters from an alphabet without
look-alikes (0/O, 1/I/L): 32^8 ~ 1e12 codes, claimed with SET NX so two exams never share one.
"""
from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.risk.policy_io import policy_from_dict
from server.accounts.auth import User
from server.core.paging import scan_page
from server.protocol.errors import ApiError
from server.store.index_pages import Position
from server.store.records import ExamRecords

JOIN_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
JOIN_CODE_LEN = 8
#: tries before giving up on a free join code (a collision is ~1e-12 per try at 1e6 exams)
JOIN_CODE_TRIES = 5
#: the largest page of exams one listing returns, newest first (also its default size)
MAX_LIST = 500


def new_join_code() -> str:
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LEN))


def validated_policy(policy: Any) -> str | None:
    """The policy as stored JSON, or 400 with the policy checker's message."""
    if policy is None:
        return None
    if not isinstance(policy, dict):
        raise ApiError(400, "policy must be a JSON object", code="invalid_policy")
    try:
        policy_from_dict(policy)
    except (ValueError, TypeError) as exc:  # PolicyError is a ValueError naming the bad key
        raise ApiError(400, str(exc), {"field": getattr(exc, "key", None)}, code="invalid_policy") from None
    return json.dumps(policy, separators=(",", ":"))


class Exams:
    def __init__(self, records: ExamRecords) -> None:
        self.records = records

    async def _claim_new_code(self, exam_id: str) -> str:
        for _ in range(JOIN_CODE_TRIES):
            code = new_join_code()
            if await self.records.claim_join_code(code, exam_id):
                return code
        raise ApiError(409, "could not allocate a join code; try again", code="join_code_unavailable")

    async def create(self, owner: User, title: str, policy: Any, now: float) -> dict[str, str]:
        stored_policy = validated_policy(policy)
        exam_id = uuid.uuid4().hex
        code = await self._claim_new_code(exam_id)
        fields = {"exam_id": exam_id, "title": title, "owner": owner.user_id, "join_code": code,
                  "created_at": str(now)}
        if stored_policy is not None:
            fields["policy"] = stored_policy
        await self.records.create(exam_id, owner.user_id, fields, now)
        return {"exam_id": exam_id, "join_code": code}

    async def update(self, exam_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Apply `changes` (`title`, `policy`: the keys a PATCH gave; a policy of None resets it to the
        defaults) after checking the policy as `create` does; the exam as listed."""
        fields: dict[str, str] = {}
        drop: tuple[str, ...] = ()
        if "title" in changes and changes["title"] is not None:
            fields["title"] = changes["title"].strip() or changes["title"]
        if "policy" in changes:
            stored = validated_policy(changes["policy"])
            if stored is None:
                drop = ("policy",)
            else:
                fields["policy"] = stored
        await self.records.update(exam_id, fields, drop)
        return await self.listed(exam_id)

    async def new_join_code(self, exam_id: str) -> str:
        """A fresh join code for the exam; the old one is released (joining with it is then refused).
        Sessions already made keep going: a code only admits new candidates."""
        code = await self._claim_new_code(exam_id)
        await self.records.switch_join_code(exam_id, code)
        return code

    async def listed(self, exam_id: str) -> dict[str, Any]:
        row = await self.records.get(exam_id)
        if row is None:
            raise ApiError(404, "unknown exam", {"exam_id": exam_id[:64]})
        return _listed(row)

    async def owner(self, exam_id: str) -> str | None:
        return await self.records.field(exam_id, "owner")

    async def proctored_by(self, exam_id: str, user_id: str) -> bool:
        """Whether `user_id` proctors the exam: its owner, or one of the proctors it was shared with."""
        return await self.owner(exam_id) == user_id or await self.records.has_proctor(exam_id, user_id)

    async def add_proctor(self, exam_id: str, user: User, now: float) -> None:
        """Share the exam with another proctor, with the owner's rights (`proctored_by`); the exam keeps its
        owner. Only the LTI tool does this, for the Instructors of the exam's course (docs/lti.md)."""
        if await self.owner(exam_id) != user.user_id:
            await self.records.add_proctor(exam_id, user.user_id, now)

    async def page_for(self, user: User, after: Position | None, limit: int) -> tuple[list[dict[str, Any]], Position | None]:
        """The exams `user` sees (every exam for an admin, a proctor's own), newest first, after `after`;
        and the position of the next page, None at the end."""
        owner = None if user.role == "admin" else user.user_id

        async def read(position: Position | None, count: int) -> list[tuple[Position, dict[str, Any]]]:
            return await self.records.newest(owner, position, count)

        async def keep(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any] | None]:
            return [_listed(row) if row else None for row in rows]

        return await scan_page(read, keep, after, limit=limit, step=limit, budget=limit)


def _listed(row: dict[str, Any]) -> dict[str, Any]:
    """An exam as listed: its hash, with `created_at` a number and `policy` parsed (null: the default)."""
    item: dict[str, Any] = {k: v for k, v in row.items() if k != "policy"}
    item["created_at"] = float(row.get("created_at") or 0)
    item["policy"] = json.loads(row["policy"]) if row.get("policy") else None
    return item
