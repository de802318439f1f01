"""Exams: a title, an owning proctor, an optional risk policy, and a join code candidates type in.

| key (prefix `vigil:`)        | type   | lifetime |
|------------------------------|--------|----------|
| `exam:{id}`                  | hash   | until deleted: exam_id, title, owner (user id), policy (JSON, only when set), join_code, created_at |
| `joincode:{CODE}`            | string | as its exam; upper-case code -> exam id (read by `SessionManager` to create sessions) |
| `exams:owner:{user_id}`      | zset   | as the exams; the owner's exam ids by creation time |
| `exams:all`                  | zset   | as the exams; every exam id by creation time (admins list these) |

The policy is validated by `pipeline.risk.policy_from_dict` before it is stored; `policy_for` reads
it back when a session of the exam starts. Join codes are 8 characters from an alphabet without
look-alikes (0/O, 1/I/L): 32^8 ~ 1e12 codes, claimed with SET NX so two exams never share one.
"""
from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

from redis.asyncio import Redis

from pipeline.risk.policy_io import policy_from_dict
from server.accounts.auth import User
from server.protocol.errors import ApiError

JOIN_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
JOIN_CODE_LEN = 8
#: tries before giving up on a free join code (a collision is ~1e-12 per try at 1e6 exams)
JOIN_CODE_TRIES = 5
#: the most exams one listing returns, newest first
MAX_LIST = 500


def exam_key(exam_id: str) -> str:
    return f"vigil:exam:{exam_id}"


def joincode_key(code: str) -> str:
    return f"vigil:joincode:{code.upper()}"


def owner_index(user_id: str) -> str:
    return f"vigil:exams:owner:{user_id}"


ALL_EXAMS = "vigil:exams:all"


def new_join_code() -> str:
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LEN))


def validated_policy(policy: Any) -> str | None:
    """The policy as stored JSON, or 400 with the policy checker's message."""
    if policy is None:
        return None
    if not isinstance(policy, dict):
        raise ApiError(400, "policy must be a JSON object")
    try:
        policy_from_dict(policy)
    except (ValueError, TypeError) as exc:  # PolicyError is a ValueError naming the bad key
        raise ApiError(400, str(exc), {"field": getattr(exc, "key", None)}) from None
    return json.dumps(policy, separators=(",", ":"))


class Exams:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def create(self, owner: User, title: str, policy: Any, now: float) -> dict[str, str]:
        stored_policy = validated_policy(policy)
        exam_id = uuid.uuid4().hex
        for _ in range(JOIN_CODE_TRIES):
            code = new_join_code()
            if await self.redis.set(joincode_key(code), exam_id, nx=True):
                break
        else:
            raise ApiError(409, "could not allocate a join code; try again")
        fields = {"exam_id": exam_id, "title": title, "owner": owner.user_id, "join_code": code,
                  "created_at": str(now)}
        if stored_policy is not None:
            fields["policy"] = stored_policy
        async with self.redis.pipeline(transaction=True) as p:
            p.hset(exam_key(exam_id), mapping=fields)
            p.zadd(owner_index(owner.user_id), {exam_id: now})
            p.zadd(ALL_EXAMS, {exam_id: now})
            await p.execute()
        return {"exam_id": exam_id, "join_code": code}

    async def owner(self, exam_id: str) -> str | None:
        return await self.redis.hget(exam_key(exam_id), "owner")

    async def list_for(self, user: User) -> list[dict[str, Any]]:
        index = ALL_EXAMS if user.role == "admin" else owner_index(user.user_id)
        ids = await self.redis.zrevrange(index, 0, MAX_LIST - 1)
        async with self.redis.pipeline(transaction=False) as p:
            for exam_id in ids:
                p.hgetall(exam_key(exam_id))
            rows = await p.execute()
        out = []
        for row in rows:
            if not row:
                continue
            item: dict[str, Any] = {k: v for k, v in row.items() if k != "policy"}
            item["created_at"] = float(row.get("created_at") or 0)
            item["policy"] = json.loads(row["policy"]) if row.get("policy") else None
            out.append(item)
        return out
