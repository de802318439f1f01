"""Cursor pagination of list answers (`next`, docs/http-api.md "Pages"): one scan for every list.

Read the source in steps after the cursor, keep what the caller may see (and what the filter asks
for), and stop when the page is full, the source ends, or the scan budget of one request is spent.
The position handed back is that of the last entry read, so a page cut short by the budget (a
proctor who sees few of many sessions, a `kind` filter over hours of `score` items) still says where
to go on: it is None only when the source has nothing more.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

P = TypeVar("P")  # a position in the source
R = TypeVar("R")  # what the source holds
T = TypeVar("T")  # what the page holds


async def scan_page(read: Callable[[P | None, int], Awaitable[Sequence[tuple[P, R]]]],
                    keep: Callable[[Sequence[R]], Awaitable[Sequence[T | None]]],
                    after: P | None, *, limit: int, step: int, budget: int) -> tuple[list[T], P | None]:
    """Up to `limit` kept entries after `after`, and the position to go on from (None at the end).
    `read(after, n)` gives up to n (position, entry) in order; `keep` maps a step's entries to what the
    page holds, None for those it leaves out; at most `budget` entries are read."""
    out: list[T] = []
    scanned = 0
    while True:
        rows = await read(after, step)
        kept = await keep([entry for _, entry in rows])
        for (position, _), item in zip(rows, kept, strict=True):
            after = position
            if item is not None:
                out.append(item)
                if len(out) == limit:
                    return out, position
        scanned += len(rows)
        if len(rows) < step:
            return out, None
        if scanned >= budget:
            return out, after
