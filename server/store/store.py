"""The store: the only code that talks to Redis. Key builders and their lifetimes are in `keys.py`.

`Store` holds one connection pool and the session, event, worker and fan-out operations; accounts and
exams have their records in `records.py`. Event writes go through `EventOutbox` (`outbox.py`): queued
in order and retried while Redis is away, so an outage delays events but never loses or reorders them.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from server.core.strict_json import dumps
from server.store.index_pages import Position, newest_after
from server.store.keys import (
    ALL_SESSIONS,
    LIVE_CHANNEL,
    LIVE_SET,
    RETENTION_S,
    WORKER_TTL_S,
    WORKERS,
    events_key,
    exam_key,
    joincode_key,
    own_document_keys,
    session_key,
    thumbnail_key,
    worker_key,
    worker_sessions_key,
)
from server.store.lti_records import LtiRecords
from server.store.records import (
    AccountRecords,
    ApiKeyRecords,
    ExamRecords,
    RateCounters,
    SavedAnalyses,
    WebhookRecords,
    add_to_feed,
    hook_item_entry,
    hook_status_entry,
)

log = logging.getLogger(__name__)


def _stream_item(item: Mapping[str, Any]) -> str:
    """An event-stream item as strict JSON. An item that cannot be (a non-finite number: a bug
    upstream) is kept in its place as an `invalid_item` saying why: never a broken stream, never
    a lost slot, never an outbox that dies on it."""
    try:
        return dumps(item)
    except (TypeError, ValueError) as exc:
        log.error("event item is not strict JSON: %s", exc, extra={"kind": str(item.get("kind"))})
        return dumps({"kind": "invalid_item", "t": None, "error": str(exc)[:200], "of_kind": str(item.get("kind"))})


def _flat(mapping: Mapping[str, Any]) -> dict[str, str]:
    """Redis hashes hold strings: numbers as text, structures as JSON, None as empty."""
    out: dict[str, str] = {}
    for k, v in mapping.items():
        if v is None:
            out[k] = ""
        elif isinstance(v, (dict, list, tuple, bool)):
            out[k] = json.dumps(v)
        else:
            out[k] = str(v)
    return out


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5,
            health_check_interval=5, retry_on_timeout=False)
        self.errors = 0
        self.accounts = AccountRecords(self.redis)
        self.exams = ExamRecords(self.redis)
        self.rates = RateCounters(self.redis)
        self.apikeys = ApiKeyRecords(self.redis)
        self.webhooks = WebhookRecords(self.redis)
        self.saved_analyses = SavedAnalyses(self.redis)
        self.lti = LtiRecords(self.redis)

    async def close(self) -> None:
        await self.redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except RedisError:
            return False

    # -- sessions ------------------------------------------------------------------------
    async def create_session(self, sid: str, fields: Mapping[str, Any], created_at: float) -> None:
        async with self.redis.pipeline(transaction=True) as p:
            p.hset(session_key(sid), mapping=_flat(fields))
            p.zadd(ALL_SESSIONS, {sid: created_at})
            add_to_feed(p, hook_status_entry(sid, fields))  # webhooks: written with the change they announce
            await p.execute()

    async def session(self, sid: str) -> dict[str, str] | None:
        data = await self.redis.hgetall(session_key(sid))
        return data or None

    async def update_session(self, sid: str, fields: Mapping[str, Any]) -> None:
        async with self.redis.pipeline(transaction=True) as p:
            p.hset(session_key(sid), mapping=_flat(fields))
            add_to_feed(p, hook_status_entry(sid, fields))  # a status webhooks announce: in the same transaction
            await p.execute()

    async def session_field(self, sid: str, name: str) -> str | None:
        return await self.redis.hget(session_key(sid), name)

    async def session_exists(self, sid: str) -> bool:
        return bool(await self.redis.exists(session_key(sid)))

    async def sessions(self, sids: Iterable[str]) -> list[dict[str, str]]:
        """The hashes of `sids`, in order; an unknown session is an empty dict."""
        async with self.redis.pipeline(transaction=False) as p:
            for sid in sids:
                p.hgetall(session_key(sid))
            return list(await p.execute())

    async def session_ids_since(self, since: float, limit: int) -> list[str]:
        """Ids of sessions created at or after `since` (oldest first), at most `limit`."""
        return list(await self.redis.zrangebyscore(ALL_SESSIONS, since, "+inf", start=0, num=limit))

    async def session_ids_after(self, after: Position | None, count: int) -> list[tuple[str, float]]:
        """(id, created_at) of up to `count` sessions, newest first, after `after` (a keyset position)."""
        return await newest_after(self.redis, ALL_SESSIONS, after, count)

    async def delete_session(self, sid: str) -> None:
        """Every Redis key of one session, and its index entries."""
        async with self.redis.pipeline(transaction=True) as p:
            p.delete(session_key(sid), events_key(sid), thumbnail_key(sid), *own_document_keys(sid))
            p.zrem(ALL_SESSIONS, sid)
            p.srem(LIVE_SET, sid)
            await p.execute()

    async def sweep_session_index(self) -> int:
        """Drop the ids of sessions whose hash is gone (expired or deleted) from `sessions:all`."""
        removed = 0
        cursor = 0
        while True:
            cursor, rows = await self.redis.zscan(ALL_SESSIONS, cursor, count=500)
            for sid, _score in rows:
                if not await self.redis.exists(session_key(sid)):
                    removed += await self.redis.zrem(ALL_SESSIONS, sid)
            if cursor == 0:
                return removed

    # -- exam lookups a session needs ----------------------------------------------------------
    async def exam_for_join_code(self, code: str) -> str | None:
        return await self.redis.get(joincode_key(code))

    async def exam_field(self, exam_id: str, name: str) -> str | None:
        return await self.redis.hget(exam_key(exam_id), name)

    # -- per-candidate documents (calibration, screen geometry) --------------------------------
    async def put_json(self, key: str, doc: Mapping[str, Any]) -> None:
        await self.redis.set(key, dumps(doc), ex=RETENTION_S)

    async def get_json(self, key: str) -> dict[str, Any] | None:
        raw = await self.redis.get(key)
        return None if raw is None else json.loads(raw)

    async def incr_counters(self, sid: str, counters: Mapping[str, int]) -> None:
        async with self.redis.pipeline(transaction=False) as p:
            for name, n in counters.items():
                if n:
                    p.hincrby(session_key(sid), name, n)
            await p.execute()

    async def set_live(self, sid: str, live: bool) -> None:
        if live:
            await self.redis.sadd(LIVE_SET, sid)
        else:
            await self.redis.srem(LIVE_SET, sid)

    async def live_sessions(self) -> set[str]:
        return set(await self.redis.smembers(LIVE_SET))

    async def expire_session(self, sid: str, seconds: int) -> None:
        async with self.redis.pipeline(transaction=False) as p:
            for key in (session_key(sid), events_key(sid), *own_document_keys(sid)):
                p.expire(key, seconds)
            await p.execute()

    # -- live thumbnails ----------------------------------------------------------------------
    async def put_thumbnail(self, sid: str, jpeg: bytes, ttl_s: int) -> None:
        """The session's newest thumbnail, kept `ttl_s` seconds (base64: the client decodes replies to str)."""
        await self.redis.set(thumbnail_key(sid), base64.b64encode(jpeg).decode("ascii"), ex=ttl_s)

    async def thumbnail(self, sid: str) -> bytes | None:
        raw = await self.redis.get(thumbnail_key(sid))
        try:
            return None if raw is None else base64.b64decode(raw, validate=True)
        except binascii.Error:
            return None

    # -- events ---------------------------------------------------------------------------
    async def append_events(self, sid: str, items: Iterable[Mapping[str, Any]],
                            fields: Mapping[str, Any] | None = None) -> list[str]:
        """Append to the stream and (atomically, same transaction) update the session hash and the webhook feed."""
        async with self.redis.pipeline(transaction=True) as p:
            for item in items:
                line = _stream_item(item)
                p.xadd(events_key(sid), {"json": line})
                add_to_feed(p, hook_item_entry(sid, item, line))
            if fields:
                p.hset(session_key(sid), mapping=_flat(fields))
            return list(await p.execute())

    async def append_item(self, sid: str, item: Mapping[str, Any]) -> str:
        """One item at the end of a session's stream, for a writer without an outbox (a reviewer, also
        after the session ended and its outbox is gone); returns its entry id. XADD orders it after
        everything already written. A stream this creates gets the session hash's expiry, so an ended
        session's retention still covers it."""
        line = _stream_item(item)
        async with self.redis.pipeline(transaction=True) as p:
            p.xadd(events_key(sid), {"json": line})
            add_to_feed(p, hook_item_entry(sid, item, line))
            p.ttl(session_key(sid))
            p.ttl(events_key(sid))
            entry_id, *_, session_ttl, stream_ttl = await p.execute()
        if session_ttl > 0 and stream_ttl < 0:
            await self.redis.expire(events_key(sid), session_ttl)
        return str(entry_id)

    async def events(self, sid: str) -> list[dict[str, Any]]:
        rows = await self.redis.xrange(events_key(sid))
        out = []
        for entry_id, fields in rows:
            item = json.loads(fields["json"])
            item["id"] = entry_id
            out.append(item)
        return out

    async def events_after(self, sid: str, after: str | None, count: int) -> list[dict[str, Any]]:
        """Up to `count` stream items after entry id `after` (from the first when None), oldest first,
        each with its `id`."""
        rows = await self.redis.xrange(events_key(sid), min=f"({after}" if after else "-", count=count)
        return [{**json.loads(fields["json"]), "id": entry_id} for entry_id, fields in rows]

    async def last_events(self, sids: Iterable[str], count: int) -> list[list[dict[str, Any]]]:
        """The last `count` stream items of each session (oldest first), without their ids."""
        async with self.redis.pipeline(transaction=False) as p:
            for sid in sids:
                p.xrevrange(events_key(sid), count=count)
            rows = await p.execute()
        return [[json.loads(fields["json"]) for _, fields in reversed(entries)] for entries in rows]

    # -- workers -------------------------------------------------------------------------------
    async def forget_worker(self, worker_id: str) -> None:
        """A worker stopping cleanly ends its beat now: others stop routing to it at once instead of
        after the beat expires, and reap what it held as they do for any dead worker."""
        await self.redis.delete(worker_key(worker_id))

    async def heartbeat(self, worker_id: str, *, sessions: int, capacity: int, url: str, now: float) -> None:
        async with self.redis.pipeline(transaction=False) as p:
            p.hset(worker_key(worker_id), mapping={"sessions": sessions, "capacity": capacity, "beat": now, "url": url})
            p.expire(worker_key(worker_id), WORKER_TTL_S)
            p.sadd(WORKERS, worker_id)
            await p.execute()

    async def workers(self) -> dict[str, dict[str, str]]:
        """Live workers (those whose heartbeat key has not expired), by id."""
        ids = sorted(await self.redis.smembers(WORKERS))
        if not ids:
            return {}
        async with self.redis.pipeline(transaction=False) as p:
            for wid in ids:
                p.hgetall(worker_key(wid))
            rows = await p.execute()
        return {wid: row for wid, row in zip(ids, rows, strict=True) if row}

    async def dead_workers(self) -> list[str]:
        ids = await self.redis.smembers(WORKERS)
        alive = await self.workers()
        return sorted(set(ids) - set(alive))

    async def claim_session(self, worker_id: str, sid: str) -> None:
        await self.redis.sadd(worker_sessions_key(worker_id), sid)

    async def release_session(self, worker_id: str, sid: str) -> None:
        await self.redis.srem(worker_sessions_key(worker_id), sid)

    async def reap_worker(self, worker_id: str, now: float) -> list[str]:
        """Mark a dead worker's sessions disconnected; returns them. Safe to run on several workers."""
        key = worker_sessions_key(worker_id)
        sids = sorted(await self.redis.smembers(key))
        for sid in sids:
            data = await self.session(sid)
            if data and data.get("worker") == worker_id and data.get("status") in ("connecting", "live"):
                await self.update_session(sid, {"status": "disconnected", "disconnected_at": now,
                                                "disconnect_reason": f"worker {worker_id} stopped"})
                await self.set_live(sid, False)
        async with self.redis.pipeline(transaction=False) as p:
            p.delete(key)
            p.srem(WORKERS, worker_id)
            await p.execute()
        return sids

    async def publish(self, message: Mapping[str, Any]) -> None:
        await self.redis.publish(LIVE_CHANNEL, dumps(message))

    async def subscribe_live(self) -> PubSub:
        """A new subscription to the live fan-out channel; the caller closes it (`aclose()`)."""
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(LIVE_CHANNEL)
        except BaseException:
            await pubsub.aclose()
            raise
        return pubsub
