"""Accounts', exams' and saved analyses' records in Redis: the operations their users need, nothing more.

The rules (who may register, password checks, join-code alphabet) stay in `server.accounts`; this
module only knows where the records live (`keys.py`) and how to write them atomically.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis

from server.store.keys import (
    ALL_EXAMS,
    MAX_SAVED_ANALYSES,
    email_key,
    exam_key,
    exam_owner_index,
    joincode_key,
    login_failures_key,
    rate_key,
    revoked_token_key,
    saved_analyses_index,
    saved_analysis_key,
    user_key,
)

#: the client decodes responses to str, which redis-py's annotations cannot express (they say
#: bytes | str for every reply), so the records hold it untyped and annotate what they return.
RedisClient = Any


class RateCounters:
    """Fixed-window counters shared by every worker (logins per address, session creations...)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis: RedisClient = redis

    async def count(self, name: str, subject: str, window_s: int) -> int:
        """Count one more in the current window of `name:subject`; the count including this one."""
        key = rate_key(name, subject)
        async with self._redis.pipeline(transaction=True) as p:
            p.incr(key)
            p.expire(key, window_s, nx=True)
            count, _ = await p.execute()
        return int(count)


class AccountRecords:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis: RedisClient = redis
        self.rates = RateCounters(redis)

    async def create_user(self, user_id: str, email: str, fields: Mapping[str, str]) -> bool:
        """Write the user, then claim the email (SET NX); False, with the user removed, if it is taken."""
        await self._redis.hset(user_key(user_id), mapping=dict(fields))
        if not await self._redis.set(email_key(email), user_id, nx=True):  # the email is claimed last
            await self._redis.delete(user_key(user_id))
            return False
        return True

    async def user_fields(self, user_id: str, *names: str) -> list[str | None]:
        return list(await self._redis.hmget(user_key(user_id), list(names)))

    async def user_field(self, user_id: str, name: str) -> str | None:
        return await self._redis.hget(user_key(user_id), name)

    async def set_user_field(self, user_id: str, name: str, value: str) -> None:
        await self._redis.hset(user_key(user_id), name, value)

    async def user_id_for_email(self, email: str) -> str | None:
        return await self._redis.get(email_key(email))

    # -- login rate limit ----------------------------------------------------------------------
    async def login_failures(self, email: str, client: str) -> int:
        return int(await self._redis.get(login_failures_key(email, client)) or 0)

    async def login_failures_ttl(self, email: str, client: str) -> int:
        return int(await self._redis.ttl(login_failures_key(email, client)))

    async def add_login_failure(self, email: str, client: str, window_s: int) -> None:
        key = login_failures_key(email, client)
        async with self._redis.pipeline(transaction=True) as p:
            p.incr(key)
            p.expire(key, window_s, nx=True)
            await p.execute()

    async def clear_login_failures(self, email: str, client: str) -> None:
        await self._redis.delete(login_failures_key(email, client))

    # -- revoked tokens ------------------------------------------------------------------------
    async def is_revoked(self, jti: str) -> bool:
        return bool(await self._redis.exists(revoked_token_key(jti)))

    async def revoke(self, jti: str, ttl_s: int) -> None:
        await self._redis.set(revoked_token_key(jti), "1", ex=ttl_s)


class ExamRecords:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis: RedisClient = redis

    async def claim_join_code(self, code: str, exam_id: str) -> bool:
        return bool(await self._redis.set(joincode_key(code), exam_id, nx=True))

    async def create(self, exam_id: str, owner_id: str, fields: Mapping[str, str], now: float) -> None:
        async with self._redis.pipeline(transaction=True) as p:
            p.hset(exam_key(exam_id), mapping=dict(fields))
            p.zadd(exam_owner_index(owner_id), {exam_id: now})
            p.zadd(ALL_EXAMS, {exam_id: now})
            await p.execute()

    async def field(self, exam_id: str, name: str) -> str | None:
        return await self._redis.hget(exam_key(exam_id), name)

    async def newest(self, owner_id: str | None, limit: int) -> list[dict[str, Any]]:
        """Exam hashes newest first: every exam (owner None) or one owner's, at most `limit`."""
        index = ALL_EXAMS if owner_id is None else exam_owner_index(owner_id)
        ids = await self._redis.zrevrange(index, 0, limit - 1)
        async with self._redis.pipeline(transaction=False) as p:
            for exam_id in ids:
                p.hgetall(exam_key(exam_id))
            return [row for row in await p.execute() if row]


class SavedAnalyses:
    """A user's saved posture analyses (the original posture API's): JSON documents by id, newest first."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis: RedisClient = redis

    async def save(self, user_id: str, analysis_id: str, doc: str, now: float) -> None:
        """Write the document and index it; past `MAX_SAVED_ANALYSES` the oldest are dropped."""
        index = saved_analyses_index(user_id)
        async with self._redis.pipeline(transaction=True) as p:
            p.set(saved_analysis_key(user_id, analysis_id), doc)
            p.zadd(index, {analysis_id: now})
            p.zrange(index, 0, -(MAX_SAVED_ANALYSES + 1))
            *_, overflow = await p.execute()
        if overflow:
            async with self._redis.pipeline(transaction=True) as p:
                p.delete(*(saved_analysis_key(user_id, old) for old in overflow))
                p.zrem(index, *overflow)
                await p.execute()

    async def newest(self, user_id: str, limit: int) -> list[str]:
        """The user's documents, newest first, at most `limit`."""
        ids = await self._redis.zrevrange(saved_analyses_index(user_id), 0, limit - 1)
        if not ids:
            return []
        return [doc for doc in await self._redis.mget([saved_analysis_key(user_id, i) for i in ids]) if doc]

    async def get(self, user_id: str, analysis_id: str) -> str | None:
        return await self._redis.get(saved_analysis_key(user_id, analysis_id))

    async def delete(self, user_id: str, analysis_id: str) -> bool:
        async with self._redis.pipeline(transaction=True) as p:
            p.delete(saved_analysis_key(user_id, analysis_id))
            p.zrem(saved_analyses_index(user_id), analysis_id)
            deleted, _ = await p.execute()
        return bool(deleted)
