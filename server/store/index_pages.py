"""Keyset pages of a newest-first index: a sorted set of ids scored by creation time.

A page starts after a position (the score and id of the last entry the caller saw), not at a rank, so
entries added while a client pages (new sessions arrive all the time) neither shift nor repeat what it
reads next. Entries of one score come in reverse lexical order (ZREVRANGE's tie order); a position names
both, so ties are never skipped.
"""
from __future__ import annotations

from typing import Any

#: (score, id) of the last entry a page held; the next page starts after it
Position = tuple[float, str]


async def newest_after(redis: Any, index: str, after: Position | None, count: int) -> list[tuple[str, float]]:
    """Up to `count` (id, score) of `index`, newest first, after `after` (from the newest when None)."""
    if after is None:
        return [(m, float(s)) for m, s in await redis.zrevrange(index, 0, count - 1, withscores=True)]
    score, member = after
    async with redis.pipeline(transaction=False) as p:
        p.zrevrangebyscore(index, score, score, withscores=True)  # the position's ties (usually none)
        p.zrevrangebyscore(index, f"({score!r}", "-inf", start=0, num=count, withscores=True)
        ties, older = await p.execute()
    rows = [(m, float(s)) for m, s in ties if m < member] + [(m, float(s)) for m, s in older]
    return rows[:count]
