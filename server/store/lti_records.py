"""The LTI 1.3 tool's records (`server/http/lti/`): pylti1p3's launch state, used launches, the maps
from LMS resource links to exams, and one-time proctor logins. (An LMS user's proctor account is found by
its e-mail, which names the user: `server/http/lti/provision.py`.)

Every value is in Redis, never in a worker's memory: an OIDC login lands on one worker and the launch
that follows on another. Keys and lifetimes: `server.store.keys`.
"""
from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from server.store.keys import (
    LTI_CACHE_S,
    lti_cache_key,
    lti_handoff_key,
    lti_launch_key,
    lti_link_key,
)


class LtiRecords:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis: Any = redis

    # -- pylti1p3's launch data storage ----------------------------------------------------------
    async def cache_get(self, key: str) -> Any:
        """The JSON value pylti1p3 stored under `key`, or None."""
        raw = await self._redis.get(lti_cache_key(key))
        return None if raw is None else json.loads(raw)

    async def cache_set(self, key: str, value: Any, ttl_s: int | None) -> None:
        await self._redis.set(lti_cache_key(key), json.dumps(value, separators=(",", ":")),
                              ex=max(1, ttl_s) if ttl_s else LTI_CACHE_S)

    async def claim_launch(self, nonce: str) -> bool:
        """True the first time an id_token (its nonce) launches; a replay of the same POST is False."""
        return bool(await self._redis.set(lti_launch_key(nonce), "1", nx=True, ex=LTI_CACHE_S))

    # -- resource links ------------------------------------------------------------------------
    async def exam_for_link(self, digest: str) -> str | None:
        return await self._redis.get(lti_link_key(digest))

    async def claim_link(self, digest: str, exam_id: str) -> str:
        """Map the link to `exam_id` unless it already has an exam; the link's exam either way."""
        await self._redis.set(lti_link_key(digest), exam_id, nx=True)
        return str(await self._redis.get(lti_link_key(digest)))

    # -- one-time proctor logins -----------------------------------------------------------------
    async def put_handoff(self, code: str, user_id: str, ttl_s: int) -> None:
        await self._redis.set(lti_handoff_key(code), user_id, ex=ttl_s)

    async def take_handoff(self, code: str) -> str | None:
        """The user a handoff code logs in, once (GETDEL)."""
        return await self._redis.getdel(lti_handoff_key(code))
