"""The store: the one module that owns every Redis key Vigil writes, and its lifetime.

| key (prefix `vigil:`)               | type   | owner            | lifetime |
|-------------------------------------|--------|------------------|----------|
| `session:{<sid>}`                   | hash   | the session's worker | kept `RETENTION_S` after the session ends |
| `session:{<sid>}:events`            | stream | the session's worker | same; the source of truth for reports |
| `sessions:live`                     | set    | every worker     | a member while a session is connected |
| `sessions:all`                      | zset   | every worker     | session ids by creation time, until deleted |
| `channel:live` (pub/sub)            | channel| every worker     | live fan-out of analyses and events to dashboards |
| `worker:{id}`                       | hash   | that worker      | heartbeat with load and internal URL; expires `WORKER_TTL_S` after the last beat |
| `workers`                           | set    | every worker     | worker ids ever seen; dead ones are reaped by the living |
| `worker:{id}:sessions`              | set    | that worker      | sessions whose peer it holds; emptied when it is reaped |
| `exam:{id}`, `joincode:{code}`      | hash, string | exam owners | until deleted |
| `calibration:{candidate_id}`        | string (JSON) | server.live.calibration | the candidate's latest gaze calibration; `RETENTION_S` from its last write |
| `screen:{candidate_id}`             | string (JSON) | routes_calibration | the candidate's screen geometry; `RETENTION_S` from its last write |

Hash tags (`{<sid>}`) keep one session's keys in one Redis Cluster slot.
Event writes go through `EventOutbox`: they are queued in order and retried while Redis is away,
so an outage delays events but never loses or reorders them.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

PREFIX = "vigil:"
LIVE_SET = PREFIX + "sessions:live"
ALL_SESSIONS = PREFIX + "sessions:all"
LIVE_CHANNEL = PREFIX + "channel:live"
#: how long an ended session's data stays (overridden per exam by the policy's retention).
RETENTION_S = 30 * 24 * 3600
#: a worker that misses heartbeats (one a second) this long is considered dead.
WORKER_TTL_S = 4
WORKERS = PREFIX + "workers"


def session_key(sid: str) -> str:
    return f"{PREFIX}session:{{{sid}}}"


def events_key(sid: str) -> str:
    return f"{PREFIX}session:{{{sid}}}:events"


def worker_key(worker_id: str) -> str:
    return f"{PREFIX}worker:{worker_id}"


def calibration_key(candidate_id: str) -> str:
    return f"{PREFIX}calibration:{candidate_id}"


def screen_key(candidate_id: str) -> str:
    return f"{PREFIX}screen:{candidate_id}"


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
            await p.execute()

    async def session(self, sid: str) -> dict[str, str] | None:
        data = await self.redis.hgetall(session_key(sid))
        return data or None

    async def update_session(self, sid: str, fields: Mapping[str, Any]) -> None:
        await self.redis.hset(session_key(sid), mapping=_flat(fields))

    # -- per-candidate documents (calibration, screen geometry) --------------------------------
    async def put_json(self, key: str, doc: Mapping[str, Any]) -> None:
        await self.redis.set(key, json.dumps(doc, separators=(",", ":")), ex=RETENTION_S)

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
            p.expire(session_key(sid), seconds)
            p.expire(events_key(sid), seconds)
            await p.execute()

    # -- events ---------------------------------------------------------------------------
    async def append_events(self, sid: str, items: Iterable[Mapping[str, Any]],
                            fields: Mapping[str, Any] | None = None) -> list[str]:
        """Append to the stream and (atomically, same transaction) update the session hash."""
        async with self.redis.pipeline(transaction=True) as p:
            for item in items:
                p.xadd(events_key(sid), {"json": json.dumps(item, separators=(",", ":"))})
            if fields:
                p.hset(session_key(sid), mapping=_flat(fields))
            return list(await p.execute())

    async def events(self, sid: str) -> list[dict[str, Any]]:
        rows = await self.redis.xrange(events_key(sid))
        out = []
        for entry_id, fields in rows:
            item = json.loads(fields["json"])
            item["id"] = entry_id
            out.append(item)
        return out

    # -- workers -------------------------------------------------------------------------------
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
        return {wid: row for wid, row in zip(ids, rows) if row}

    async def dead_workers(self) -> list[str]:
        ids = await self.redis.smembers(WORKERS)
        alive = await self.workers()
        return sorted(set(ids) - set(alive))

    async def claim_session(self, worker_id: str, sid: str) -> None:
        await self.redis.sadd(f"{worker_key(worker_id)}:sessions", sid)

    async def release_session(self, worker_id: str, sid: str) -> None:
        await self.redis.srem(f"{worker_key(worker_id)}:sessions", sid)

    async def reap_worker(self, worker_id: str, now: float) -> list[str]:
        """Mark a dead worker's sessions disconnected; returns them. Safe to run on several workers."""
        key = f"{worker_key(worker_id)}:sessions"
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
        await self.redis.publish(LIVE_CHANNEL, json.dumps(message, separators=(",", ":")))


class EventOutbox:
    """Ordered, lossless writes of one session's events to its stream.

    `put` never blocks and never fails; a background task drains the queue in order. While Redis
    is unreachable the task retries with backoff, keeping every item; when Redis returns the
    backlog is written in the original order. `flush()` waits until everything queued is written.
    """

    RETRY_MIN_S = 0.2
    RETRY_MAX_S = 2.0

    def __init__(self, store: Store, sid: str,
                 state: Callable[[], Mapping[str, Any]] | None = None) -> None:
        self.store = store
        self.sid = sid
        #: session fields written with every batch (the risk engine's snapshot), so the state a
        #: resumed session restores is never older than the events already in the stream
        self.state = state
        self._queue: deque[Mapping[str, Any]] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.retries = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"outbox-{self.sid}")

    def put(self, item: Mapping[str, Any]) -> None:
        self._queue.append(item)
        self._idle.clear()
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def flush(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def close(self, timeout: float = 5.0) -> None:
        await self.flush(timeout)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        delay = self.RETRY_MIN_S
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = list(self._queue)[:100]
            try:
                await self.store.append_events(self.sid, batch, self.state() if self.state else None)
            except (RedisConnectionError, RedisTimeoutError, OSError, RedisError) as exc:
                self.retries += 1
                self.store.errors += 1
                log.warning("event write failed, will retry", extra={"session_id": self.sid, "error": str(exc),
                                                                     "pending": len(self._queue)})
                await asyncio.sleep(delay)
                delay = min(self.RETRY_MAX_S, delay * 2)
                continue
            delay = self.RETRY_MIN_S
            for _ in batch:
                self._queue.popleft()
            self.written += len(batch)
