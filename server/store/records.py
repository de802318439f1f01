"""Accounts', exams', API keys', webhooks' and saved analyses' records in Redis: the operations their owners need, nothing more.

The rules (who may register, password checks, join-code alphabet) stay in `server.accounts`; this
module only knows where the records live (`keys.py`) and how to write them atomically.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from server.store.index_pages import Position, newest_after
from server.store.keys import (
    ALL_APIKEYS,
    ALL_EXAMS,
    ALL_WEBHOOKS,
    DELIVERY_LOG_LEN,
    HOOK_FEED,
    HOOK_FEED_CURSOR,
    HOOK_LEASE,
    MAX_SAVED_ANALYSES,
    apikey_key,
    email_key,
    exam_key,
    exam_owner_index,
    exam_proctors_key,
    exam_webhooks_key,
    join_token_key,
    joincode_key,
    login_failures_key,
    rate_key,
    revoked_token_key,
    saved_analyses_index,
    saved_analysis_key,
    user_key,
    webhook_deliveries_key,
    webhook_key,
    webhook_queue_key,
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

    async def add_proctor(self, exam_id: str, user_id: str, now: float) -> None:
        """Another proctor of the exam, listed with their own exams from now on."""
        async with self._redis.pipeline(transaction=True) as p:
            p.sadd(exam_proctors_key(exam_id), user_id)
            p.zadd(exam_owner_index(user_id), {exam_id: now}, nx=True)
            await p.execute()

    async def has_proctor(self, exam_id: str, user_id: str) -> bool:
        return bool(await self._redis.sismember(exam_proctors_key(exam_id), user_id))

    async def get(self, exam_id: str) -> dict[str, str] | None:
        return await self._redis.hgetall(exam_key(exam_id)) or None

    async def update(self, exam_id: str, fields: Mapping[str, str], drop: tuple[str, ...] = ()) -> None:
        """Set `fields` and remove the fields named in `drop` (e.g. a policy reset to the default)."""
        async with self._redis.pipeline(transaction=True) as p:
            if fields:
                p.hset(exam_key(exam_id), mapping=dict(fields))
            if drop:
                p.hdel(exam_key(exam_id), *drop)
            await p.execute()

    async def switch_join_code(self, exam_id: str, new: str) -> str | None:
        """Point the exam at `new` (already claimed with `claim_join_code`) and release the code it had,
        in one transaction; returns the released code. From then on that code is unknown. The exam hash
        is WATCHed: when two switches race, the loser reads the winner's code and releases it too, so
        the exam never keeps a second code that still admits candidates."""
        key = exam_key(exam_id)
        async with self._redis.pipeline(transaction=True) as p:
            while True:
                try:
                    await p.watch(key)
                    old = await p.hget(key, "join_code")
                    p.multi()
                    p.hset(key, "join_code", new)
                    if old:
                        p.delete(joincode_key(old))  # claimed by this exam alone (SET NX), so ours to drop
                    await p.execute()
                    return old
                except WatchError:  # the exam changed meanwhile (another switch, an edit): read it again
                    continue

    async def newest(self, owner_id: str | None, after: Position | None, count: int) -> list[tuple[Position, dict[str, Any]]]:
        """Up to `count` exams newest first after `after` (a keyset position): every exam (owner None) or
        one owner's; an exam whose hash is gone comes as `{}`, so a short answer means the index ended."""
        index = ALL_EXAMS if owner_id is None else exam_owner_index(owner_id)
        ids = await newest_after(self._redis, index, after, count)
        async with self._redis.pipeline(transaction=False) as p:
            for exam_id, _ in ids:
                p.hgetall(exam_key(exam_id))
            rows = await p.execute()
        return [((score, exam_id), row or {}) for (exam_id, score), row in zip(ids, rows, strict=True)]


class ApiKeyRecords:
    """API keys (`server.accounts.apikeys`) and the join tokens they mint, once each."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis: RedisClient = redis

    async def create(self, key_id: str, fields: Mapping[str, str], now: float) -> None:
        async with self._redis.pipeline(transaction=True) as p:
            p.hset(apikey_key(key_id), mapping=dict(fields))
            p.zadd(ALL_APIKEYS, {key_id: now})
            await p.execute()

    async def get(self, key_id: str) -> dict[str, str] | None:
        return await self._redis.hgetall(apikey_key(key_id)) or None

    async def set_field(self, key_id: str, name: str, value: str) -> None:
        await self._redis.hset(apikey_key(key_id), name, value)

    async def newest(self, after: Position | None, count: int) -> list[tuple[Position, dict[str, str]]]:
        """Up to `count` keys newest first after `after` (a keyset position); a gone key comes as `{}`."""
        ids = await newest_after(self._redis, ALL_APIKEYS, after, count)
        async with self._redis.pipeline(transaction=False) as p:
            for key_id, _ in ids:
                p.hgetall(apikey_key(key_id))
            rows = await p.execute()
        return [((score, key_id), row or {}) for (key_id, score), row in zip(ids, rows, strict=True)]

    async def claim_join_token(self, jti: str, ttl_s: int) -> bool:
        """True the first time a join token (its JWT id) is redeemed; kept until the token expires."""
        return bool(await self._redis.set(join_token_key(jti), "1", nx=True, ex=max(1, ttl_s)))


# -- webhooks -------------------------------------------------------------------------------------
#: session statuses that are webhook events; `ended` comes from the stream's `verdict` item, which
#: carries the summary (verdict, coverage)
HOOK_STATUSES = {"created": "session.created", "live": "session.live", "disconnected": "session.disconnected"}
#: event-stream item kinds that are webhook events (a `review` only when it records a decision)
HOOK_ITEMS = {"event_started": "event.started", "event_ended": "event.ended", "verdict": "session.ended",
              "review": "review.decided"}


def hook_status_entry(sid: str, fields: Mapping[str, Any]) -> dict[str, str] | None:
    """The feed entry for a session-hash write that changes its status to one webhooks announce, else None."""
    kind = HOOK_STATUSES.get(str(fields.get("status")))
    if kind is None:
        return None
    detail = {k: fields[k] for k in ("exam_id", "candidate_id", "disconnect_reason") if fields.get(k) is not None}
    return {"sid": sid, "type": kind, "json": json.dumps(detail)}


def hook_item_entry(sid: str, item: Mapping[str, Any], item_json: str) -> dict[str, str] | None:
    """The feed entry for an event-stream item webhooks announce, else None."""
    kind = HOOK_ITEMS.get(str(item.get("kind")))
    if kind is None or (kind == "review.decided" and not item.get("decision")):
        return None
    return {"sid": sid, "type": kind, "json": item_json}


def add_to_feed(pipe: Any, entry: Mapping[str, str] | None) -> None:
    """Queue a feed entry in the caller's transaction, so the change and its webhook are written together."""
    if entry is not None:
        pipe.xadd(HOOK_FEED, dict(entry))


#: renew the lease when ours, take it when free: one round trip, no window where two workers hold it
_LEASE_SCRIPT = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end
return 0
"""


class WebhookRecords:
    """Webhook endpoints, the feed of changes to announce, each endpoint's queue and delivery log."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis: RedisClient = redis

    # -- endpoints --
    async def create(self, webhook_id: str, exam_id: str, fields: Mapping[str, str]) -> None:
        async with self._redis.pipeline(transaction=True) as p:
            p.hset(webhook_key(webhook_id), mapping=dict(fields))
            p.sadd(exam_webhooks_key(exam_id), webhook_id)
            p.sadd(ALL_WEBHOOKS, webhook_id)
            await p.execute()

    async def get(self, webhook_id: str) -> dict[str, str] | None:
        return await self._redis.hgetall(webhook_key(webhook_id)) or None

    async def set_fields(self, webhook_id: str, fields: Mapping[str, str]) -> None:
        await self._redis.hset(webhook_key(webhook_id), mapping=dict(fields))

    async def of_exam(self, exam_id: str) -> list[dict[str, str]]:
        ids = sorted(await self._redis.smembers(exam_webhooks_key(exam_id)))
        return await self._many(ids)

    async def all(self) -> list[dict[str, str]]:
        return await self._many(sorted(await self._redis.smembers(ALL_WEBHOOKS)))

    async def _many(self, ids: list[str]) -> list[dict[str, str]]:
        async with self._redis.pipeline(transaction=False) as p:
            for webhook_id in ids:
                p.hgetall(webhook_key(webhook_id))
            return [row for row in await p.execute() if row]

    async def delete(self, webhook_id: str, exam_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as p:
            p.delete(webhook_key(webhook_id), webhook_queue_key(webhook_id), webhook_deliveries_key(webhook_id))
            p.srem(exam_webhooks_key(exam_id), webhook_id)
            p.srem(ALL_WEBHOOKS, webhook_id)
            await p.execute()

    # -- the feed and its fan-out --
    async def take_lease(self, holder: str, ttl_s: float) -> bool:
        return bool(await self._redis.eval(_LEASE_SCRIPT, 1, HOOK_LEASE, holder, int(ttl_s * 1000)))

    async def release_lease(self, holder: str) -> None:
        if await self._redis.get(HOOK_LEASE) == holder:
            await self._redis.delete(HOOK_LEASE)

    async def feed_after(self, count: int) -> list[tuple[str, dict[str, str]]]:
        """The oldest feed entries not yet fanned out."""
        cursor = await self._redis.get(HOOK_FEED_CURSOR)
        return list(await self._redis.xrange(HOOK_FEED, f"({cursor}" if cursor else "-", "+", count=count))

    async def fanned_out(self, entry_id: str) -> None:
        """Everything up to `entry_id` is in the endpoints' queues: move the cursor, drop what is behind it."""
        async with self._redis.pipeline(transaction=True) as p:
            p.set(HOOK_FEED_CURSOR, entry_id)
            p.xtrim(HOOK_FEED, minid=entry_id)
            await p.execute()

    async def enqueue(self, webhook_ids: list[str], message: Mapping[str, str]) -> None:
        async with self._redis.pipeline(transaction=True) as p:
            for webhook_id in webhook_ids:
                p.xadd(webhook_queue_key(webhook_id), dict(message))
            await p.execute()

    # -- one endpoint's queue --
    async def queue_head(self, webhook_id: str, count: int) -> list[tuple[str, dict[str, str]]]:
        return list(await self._redis.xrange(webhook_queue_key(webhook_id), "-", "+", count=count))

    async def delivered(self, webhook_id: str, entry_id: str) -> None:
        await self._redis.xdel(webhook_queue_key(webhook_id), entry_id)

    async def queue_length(self, webhook_id: str) -> int:
        return int(await self._redis.xlen(webhook_queue_key(webhook_id)))

    async def log_delivery(self, webhook_id: str, record: str) -> None:
        async with self._redis.pipeline(transaction=False) as p:
            p.lpush(webhook_deliveries_key(webhook_id), record)
            p.ltrim(webhook_deliveries_key(webhook_id), 0, DELIVERY_LOG_LEN - 1)
            await p.execute()

    async def deliveries(self, webhook_id: str, limit: int) -> list[str]:
        return list(await self._redis.lrange(webhook_deliveries_key(webhook_id), 0, limit - 1))


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
